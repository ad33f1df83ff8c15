"""Judge a stylized head from the capture's held-out cameras, beside the unstylized head.

The held-out cameras are views no optimization drew from. Each is rendered at
``JUDGE_SIZE`` px along its long side with 2 x 2 samples per pixel (a production
renderer's antialiasing), and only the head's pixels count. The unstylized head's
renders and their feature statistics are made once and give every figure its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backend.captures import Camera, Capture
from backend.style.judge import Judge, StyleFigures
from backend.views.render import MeshTensors, SupersampledViews, render

JUDGE_SIZE = 256
JUDGE_SUPERSAMPLE = 2
JUDGE_VIEWS = 8


@dataclass(frozen=True)
class JudgeFigures:
    """A result's judge figures and the unstylized head's against the same style (None
    for a text target: there is no style image to compare with, only the content)."""

    stylized: StyleFigures | None
    unstylized: StyleFigures | None
    content_lpips: float

    def summary(self) -> dict[str, float]:
        ours, base = self.stylized, self.unstylized
        if ours is None or base is None:
            return {"content_lpips": round(self.content_lpips, 4)}
        return {
            "judge_meanstd_distance": round(ours.meanstd_distance, 4),
            "judge_meanstd_distance_unstylized": round(base.meanstd_distance, 4),
            "judge_meanstd_gain": round(1.0 - ours.meanstd_distance / base.meanstd_distance, 4),
            "judge_cov_cosine": round(ours.cov_cosine, 4),
            "judge_cov_cosine_unstylized": round(base.cov_cosine, 4),
            "judge_cov_cosine_ratio": round(ours.cov_cosine / max(base.cov_cosine, 1e-6), 3),
            "content_lpips": round(self.content_lpips, 4),
        }


def judge_cameras(capture: Capture, size: int = JUDGE_SIZE) -> list[Camera]:
    """The held-out cameras (else every 8th training one) at ``size`` px, long side."""
    frames = capture.heldout or capture.train[::8]
    return [
        Camera(frame.camera.intrinsics.with_long_side(size), frame.camera.c2w)
        for frame in frames[:JUDGE_VIEWS]
    ]


class HeldoutJudge:
    """The judge over one head's held-out renders, with the unstylized baseline."""

    def __init__(
        self,
        judge: Judge,
        rasterizer,
        mesh: MeshTensors,
        original: torch.Tensor,
        capture: Capture,
    ):
        self.judge, self.rasterizer, self.mesh = judge, rasterizer, mesh
        self.cameras = judge_cameras(capture)
        self.views = SupersampledViews(rasterizer, mesh, self.cameras, JUDGE_SUPERSAMPLE)
        self.original_images, self.masks = self.renders(original)
        self.original_statistics = judge.statistics(self.original_images, self.masks)

    @torch.no_grad()
    def renders(
        self, texture: torch.Tensor, mesh: MeshTensors | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (V, H, W, 3) and head masks (V, H, W) on the judge's device."""
        if mesh is None:
            frames = self.views.frames(texture)
        else:
            frames = [
                render(self.rasterizer, mesh, texture, c, JUDGE_SUPERSAMPLE) for c in self.cameras
            ]
        device = self.judge.device
        images = torch.stack([f.image for f in frames]).to(device)
        return images, torch.stack([f.coverage for f in frames]).to(device)

    @torch.no_grad()
    def evaluate(
        self, texture: torch.Tensor, style: np.ndarray | None, mesh: MeshTensors | None = None
    ) -> JudgeFigures:
        """Figures of ``texture`` (on ``mesh`` when the geometry moved) for ``style``
        (None: content only)."""
        images, masks = self.renders(texture, mesh)
        return self.evaluate_images(images, style, masks)

    @torch.no_grad()
    def evaluate_images(
        self, images: torch.Tensor, style: np.ndarray | None, masks: torch.Tensor | None = None
    ) -> JudgeFigures:
        """Figures of any images (V, H, W, 3) of the judge's cameras: a 2D network's or a
        NeRF's, over the head's pixels ``masks`` (default: the unstylized head's)."""
        masks = self.masks if masks is None else masks
        content = self.judge.perceptual_distance(images, self.original_images, masks * self.masks)
        if style is None:
            return JudgeFigures(None, None, content)
        target = self.judge.style_statistics(torch.tensor(style, device=self.judge.device))
        return JudgeFigures(
            self.judge.compare(self.judge.statistics(images, masks), target),
            self.judge.compare(self.original_statistics, target),
            content,
        )
