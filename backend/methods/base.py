"""What every stylization method is given and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from backend.captures import Capture
from backend.mesh.textured import TexturedMesh
from backend.nerf.model import NerfModel
from backend.style.stylizer2d import Stylizer2D
from backend.stylize.texture import Evaluation, Progress, Stylizer


@dataclass
class MethodContext:
    """One run's head, field and measuring tools, shared by every method and style.

    ``stylizer`` is the hybrid method's optimizer; the others use its judge, its
    consistency arc and its unstylized renders, so that every method is measured the
    same way. The 2D network is loaded on first use (``download``: fetch it if absent).
    """

    mesh: TexturedMesh
    capture: Capture
    nerf: NerfModel | None
    stylizer: Stylizer
    device: torch.device
    download: bool = True
    _network: Stylizer2D | None = field(default=None, repr=False)

    @property
    def network(self) -> Stylizer2D:
        if self._network is None:
            self._network = Stylizer2D.load(self.device, self.download)
        return self._network

    def network_record(self) -> list[dict[str, str]]:
        """The 2D network's weights and where they came from, for the report."""
        return [p.to_dict() for p in self.network.provenance]


@dataclass(frozen=True)
class MethodResult:
    """A stylized head from a method other than hybrid, with its independent figures and
    the images of the judge's cameras they were measured on (None when not evaluated):
    a 2D network's or a NeRF's, which the baked texture only approximates; and, where
    the method made one, a turntable of its frames."""

    name: str
    method: str
    mesh: TexturedMesh
    evaluation: Evaluation | None
    seconds: float
    details: dict[str, object] = field(default_factory=dict)
    judge_images: torch.Tensor | None = None
    turntable: list[np.ndarray] | None = None

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
    """What a method gives back: the head to export and its report section."""

    mesh: TexturedMesh

    def summary(self) -> dict[str, object]: ...


class Method(Protocol):
    """A stylization method: one style image (H, W, 3) in [0, 1] to a stylized head
    (the hybrid method's :class:`Stylizer` is one as it is)."""

    def stylize(
        self,
        name: str,
        style: np.ndarray,
        progress: Progress | None = None,
        evaluate: bool = True,
    ) -> Stylized: ...
