"""Parse ``transforms*.json`` files into frame specifications, validating every field.

One parser serves the three conventions of the NeRF family:

* NeRF-synthetic: ``camera_angle_x`` (and optionally ``camera_angle_y``), extension-less
  ``file_path``, RGBA images, split files ``transforms_{train,val,test}.json``;
* instant-ngp: the same plus ``aabb_scale``, ``scale`` and ``offset``, which place the
  scene in ngp's unit cube and so tell us the scene bound in world units;
* nerfstudio: ``fl_x``, ``fl_y``, ``cx``, ``cy``, ``w``, ``h``, ``camera_model`` and
  distortion, each global or per frame, and optional ``mask_path``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.captures.cameras import Distortion, Intrinsics
from backend.errors import CaptureError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".webp", ".bmp", ".tif")
SUPPORTED_MODELS = ("PINHOLE", "SIMPLE_PINHOLE", "OPENCV")
_RIGID_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Lens:
    """Intrinsics as written in the file; the image size may still be unknown."""

    fx: float | None
    fy: float | None
    cx: float | None
    cy: float | None
    width: int | None
    height: int | None
    angle_x: float | None
    angle_y: float | None
    distortion: Distortion

    def resolve(self, width: int, height: int, where: str) -> Intrinsics:
        """Intrinsics for an image of the given size, checked against what the file says."""
        if (self.width is not None and self.width != width) or (
            self.height is not None and self.height != height
        ):
            raise CaptureError(
                f"{where}: image is {width}x{height} but the intrinsics say "
                f"{self.width}x{self.height} (w, h)"
            )
        fx, fy = self.fx, self.fy
        if fx is None and self.angle_x is not None:
            fx = 0.5 * width / math.tan(0.5 * self.angle_x)
        if fy is None and self.angle_y is not None:
            fy = 0.5 * height / math.tan(0.5 * self.angle_y)
        fx = fx if fx is not None else fy
        fy = fy if fy is not None else fx
        if fx is None or fy is None:
            raise CaptureError(f"{where}: no focal length (camera_angle_x or fl_x/fl_y)")
        cx = self.cx if self.cx is not None else width / 2.0
        cy = self.cy if self.cy is not None else height / 2.0
        return Intrinsics(fx, fy, cx, cy, width, height, self.distortion)


@dataclass(frozen=True)
class FrameSpec:
    """One frame as the transforms file describes it, paths resolved and checked."""

    name: str
    where: str
    image_path: Path
    mask_path: Path | None
    c2w: np.ndarray
    lens: Lens


@dataclass(frozen=True)
class TransformsFile:
    """The frames of one transforms file and the scene bound it declares, if any."""

    path: Path
    frames: list[FrameSpec]
    convention: str
    world_aabb: tuple[np.ndarray, np.ndarray] | None


def read_transforms(path: Path, root: Path) -> TransformsFile:
    """Read and validate one transforms file whose paths must stay inside ``root``."""
    meta = _read_json(path)
    raw_frames = meta.get("frames")
    if not isinstance(raw_frames, list):
        raise CaptureError(f"{path}: 'frames' must be a list of frames")
    frames = [_frame_spec(meta, f, i, path, root) for i, f in enumerate(raw_frames)]
    return TransformsFile(path, frames, _convention(meta), _ngp_world_aabb(meta, path))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise CaptureError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaptureError(
            f"{path}: broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(meta, dict):
        raise CaptureError(f"{path}: the top level must be a JSON object")
    return meta


def _convention(meta: dict[str, Any]) -> str:
    frames = meta.get("frames") or [{}]
    first = frames[0] if isinstance(frames[0], dict) else {}
    if any(k in meta or k in first for k in ("fl_x", "fl_y", "camera_model")):
        return "nerfstudio"
    if any(k in meta for k in ("aabb_scale", "scale", "offset")):
        return "instant-ngp"
    return "nerf-synthetic"


def _frame_spec(meta: dict[str, Any], frame: Any, index: int, path: Path, root: Path) -> FrameSpec:
    where = f"{path.name} frame {index}"
    if not isinstance(frame, dict):
        raise CaptureError(f"{where}: each frame must be a JSON object")
    file_path = frame.get("file_path")
    if not isinstance(file_path, str) or not file_path:
        raise CaptureError(f"{where}: missing 'file_path'")
    where = f"{path.name} frame {index} ({file_path})"
    image_path = _find_image(path.parent, file_path, root, where)
    mask_value = frame.get("mask_path")
    mask_path = None
    if mask_value is not None:
        if not isinstance(mask_value, str):
            raise CaptureError(f"{where}: 'mask_path' must be a string")
        mask_path = _find_image(path.parent, mask_value, root, f"{where} mask")
    c2w = _rigid_matrix(frame.get("transform_matrix"), where)
    return FrameSpec(file_path, where, image_path, mask_path, c2w, _lens(meta, frame, where))


def _inside(candidate: Path, root: Path, written: str, where: str) -> Path:
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise CaptureError(f"{where}: path '{written}' escapes the capture folder {root}")
    return resolved


def _find_image(base: Path, written: str, root: Path, where: str) -> Path:
    """Resolve a frame's path, adding an image suffix when the file omits it (NeRF)."""
    candidate = _inside(base / written, root, written, where)
    if candidate.is_file():
        return candidate
    for suffix in IMAGE_SUFFIXES:
        with_suffix = _inside(base / (written + suffix), root, written, where)
        if with_suffix.is_file():
            return with_suffix
    raise CaptureError(f"{where}: image file not found at {candidate}")


def _rigid_matrix(value: Any, where: str) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CaptureError(f"{where}: 'transform_matrix' is not a matrix of numbers") from exc
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise CaptureError(f"{where}: 'transform_matrix' must be 4x4, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise CaptureError(f"{where}: 'transform_matrix' has NaN or infinite entries")
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=_RIGID_TOLERANCE):
        raise CaptureError(f"{where}: 'transform_matrix' last row must be [0, 0, 0, 1]")
    rot = m[:3, :3]
    ortho_error = np.abs(rot @ rot.T - np.eye(3)).max()
    if ortho_error > _RIGID_TOLERANCE or np.linalg.det(rot) <= 0:
        raise CaptureError(
            f"{where}: 'transform_matrix' is not a rigid camera pose "
            f"(rotation part off orthonormal by {ortho_error:.3g}, det {np.linalg.det(rot):.3g})"
        )
    return m


def _number(meta: dict[str, Any], frame: dict[str, Any], key: str, where: str) -> float | None:
    value = frame.get(key, meta.get(key))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaptureError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def _positive(meta: dict[str, Any], frame: dict[str, Any], key: str, where: str) -> float | None:
    value = _number(meta, frame, key, where)
    if value is not None and value <= 0:
        raise CaptureError(f"{where}: '{key}' must be positive, got {value}")
    return value


def _lens(meta: dict[str, Any], frame: dict[str, Any], where: str) -> Lens:
    model = frame.get("camera_model", meta.get("camera_model", "PINHOLE"))
    if model not in SUPPORTED_MODELS:
        raise CaptureError(
            f"{where}: camera_model '{model}' is not supported "
            f"(supported: {', '.join(SUPPORTED_MODELS)}); undistort the images first"
        )
    coeffs = {k: _number(meta, frame, k, where) or 0.0 for k in ("k1", "k2", "p1", "p2")}
    for extra in ("k3", "k4"):
        if _number(meta, frame, extra, where):
            raise CaptureError(
                f"{where}: distortion coefficient '{extra}' is not supported "
                "(OPENCV with k1, k2, p1, p2 only); undistort the images first"
            )
    if model != "OPENCV" and any(coeffs.values()):
        raise CaptureError(f"{where}: distortion coefficients given for camera_model '{model}'")
    width, height = _positive(meta, frame, "w", where), _positive(meta, frame, "h", where)
    return Lens(
        fx=_positive(meta, frame, "fl_x", where),
        fy=_positive(meta, frame, "fl_y", where),
        cx=_number(meta, frame, "cx", where),
        cy=_number(meta, frame, "cy", where),
        width=None if width is None else round(width),
        height=None if height is None else round(height),
        angle_x=_positive(meta, frame, "camera_angle_x", where),
        angle_y=_positive(meta, frame, "camera_angle_y", where),
        distortion=Distortion(**coeffs),
    )


def _ngp_world_aabb(meta: dict[str, Any], path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """World-space box of instant-ngp's scene cube, or None when the file has no ngp keys.

    instant-ngp maps a NeRF position p to ngp coordinates q = cycle(p * scale + offset)
    (the offset is added in NeRF axis order, then the axes are cycled) and renders the cube
    of side ``aabb_scale`` centred on (0.5, 0.5, 0.5). The cube is symmetric under the
    cycle, so inverting the affine part gives the box in the capture's units.
    """
    if not any(k in meta for k in ("aabb_scale", "scale", "offset")):
        return None
    where = path.name
    aabb_scale = _positive(meta, {}, "aabb_scale", where) or 1.0
    scale = _positive(meta, {}, "scale", where) or 0.33
    offset = np.asarray(meta.get("offset", [0.5, 0.5, 0.5]), dtype=np.float64)
    if offset.shape != (3,) or not np.all(np.isfinite(offset)):
        raise CaptureError(f"{where}: 'offset' must be three finite numbers")
    low = (0.5 - aabb_scale / 2.0 - offset) / scale
    high = (0.5 + aabb_scale / 2.0 - offset) / scale
    return low, high
