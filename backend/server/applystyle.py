"""Applying a new style to a finished job through its colour net, inside the server.

This is a forward pass of a small network (about a second), so it runs in the server's
own thread pool and never waits behind training in the worker. Loaded colour nets are
kept for the last few jobs so a client sliding a mix control does not reload them.

A prompt goes through CLIP and the job's CLIP mapper (trained on the first prompt and
saved in the job's folder, as ``apply-style --prompt`` does). CLIP is loaded once per
service, on the first prompt: a failure is not kept, so weights put in place later work
without a restart.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.errors import BackendError
from backend.fast.apply import StyleApplier
from backend.fast.clip_mapper import ClipMapper
from backend.fast.colornet import StyleCode
from backend.fast.mapper_training import mapped_code, run_mapper
from backend.files import write_png
from backend.mesh.glb import write_glb
from backend.methods.clip.edit import ClipEdit
from backend.pretrained.clip import Clip, load_clip
from backend.server.uploads import UploadError

CACHED_APPLIERS = 2
FORMATS = {"glb": "model/gltf-binary", "png": "image/png"}


@dataclass(frozen=True)
class ApplyRequest:
    """A checked apply-style request: images RGB float (H, W, 3) in [0, 1]; a style
    image or (``image`` None) a checked prompt."""

    name: str
    image: np.ndarray | None
    mix: np.ndarray | None
    t: float
    strength: float
    format: str
    prompt: str | None = None


@dataclass(frozen=True)
class Applied:
    content: bytes
    media_type: str
    filename: str


@dataclass
class _Loaded:
    """A job's colour net, and its CLIP mapper once a prompt needed it."""

    applier: StyleApplier
    mapper: ClipMapper | None = None


class StyleApplyService:
    """Loads colour nets on demand, and CLIP on the first prompt."""

    def __init__(self, offline: bool = False, clip_weights: Path | None = None) -> None:
        self._offline = offline
        self._clip_weights = clip_weights
        self._clip: Clip | None = None
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()

    def apply(self, job_id: str, run_dir: Path, request: ApplyRequest) -> Applied:
        with self._lock:
            clip = self._load_clip() if request.prompt is not None else None
            loaded = self._job(job_id, run_dir)
            try:
                code = self._code(loaded, run_dir, request, clip)
                if request.mix is not None:
                    code = code.mix(loaded.applier.code(request.mix), request.t)
                textured = loaded.applier.apply_code(code, request.strength)
            except BackendError as exc:
                raise UploadError(f"apply-style: {exc}") from exc
        return _encode(textured, request, loaded.applier, clip)

    def _code(
        self, loaded: _Loaded, run_dir: Path, request: ApplyRequest, clip: Clip | None
    ) -> StyleCode:
        """The style image's code, or the prompt's through the job's CLIP mapper."""
        if clip is None:
            return loaded.applier.code(request.image)
        if loaded.mapper is None:
            loaded.mapper = run_mapper(run_dir, loaded.applier, clip, {}).mapper
        edit = ClipEdit(request.name, clip, request.prompt)
        return mapped_code(loaded.mapper, clip, edit.prompt, edit.exemplar).code

    def _load_clip(self) -> Clip:
        """The service's CLIP; without weights, a 409 whose line says how to get them."""
        if self._clip is None:
            try:
                self._clip = load_clip(self._clip_weights, download=not self._offline)
            except BackendError as exc:
                raise UploadError(f"apply-style: {exc}", 409) from exc
        return self._clip

    def _job(self, job_id: str, run_dir: Path) -> _Loaded:
        if job_id in self._loaded:
            self._loaded.move_to_end(job_id)
            return self._loaded[job_id]
        try:
            applier = StyleApplier.load(run_dir, download=not self._offline)
        except BackendError as exc:
            raise UploadError(f"apply-style: cannot load the job's colour net: {exc}", 409) from exc
        self._loaded[job_id] = _Loaded(applier)
        while len(self._loaded) > CACHED_APPLIERS:
            self._loaded.popitem(last=False)
        return self._loaded[job_id]


def _encode(textured, request: ApplyRequest, applier: StyleApplier, clip: Clip | None) -> Applied:
    """The result as GLB (the textured head, written as the run wrote its own) or PNG
    (its texture alone)."""
    with tempfile.TemporaryDirectory(prefix="apply-") as tmp:
        path = Path(tmp) / f"styled.{request.format}"
        if request.format == "png":
            write_png(path, textured.texture)
        else:
            write_glb(textured, path, _extras(request, applier, clip), applier.export)
        content = path.read_bytes()
    filename = f"styled_{request.name}.{request.format}"
    return Applied(content, FORMATS[request.format], filename)


def _extras(request: ApplyRequest, applier: StyleApplier, clip: Clip | None) -> dict[str, object]:
    """What the GLB says it is: the style, and for a prompt the CLIP that read it."""
    weights = applier.weights_record()
    if clip is None:
        return {"style": request.name, "colornet": True, "weights": weights}
    return {
        "style": request.name,
        "colornet": True,
        "weights": {**weights, "clip": clip.provenance.to_dict()},
        "clip": {"prompt": request.prompt},
    }
