"""One head's yardsticks, the same for every method: the judge on the held-out cameras and
the consistency arc, each with the unstylized head's figures as the baseline.

A method whose result is a texture is measured through its renders; one whose result is
images (a 2D network's, a NeRF's) hands in its images of the judge's cameras and of the
arc, and the arc's images are warped through the mesh's surface points like a texture's
renders: one yardstick for every method.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from backend.captures import Capture
from backend.mesh.textured import TexturedMesh
from backend.style.judge import Judge
from backend.views.consistency import (
    SUPERSAMPLE,
    Consistency,
    arc_consistency,
    consistency_arc,
    frames_consistency,
)
from backend.views.judging import HeldoutJudge, JudgeFigures
from backend.views.render import Frame, MeshTensors, SupersampledViews


@dataclass(frozen=True)
class Evaluation:
    """What the independent judge and the consistency measure say of a result, with the
    unstylized head's consistency as its baseline."""

    judge: JudgeFigures
    consistency: Consistency
    unstylized: Consistency

    def summary(self) -> dict[str, object]:
        return {
            **self.judge.summary(),
            **self.consistency.summary(),
            **self.unstylized.summary("_unstylized"),
        }


class HeadMeasures:
    """The judge's held-out renders and the consistency arc (``arc_size`` px) of one
    textured head, made once and shared by every method and style of a run."""

    def __init__(
        self,
        mesh: TexturedMesh,
        capture: Capture,
        judge: Judge,
        rasterizer,
        device: torch.device,
        arc_size: int,
    ):
        self.mesh, self.capture, self.judge = mesh, capture, judge
        self.rasterizer, self.device = rasterizer, device
        self.tensors = MeshTensors.of(mesh, device)
        self.original = torch.tensor(mesh.texture, device=device)
        self.heldout = HeldoutJudge(judge, rasterizer, self.tensors, self.original, capture)
        self.arc = consistency_arc(capture, arc_size)
        self._arc_views = SupersampledViews(rasterizer, self.tensors, self.arc, SUPERSAMPLE)
        self._arc_frames: list[Frame] | None = None
        self._unstylized: Consistency | None = None

    @torch.no_grad()
    def consistency(self, texture: torch.Tensor, tensors: MeshTensors | None = None) -> Consistency:
        """Warp RMSE and LPIPS between views 10 degrees apart (short) and 60 apart (long),
        on ``tensors`` where the geometry moved."""
        if tensors is not None:
            return arc_consistency(self.rasterizer, tensors, texture, self.arc, self.judge)
        return frames_consistency(self._arc_views.frames(texture), self.arc, self.judge)

    @torch.no_grad()
    def evaluate(
        self, texture: torch.Tensor, style: np.ndarray | None, tensors: MeshTensors | None = None
    ) -> Evaluation:
        """The judge's figures and the consistency of a texture (on ``tensors`` when the
        geometry moved), with the unstylized head's consistency."""
        return Evaluation(
            self.heldout.evaluate(texture, style, tensors),
            self.consistency(texture, tensors),
            self.unstylized_consistency(),
        )

    @torch.no_grad()
    def evaluate_images(
        self, judge_images: torch.Tensor, arc_images: list[torch.Tensor], style: np.ndarray
    ) -> Evaluation:
        """Judge figures of ``judge_images`` (V, H, W, 3) and the consistency of
        ``arc_images`` (one (H, W, 3) per arc camera), beside the unstylized head's."""
        judge = self.heldout.evaluate_images(judge_images.to(self.judge.device), style)
        frames = [
            replace(frame, image=image.to(frame.image.device))
            for frame, image in zip(self.arc_frames(), arc_images, strict=True)
        ]
        consistency = frames_consistency(frames, self.arc, self.judge)
        return Evaluation(judge, consistency, self.unstylized_consistency())

    def unstylized_consistency(self) -> Consistency:
        """The unstylized head's consistency: every result's baseline (measured once)."""
        if self._unstylized is None:
            self._unstylized = frames_consistency(self.arc_frames(), self.arc, self.judge)
        return self._unstylized

    @torch.no_grad()
    def arc_frames(self) -> list[Frame]:
        """The unstylized head's supersampled renders of the consistency arc (made once):
        their surface points carry any other images of those views through the warps."""
        if self._arc_frames is None:
            self._arc_frames = self._arc_views.frames(self.original)
        return self._arc_frames
