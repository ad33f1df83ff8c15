"""What every stylization method is given and what it gives back.

A method is built from a :class:`MethodContext` (one run's head, field, networks and
yardsticks) and its own config, and turns a style (an image, or a text for the methods
that read one) into a :class:`Stylized` head with its report figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar

import numpy as np
import torch

from backend.captures import Capture
from backend.errors import BackendError
from backend.mesh.textured import TexturedMesh
from backend.methods.hybrid.settings import StylizeSettings
from backend.nerf.model import NerfModel
from backend.pretrained.clip import Clip
from backend.pretrained.networks import Backbone
from backend.style.judge import Judge
from backend.style.stylizer2d import Stylizer2D
from backend.views.evaluation import Evaluation, HeadMeasures

# A method's progress: steps done, steps in all, the current loss.
Progress = Callable[[int, int, float], None]
# What a method stylizes towards: a style image (H, W, 3) in [0, 1], or a text prompt.
StyleSource = np.ndarray | str

T = TypeVar("T")


@dataclass
class MethodContext:
    """One run's head, field and measuring tools, shared by every method and style.

    ``measures`` judge every method's results the same way; ``settings`` are the run's
    stage-2 optimization settings (the hybrid method's and CLIP's); ``clip`` is the CLIP
    a prompt or exemplar edit is scored by (None: no edit asked for). The 2D network is
    loaded on first use (``download``: fetch it if absent). Work that several methods
    would repeat (an optimizer's rasterized views) is made once through :meth:`shared`.
    """

    mesh: TexturedMesh
    capture: Capture
    nerf: NerfModel | None
    measures: HeadMeasures
    backbone: Backbone
    settings: StylizeSettings
    device: torch.device
    download: bool = True
    clip: Clip | None = None
    _network: Stylizer2D | None = field(default=None, repr=False)
    _shared: dict[object, object] = field(default_factory=dict, repr=False)

    @classmethod
    def create(
        cls,
        mesh: TexturedMesh,
        capture: Capture,
        nerf: NerfModel | None,
        backbone: Backbone,
        judge: Judge,
        rasterizer,
        settings: StylizeSettings,
        device: torch.device,
        download: bool = True,
        clip: Clip | None = None,
    ) -> MethodContext:
        """The context of a head, with its yardsticks made (the arc at the optimization's
        render size)."""
        measures = HeadMeasures(mesh, capture, judge, rasterizer, device, settings.render_size)
        return cls(mesh, capture, nerf, measures, backbone, settings, device, download, clip)

    @property
    def rasterizer(self):
        return self.measures.rasterizer

    @property
    def network(self) -> Stylizer2D:
        if self._network is None:
            self._network = Stylizer2D.load(self.device, self.download)
        return self._network

    def network_record(self) -> list[dict[str, str]]:
        """The 2D network's weights and where they came from, for the report."""
        return [p.to_dict() for p in self.network.provenance]

    def shared(self, key: object, build: Callable[[], T]) -> T:
        """The object stored under ``key``, built on first use."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]  # type: ignore[return-value]


@dataclass(frozen=True)
class MethodResult:
    """A stylized head from a method whose result is images or a field, with its
    independent figures and the images of the judge's cameras they were measured on
    (None when not evaluated): a 2D network's or a NeRF's, which the baked texture only
    approximates; and, where the method made one, a turntable of its frames."""

    name: str
    method: str
    mesh: TexturedMesh
    evaluation: Evaluation | None
    seconds: float
    details: dict[str, object] = field(default_factory=dict)
    judge_images: torch.Tensor | None = None
    turntable: list[np.ndarray] | None = None
    extras: dict[str, object] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "method": self.method,
            "seconds": round(self.seconds, 2),
            **self.details,
        }
        if self.evaluation is not None:
            out.update(self.evaluation.summary())
        return out


class Stylized(Protocol):
    """What a method gives back: the head to export, its report section, the images its
    figures were measured on where they are not the head's renders, a turntable where it
    made one, and GLB extras of its own (merged into the stage's)."""

    @property
    def mesh(self) -> TexturedMesh: ...

    @property
    def judge_images(self) -> torch.Tensor | None: ...

    @property
    def turntable(self) -> list[np.ndarray] | None: ...

    @property
    def extras(self) -> dict[str, object]: ...

    def summary(self) -> dict[str, object]: ...


class Method(Protocol):
    """A stylization method on one run's head. ``name`` is what the CLI, the service and
    the reports call it; ``needs_clip``: it scores by CLIP (and reads prompts)."""

    name: ClassVar[str]
    needs_clip: ClassVar[bool]

    def stylize(
        self,
        name: str,
        style: StyleSource,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> Stylized: ...


def style_image(method: str, style: StyleSource) -> np.ndarray:
    """``style`` as an image, for the methods that only read images."""
    if isinstance(style, str):
        raise BackendError(f"the {method} method stylizes by an image, not a text prompt")
    return style
