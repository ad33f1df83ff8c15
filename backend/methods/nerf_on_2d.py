"""The NeRF-on-2D baseline: the stage-1 field's colour retrained on the capture's views
stylized one by one by the 2D network, density frozen (backend/nerf/recolour.py).

The field averages the views' disagreements, which blurs the strokes: the failure the
StylizedNeRF paper names. Its figures are the retrained field's own renders of the
judge's cameras and the consistency arc; for Blender the field's colour is baked onto
the stage-2 mesh as stage 2 bakes the unstylized field.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
import torch

from backend.captures import Frame
from backend.errors import BackendError
from backend.methods.base import MethodContext, MethodResult, Progress, StyleSource, style_image
from backend.methods.field_results import FieldStyled, field_result
from backend.methods.views2d import training_contents, with_images
from backend.nerf.recolour import RecolourConfig, recolour


class NerfOn2D:
    """``--method nerf-on-2d``."""

    name: ClassVar[str] = "nerf-on-2d"
    needs_clip: ClassVar[bool] = False

    def __init__(self, context: MethodContext, config: RecolourConfig | None = None):
        if context.nerf is None:
            raise BackendError("nerf-on-2d needs the stage-1 field")
        self.context = context
        self.config = config or RecolourConfig()

    def stylize(
        self,
        name: str,
        style: StyleSource,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> MethodResult:
        started = time.perf_counter()
        ctx, style = self.context, style_image(self.name, style)
        frames = self._stylized_frames(ctx.network.style_vector(style))
        model = recolour(ctx.nerf, frames, self.config, progress)
        details = {"recolour_steps": self.config.steps}
        styled = FieldStyled(name, self.name, model, style, started, details)
        return field_result(ctx, styled, evaluate)

    @torch.no_grad()
    def _stylized_frames(self, vector: torch.Tensor) -> list[Frame]:
        """The training views with their photos (over white) stylized one at a time;
        alpha, where the capture has it, stays."""
        network = self.context.network
        photos, masks = training_contents(self.context.capture, network.device)
        styled = [
            network(photo[None], vector, mask[None])[0].cpu().numpy()
            for photo, mask in zip(photos, masks, strict=True)
        ]
        return with_images(self.context.capture.train, np.stack(styled))
