"""CLIP edits as a method: a text prompt, or an exemplar image, through the run's CLIP.

A run asks for it with ``--prompt`` or ``--exemplar`` (not ``--method``): it edits the
head as well as whatever the run's method does with its style images. With vertex
offsets on, the shape moves too, under the normal-consistency penalty.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from backend.errors import BackendError
from backend.methods.base import MethodContext, Progress, StyleSource
from backend.methods.clip.edit import SHAPE_BENDING_WEIGHT, ClipEdit, ClipEditResult, clip_edit
from backend.methods.hybrid.method import shared_optimizer
from backend.methods.hybrid.settings import StylizeSettings


class ClipMethod:
    """The texture (and with vertex offsets the shape) optimized towards CLIP's target."""

    name: ClassVar[str] = "clip"
    needs_clip: ClassVar[bool] = True

    def __init__(self, context: MethodContext, config: StylizeSettings | None = None):
        if context.clip is None:
            raise BackendError("the clip method needs CLIP's weights (--clip-weights DIR)")
        settings = config or context.settings
        if settings.vertex_offsets:
            settings = replace(settings, bending_weight=SHAPE_BENDING_WEIGHT)
        self.context = context
        self.optimizer = shared_optimizer(context, settings)

    def stylize(
        self,
        name: str,
        style: StyleSource,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> ClipEditResult:
        """Edit towards a prompt (``style`` a text) or an exemplar (``style`` an image)."""
        clip = self.context.clip
        assert clip is not None
        if isinstance(style, str):
            edit = ClipEdit(name, clip, prompt=style)
        else:
            edit = ClipEdit(name, clip, exemplar=style)
        return clip_edit(self.optimizer, edit, progress, evaluate)
