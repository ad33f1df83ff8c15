"""``--method mutual``: StylizedNeRF's mutual learning on the run's field, its result
baked onto the stage-2 mesh like the others, with a turntable of the stylized NeRF."""

from __future__ import annotations

import time
from typing import ClassVar

from backend.errors import BackendError
from backend.methods.base import MethodContext, MethodResult, Progress, StyleSource, style_image
from backend.methods.field_results import FieldStyled, field_result
from backend.methods.mutual.learner import MutualConfig, MutualLearner


class Mutual:
    """``--method mutual``."""

    name: ClassVar[str] = "mutual"
    needs_clip: ClassVar[bool] = False

    def __init__(self, context: MethodContext, config: MutualConfig | None = None):
        if context.nerf is None:
            raise BackendError("mutual learning needs the stage-1 field")
        self.context = context
        self.config = config or MutualConfig()

    def stylize(
        self,
        name: str,
        style: StyleSource,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> MethodResult:
        started = time.perf_counter()
        ctx, style = self.context, style_image(self.name, style)
        learner = MutualLearner(ctx.nerf, ctx.capture, ctx.network, [style], self.config)
        history = learner.learn(progress)
        details = {
            "rounds": self.config.rounds,
            "mimic_loss": [round(h["mimic"], 5) for h in history],
            "stylizer_disagreement": [round(h["consistency"], 5) for h in history],
        }
        styled = FieldStyled(name, self.name, learner.result(0), style, started, details)
        return field_result(ctx, styled, evaluate, with_turntable=True)
