"""Every class of bad capture input is refused with a message naming file, frame, problem."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from backend.captures import load_capture
from backend.errors import CaptureError
from backend.nerf.config import NerfConfig
from backend.nerf.trainer import Trainer
from tests.helpers import read_json, write_json, write_synthetic_capture


def _edit_frame(index: int, **changes) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        meta = read_json(root / "transforms.json")
        meta["frames"][index].update(changes)
        write_json(root / "transforms.json", meta)

    return edit


def _edit_meta(**changes) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        meta = read_json(root / "transforms.json")
        meta.update(changes)
        write_json(root / "transforms.json", meta)

    return edit


def _matrix(index: int, change: Callable[[np.ndarray], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        meta = read_json(root / "transforms.json")
        m = np.array(meta["frames"][index]["transform_matrix"])
        change(m)
        meta["frames"][index]["transform_matrix"] = m.tolist()
        write_json(root / "transforms.json", meta)

    return edit


def _set_nan(m: np.ndarray) -> None:
    m[0, 3] = np.nan


def _scale(m: np.ndarray) -> None:
    m[:3, :3] *= 2.0


def _garbage_image(root: Path) -> None:
    (root / "train" / "r_2.png").write_bytes(b"\x89PNG not really")


def _missing_image(root: Path) -> None:
    (root / "train" / "r_1.png").unlink()


def _broken_json(root: Path) -> None:
    text = (root / "transforms.json").read_text()
    (root / "transforms.json").write_text(text[: len(text) // 2])


def _no_transforms(root: Path) -> None:
    (root / "transforms.json").unlink()


def _mask_size(root: Path) -> None:
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "mask.png")
    _edit_frame(0, mask_path="mask.png")(root)


CASES = {
    "missing image": (_missing_image, ["frame 1", "./train/r_1", "not found"]),
    "unreadable image": (_garbage_image, ["frame 2", "r_2.png", "cannot read image"]),
    "size disagrees": (_edit_meta(w=20, h=16), ["frame 1", "16x16", "20x16"]),
    "NaN pose": (_matrix(3, _set_nan), ["frame 3", "NaN"]),
    "non-rigid pose": (_matrix(1, _scale), ["frame 1", "not a rigid camera pose"]),
    "wrong matrix shape": (_edit_frame(0, transform_matrix=[[1, 0], [0, 1]]), ["4x4"]),
    "zero frames": (_edit_meta(frames=[]), ["transforms.json", "'frames' is empty"]),
    "escaping path": (_edit_frame(2, file_path="../../etc/passwd"), ["frame 2", "escapes"]),
    "absolute path": (_edit_frame(0, file_path="/etc/hostname"), ["frame 0", "escapes"]),
    "unknown camera model": (
        _edit_meta(camera_model="OPENCV_FISHEYE"),
        ["frame 0", "OPENCV_FISHEYE", "not supported"],
    ),
    "unsupported distortion": (
        _edit_meta(camera_model="OPENCV", k3=0.1),
        ["frame 0", "k3", "not supported"],
    ),
    "broken json": (_broken_json, ["transforms.json", "broken JSON at line"]),
    "no transforms": (_no_transforms, ["no transforms.json"]),
    "frames not a list": (_edit_meta(frames={"a": 1}), ["'frames' must be a list"]),
    "no file_path": (_edit_frame(1, file_path=None), ["frame 1", "missing 'file_path'"]),
    "bad focal": (_edit_meta(fl_x=-3.0), ["frame 0", "'fl_x' must be positive"]),
    "string focal": (_edit_meta(camera_angle_x="wide"), ["'camera_angle_x'", "finite number"]),
    "mask size": (_mask_size, ["frame 0", "mask", "8x8"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_capture_is_refused_with_a_clear_message(name: str, tmp_path: Path):
    edit, expected = CASES[name]
    root = write_synthetic_capture(tmp_path / "capture")
    edit(root)
    with pytest.raises(CaptureError) as caught:
        load_capture(root)
    message = str(caught.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_good_synthetic_capture_loads(tmp_path: Path):
    capture = load_capture(write_synthetic_capture(tmp_path / "capture", frames=9))
    assert len(capture.train) == 7 and len(capture.heldout) == 2
    assert capture.resolution == (16, 16)


def test_cli_reports_a_bad_capture_in_one_line_without_traceback(tmp_path: Path):
    root = write_synthetic_capture(tmp_path / "capture")
    _matrix(2, _set_nan)(root)
    before = sorted(p.name for p in root.rglob("*"))
    result = subprocess.run(
        [sys.executable, "-m", "backend", "nerf", str(root), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "frame 2" in result.stderr
    assert sorted(p.name for p in root.rglob("*")) == before


def test_training_refuses_a_capture_whose_images_are_all_transparent(tmp_path: Path):
    """Alpha zero everywhere loads (alpha is optional per pixel) but leaves nothing to fit:
    the trainer says so instead of failing to draw a batch from no rays."""
    root = write_synthetic_capture(tmp_path / "capture")
    for path in (root / "train").glob("*.png"):
        pixels = np.array(Image.open(path))
        pixels[..., 3] = 0
        Image.fromarray(pixels, "RGBA").save(path)
    capture = load_capture(root)
    with pytest.raises(CaptureError, match="no training pixel shows the subject"):
        Trainer(capture, NerfConfig(steps=10), torch.device("cpu"))
