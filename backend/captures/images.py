"""Load capture images as straight-alpha RGBA float arrays, with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from backend.errors import CaptureError
from backend.imagefiles import open_image

MAX_PIXELS = 64_000_000


def read_rgba(path: Path, where: str) -> np.ndarray:
    """An image as (H, W, 4) float32 in [0, 1]; opaque alpha when the file has none."""
    return _to_rgba(open_image(path, where, CaptureError, MAX_PIXELS))


def read_mask(path: Path, where: str) -> np.ndarray:
    """A mask image as (H, W) float32 in [0, 1] (white = subject)."""
    rgba = read_rgba(path, where)
    return rgba[..., :3].mean(axis=-1) * rgba[..., 3]


def _to_rgba(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        rgb = np.repeat(gray[..., None], 3, axis=-1)
        return np.concatenate([rgb, np.ones_like(gray)[..., None]], axis=-1)
    return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0


def downscale(rgba: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average an RGBA image, premultiplied so edges do not darken or lighten."""
    alpha = rgba[..., 3:4]
    premultiplied = np.concatenate([rgba[..., :3] * alpha, alpha], axis=-1)
    channels = [
        np.asarray(Image.fromarray(premultiplied[..., c]).resize((width, height), Image.BOX))
        for c in range(4)
    ]
    out = np.stack(channels, axis=-1).astype(np.float32)
    out[..., :3] /= np.maximum(out[..., 3:4], 1e-6)
    out[..., :3] = np.where(out[..., 3:4] > 0, np.clip(out[..., :3], 0.0, 1.0), 0.0)
    return out
