"""The per-view baseline: every view stylized on its own by the 2D network.

Its content is the unstylized head's render of each view (the same images the judge
compares against, and there are renders for views the capture has no photo of). Nothing
ties one view's strokes to another's, which is what its consistency figures show: this
is the inconsistent reference. For Blender the training views' results are projected
onto the stage-2 mesh (backend/views/projection.py), which averages their
disagreements away; the figures are the 2D images', not that texture's.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch

from backend.captures import Camera
from backend.mesh.visibility import spread_out
from backend.methods.base import MethodContext, MethodResult, Progress, StyleSource, style_image
from backend.style.colour import colour_transfer
from backend.views.evaluation import Evaluation
from backend.views.judging import JUDGE_SIZE
from backend.views.projection import project_views
from backend.views.render import render

BAKE_VIEWS = 12
BATCH = 4


class PerView:
    """``--method per-view``."""

    name: ClassVar[str] = "per-view"
    needs_clip: ClassVar[bool] = False

    def __init__(self, context: MethodContext, config: None = None):
        self.context = context

    @torch.no_grad()
    def stylize(
        self,
        name: str,
        style: StyleSource,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> MethodResult:
        started = time.perf_counter()
        ctx, style = self.context, style_image(self.name, style)
        vector = ctx.network.style_vector(style)
        cameras = self._bake_cameras()
        measures = ctx.measures
        frames = [
            render(measures.rasterizer, measures.tensors, measures.original, c) for c in cameras
        ]
        images = self._stylized([f.image for f in frames], [f.coverage for f in frames], vector)
        if progress is not None:
            progress(1, 2, 0.0)
        styled = [replace(f, image=i) for f, i in zip(frames, images, strict=True)]
        fallback = colour_transfer(ctx.mesh.texture, style)
        texture = project_views(ctx.mesh, styled, cameras, fallback)
        evaluation, images = self._evaluate(vector, style) if evaluate else (None, None)
        if progress is not None:
            progress(2, 2, 0.0)
        seconds = time.perf_counter() - started
        mesh = ctx.mesh.with_texture(texture)
        details = {"stylizer_2d": ctx.network_record()}
        return MethodResult(name, self.name, mesh, evaluation, seconds, details, images)

    def _bake_cameras(self) -> list[Camera]:
        """Up to ``BAKE_VIEWS`` training cameras, spread out, at the judge's size."""
        ctx = self.context
        centre = ctx.mesh.vertices.mean(axis=0)
        chosen = spread_out([f.camera for f in ctx.capture.train], centre, BAKE_VIEWS)
        return [Camera(c.intrinsics.with_long_side(JUDGE_SIZE), c.c2w) for c in chosen]

    def _stylized(
        self, images: list[torch.Tensor], masks: list[torch.Tensor], vector: torch.Tensor
    ) -> list[torch.Tensor]:
        """Each image stylized on its own (in small batches: one at a time is the point,
        batching only saves time)."""
        network, out = self.context.network, []
        device = network.device
        for start in range(0, len(images), BATCH):
            batch = torch.stack(images[start : start + BATCH]).to(device)
            mask = torch.stack(masks[start : start + BATCH]).to(device)
            out.extend(network(batch, vector, mask).cpu())
        return out

    def _evaluate(self, vector: torch.Tensor, style: np.ndarray) -> tuple[Evaluation, torch.Tensor]:
        measures = self.context.measures
        heldout = measures.heldout
        judge_images = self._stylized(
            list(heldout.original_images), list(heldout.masks.to(heldout.original_images)), vector
        )
        arc = measures.arc_frames()
        arc_images = self._stylized([f.image for f in arc], [f.coverage for f in arc], vector)
        images = torch.stack(judge_images)
        return measures.evaluate_images(images, arc_images, style), images
