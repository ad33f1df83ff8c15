"""``--method hybrid`` (the default): the stage-2 texture optimization of the run's head."""

from __future__ import annotations

from typing import ClassVar

from backend.methods.base import MethodContext, Progress, StyleSource, style_image
from backend.methods.hybrid.optimizer import StyleResult, TextureOptimizer
from backend.methods.hybrid.settings import StylizeSettings


def shared_optimizer(
    context: MethodContext, settings: StylizeSettings | None = None
) -> TextureOptimizer:
    """The run's optimizer for ``settings`` (default: the run's), made once: its pool of
    rasterized views and their features serve every style and every method that
    optimizes the texture."""
    settings = settings or context.settings
    return context.shared(
        ("texture-optimizer", settings), lambda: TextureOptimizer(context, settings)
    )


class Hybrid:
    """The texture optimized through the mesh with VGG style losses, from many views."""

    name: ClassVar[str] = "hybrid"
    needs_clip: ClassVar[bool] = False

    def __init__(self, context: MethodContext, config: StylizeSettings | None = None):
        self.optimizer = shared_optimizer(context, config)

    def stylize(
        self,
        name: str,
        style: StyleSource,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> StyleResult:
        return self.optimizer.stylize(name, style_image(self.name, style), progress, evaluate)
