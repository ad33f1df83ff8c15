"""Applying a new style to a finished job through its colour net, inside the server.

This is a forward pass of a small network (about a second), so it runs in the server's
own thread pool and never waits behind training in the worker. Loaded colour nets are
kept for the last few jobs so a client sliding a mix control does not reload them.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from backend.errors import BackendError
from backend.files import write_png
from backend.mesh.glb import write_glb
from backend.server.uploads import UploadError

if TYPE_CHECKING:
    from backend.stylize.apply import StyleApplier

CACHED_APPLIERS = 2
FORMATS = {"glb": "model/gltf-binary", "png": "image/png"}


@dataclass(frozen=True)
class ApplyRequest:
    """A checked apply-style request: images RGB float (H, W, 3) in [0, 1]."""

    name: str
    image: np.ndarray
    mix: np.ndarray | None
    t: float
    strength: float
    format: str


@dataclass(frozen=True)
class Applied:
    content: bytes
    media_type: str
    filename: str


class StyleApplyService:
    """Loads colour nets on demand (lazily: the module lands later than the service)."""

    def __init__(self, offline: bool = False) -> None:
        self._offline = offline
        self._lock = threading.Lock()
        self._appliers: OrderedDict[str, object] = OrderedDict()

    def apply(self, job_id: str, run_dir: Path, request: ApplyRequest) -> Applied:
        with self._lock:
            applier = self._applier(job_id, run_dir)
            try:
                textured = applier.apply(
                    request.image, mix=request.mix, t=request.t, strength=request.strength
                )
            except BackendError as exc:
                raise UploadError(f"apply-style: {exc}") from exc
        return _encode(textured, request, applier)

    def _applier(self, job_id: str, run_dir: Path):
        if job_id in self._appliers:
            self._appliers.move_to_end(job_id)
            return self._appliers[job_id]
        try:
            from backend.stylize.apply import StyleApplier
        except ImportError as exc:
            raise UploadError(
                "apply-style: this backend build has no colour-net support yet "
                "(backend.stylize.apply is missing)",
                409,
            ) from exc
        try:
            applier = StyleApplier.load(run_dir, download=not self._offline)
        except BackendError as exc:
            raise UploadError(f"apply-style: cannot load the job's colour net: {exc}", 409) from exc
        self._appliers[job_id] = applier
        while len(self._appliers) > CACHED_APPLIERS:
            self._appliers.popitem(last=False)
        return applier


def _encode(textured, request: ApplyRequest, applier: StyleApplier) -> Applied:
    """The result as GLB (the textured head, written as the run wrote its own) or PNG
    (its texture alone)."""
    with tempfile.TemporaryDirectory(prefix="apply-") as tmp:
        path = Path(tmp) / f"styled.{request.format}"
        if request.format == "png":
            write_png(path, textured.texture)
        else:
            weights = applier.weights_record()
            extras = {"style": request.name, "colornet": True, "weights": weights}
            write_glb(textured, path, extras, applier.export)
        content = path.read_bytes()
    filename = f"styled_{request.name}.{request.format}"
    return Applied(content, FORMATS[request.format], filename)
