"""Capture folders in the ``transforms.json`` convention, written from plain numbers (no bpy).

The bpy side (capture_export.py) reads cameras and images out of a scene; this module
turns Blender's camera model into pinhole intrinsics and writes the file the backend
reads (nerfstudio keys per frame, camera-to-world matrices with OpenGL camera axes,
which is what Blender's camera ``matrix_world`` already is).
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

Matrix4 = Sequence[Sequence[float]]
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


class CaptureExportError(Exception):
    """A scene that cannot be written as a capture, with the reason for the user."""


@dataclass(frozen=True)
class BlenderLens:
    """The camera data fields that decide Blender's projection."""

    lens_mm: float
    sensor_width: float
    sensor_height: float
    sensor_fit: str  # "AUTO" | "HORIZONTAL" | "VERTICAL"
    shift_x: float = 0.0
    shift_y: float = 0.0


@dataclass(frozen=True)
class CaptureFrame:
    """One view: image path relative to the capture root, pose and pixel intrinsics."""

    file_path: str
    c2w: list[list[float]]
    fl_x: float
    fl_y: float
    cx: float
    cy: float
    width: int
    height: int


def pinhole(lens: BlenderLens, width: int, height: int) -> tuple[float, float, float, float]:
    """(fl_x, fl_y, cx, cy) in pixels for an image of ``width`` x ``height`` (square pixels).

    Blender fits the sensor to the image's wider side under AUTO, else to the side named
    by the fit; lens shift is a fraction of that fitted side, +y up.
    """
    if width <= 0 or height <= 0:
        raise CaptureExportError(f"image size {width}x{height} is not usable")
    fit = lens.sensor_fit
    if fit == "AUTO":
        fit = "HORIZONTAL" if width >= height else "VERTICAL"
        sensor = lens.sensor_width
    else:
        sensor = lens.sensor_width if fit == "HORIZONTAL" else lens.sensor_height
    fitted = width if fit == "HORIZONTAL" else height
    focal = lens.lens_mm / sensor * fitted
    cx = width / 2.0 - lens.shift_x * fitted
    cy = height / 2.0 + lens.shift_y * fitted
    return focal, focal, cx, cy


def rigid(matrix: Matrix4) -> list[list[float]]:
    """A camera-to-world matrix with any object scale removed (the backend wants rigid poses)."""
    rows = [list(map(float, row)) for row in matrix]
    if len(rows) != 4 or any(len(r) != 4 for r in rows):
        raise CaptureExportError("camera matrix must be 4x4")
    columns = []
    for j in range(3):
        column = [rows[i][j] for i in range(3)]
        norm = math.sqrt(sum(c * c for c in column))
        if norm < 1e-12:
            raise CaptureExportError("camera has zero scale on one axis")
        columns.append([c / norm for c in column])
    out = [[columns[j][i] for j in range(3)] + [rows[i][3]] for i in range(3)]
    return [*out, [0.0, 0.0, 0.0, 1.0]]


def transforms_document(frames: Sequence[CaptureFrame]) -> dict[str, object]:
    """The transforms.json content: nerfstudio intrinsics per frame, PINHOLE model."""
    if not frames:
        raise CaptureExportError("the capture has no frames")
    return {
        "camera_model": "PINHOLE",
        "frames": [
            {
                "file_path": f.file_path,
                "transform_matrix": f.c2w,
                "fl_x": f.fl_x,
                "fl_y": f.fl_y,
                "cx": f.cx,
                "cy": f.cy,
                "w": f.width,
                "h": f.height,
            }
            for f in frames
        ],
    }


def write_transforms(root: Path, frames: Sequence[CaptureFrame]) -> Path:
    path = root / "transforms.json"
    path.write_text(json.dumps(transforms_document(frames), indent=2), encoding="utf-8")
    return path


def zip_capture(root: Path, dest: Path) -> Path:
    """Zip a capture folder with transforms*.json at the archive root (for remote backends)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path != dest:
                archive.write(path, path.relative_to(root).as_posix())
    return dest


def hemisphere_directions(count: int) -> list[tuple[float, float, float]]:
    """Unit directions from the object to the cameras: a Fibonacci spiral over the front.

    Front is -Y (Blender's front view); elevations stay within [-35, 65] degrees, as in
    the project's own capture renderer, so no view looks up the neck.
    """
    out = []
    for i in range(count):
        elevation = math.radians(-35.0 + 100.0 * (i + 0.5) / count)
        azimuth = math.radians(-85.0) + (i * GOLDEN_ANGLE) % math.radians(170.0)
        out.append(
            (
                math.cos(elevation) * math.sin(azimuth),
                -math.cos(elevation) * math.cos(azimuth),
                math.sin(elevation),
            )
        )
    return out


def fit_distance(radius: float, lens: BlenderLens) -> float:
    """Camera distance at which a sphere of ``radius`` fills most of a square frame."""
    half_fov = math.atan(lens.sensor_width / (2.0 * lens.lens_mm))
    return radius / math.sin(half_fov) * 0.8
