"""A capture's views cut down to their central part: the same cameras and the same
pixels, only a tighter frame.

Moving the cameras closer (``capture-synth --framing``) makes the subject leave the frame
and also spreads it over more pixels; cutting the frame alone isolates the first effect,
which is the one a NeRF must not suffer from: the benchmark and the tests compare a field
trained on the cut views with one trained on the whole views, on the same cut pixels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backend.captures.capture import Capture
from backend.captures.frame import Frame
from backend.errors import CaptureError
from backend.files import write_json, write_png

SPLITS = (("train", "transforms_train.json"), ("test", "transforms_test.json"))


def write_cropped(capture: Capture, out: Path, share: float) -> Path:
    """Write ``capture`` with every view cut to its central ``share`` of each side to
    ``out`` (nerfstudio intrinsics in split files, PNG images, the true mesh if any)."""
    if not 0.0 < share <= 1.0:
        raise CaptureError(f"crop share must be in (0, 1], not {share}")
    out.mkdir(parents=True, exist_ok=True)
    for (split, name), frames in zip(SPLITS, (capture.train, capture.heldout), strict=True):
        entries = [
            _write_frame(frame, out, f"{split}/r_{i}.png", share) for i, frame in enumerate(frames)
        ]
        write_json(out / name, {"frames": entries})
    if capture.gt_mesh_path is not None:
        shutil.copyfile(capture.gt_mesh_path, out / capture.gt_mesh_path.name)
    return out


def _write_frame(frame: Frame, out: Path, relative: str, share: float) -> dict[str, object]:
    k = frame.camera.intrinsics
    if not k.distortion.is_identity:
        raise CaptureError(f"{frame.name}: cropping a view with lens distortion is not supported")
    width, height = round(frame.width * share), round(frame.height * share)
    left, top = (frame.width - width) // 2, (frame.height - height) // 2
    write_png(out / relative, frame.rgba[top : top + height, left : left + width])
    return {
        "file_path": relative,
        "transform_matrix": frame.camera.c2w.tolist(),
        "fl_x": k.fx,
        "fl_y": k.fy,
        "cx": k.cx - left,
        "cy": k.cy - top,
        "w": width,
        "h": height,
    }
