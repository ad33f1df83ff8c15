"""What the methods that end in a radiance field share: their colour baked onto the
stage-2 mesh, their figures from the field's own renders, and a turntable; put
together into their result by :func:`field_result`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from backend.methods.base import MethodContext, MethodResult
from backend.nerf.model import NerfModel
from backend.views.cameras import orbit_views
from backend.views.evaluation import Evaluation
from backend.views.judging import judge_cameras
from backend.views.projection import bake_field

TURNTABLE_FRAMES = 24
TURNTABLE_SIZE = 192


@dataclass(frozen=True)
class FieldStyled:
    """A method's stylized field for one style, with when its work started and the
    method's own report figures."""

    name: str
    method: str
    model: NerfModel
    style: np.ndarray
    started: float
    details: dict[str, object]


def field_result(
    context: MethodContext, styled: FieldStyled, evaluate: bool, with_turntable: bool = False
) -> MethodResult:
    """The result of a method that ends in a field: its colour baked onto the head, its
    figures (when ``evaluate``), the 2D network's provenance and, if asked, a turntable
    (not counted in the seconds)."""
    model = styled.model
    texture = bake_field(context.mesh, context.capture, model.field)
    evaluation, images = (
        field_evaluation(context, model, styled.style) if evaluate else (None, None)
    )
    seconds = time.perf_counter() - styled.started
    details = {**styled.details, "stylizer_2d": context.network_record()}
    return MethodResult(
        styled.name,
        styled.method,
        context.mesh.with_texture(texture),
        evaluation,
        seconds,
        details,
        images,
        turntable(context, model) if evaluate and with_turntable else None,
    )


def field_evaluation(
    context: MethodContext, model: NerfModel, style: np.ndarray
) -> tuple[Evaluation, torch.Tensor]:
    """The figures of the field's renders of the judge's cameras and the arc, and those
    judge images."""
    measures = context.measures
    judge_images = torch.stack(
        [torch.tensor(model.render(c)) for c in judge_cameras(context.capture)]
    )
    arc_images = [torch.tensor(model.render(c)) for c in measures.arc]
    return measures.evaluate_images(judge_images, arc_images, style), judge_images


def turntable(context: MethodContext, model: NerfModel) -> list[np.ndarray]:
    """Frames of a full turn around the head, rendered from the field."""
    cameras = orbit_views(context.capture, TURNTABLE_FRAMES, TURNTABLE_SIZE, 360.0 * 23 / 24)
    return [model.render(c) for c in cameras]
