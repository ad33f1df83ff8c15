"""Small captures written from numpy, in any of the three conventions, for fast tests."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

ANGLE_X = 0.7


def look_at(position: np.ndarray) -> np.ndarray:
    """Camera-to-world matrix (OpenGL: looks down -Z, +Y up) at ``position``, at the origin."""
    target = np.zeros(3)
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -forward, position
    return c2w


def ring_poses(count: int, radius: float = 4.0) -> list[np.ndarray]:
    return [
        look_at(radius * np.array([math.sin(a), -math.cos(a), 0.3]))
        for a in np.linspace(-1.2, 1.2, count)
    ]


def write_synthetic_capture(root: Path, frames: int = 4, size: int = 16) -> Path:
    """A NeRF-synthetic style capture of random RGBA images around the origin."""
    rng = np.random.default_rng(0)
    (root / "train").mkdir(parents=True, exist_ok=True)
    entries = []
    for i, c2w in enumerate(ring_poses(frames)):
        pixels = rng.integers(0, 256, size=(size, size, 4), dtype=np.uint8)
        Image.fromarray(pixels, "RGBA").save(root / "train" / f"r_{i}.png")
        entries.append({"file_path": f"./train/r_{i}", "transform_matrix": c2w.tolist()})
    write_json(root / "transforms.json", {"camera_angle_x": ANGLE_X, "frames": entries})
    return root


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def nerf_synthetic_to_single(src: Path, dst: Path) -> list[dict]:
    """Copy a split capture and return all its frames (train then test), images copied."""
    shutil.copytree(src, dst)
    frames = []
    for split in ("train", "test"):
        path = dst / f"transforms_{split}.json"
        frames += read_json(path)["frames"]
        path.unlink()
    return frames


def alpha_at_border(rgba: np.ndarray) -> float:
    """The most opaque pixel on the image's border: above one half where the subject
    crosses the frame."""
    alpha = rgba[..., 3]
    return float(max(alpha[0].max(), alpha[-1].max(), alpha[:, 0].max(), alpha[:, -1].max()))
