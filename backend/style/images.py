"""Style images: read any common image, convert it, or refuse it with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from backend.errors import BackendError
from backend.imagefiles import open_image

MIN_SIDE = 32
MAX_PIXELS = 100_000_000


class StyleImageError(BackendError):
    """A style image that cannot be used."""


def read_style_image(path: Path, working_side: int = 256) -> np.ndarray:
    """RGB float32 (H, W, 3) in [0, 1], long side at most ``working_side``.

    Grayscale and palette images become RGB; transparency is composited over white (a
    style image's transparent areas are paper, not black); images smaller than 32 px on
    a side are refused (no texture statistics to learn from).
    """
    path = Path(path)
    if not path.is_file():
        raise StyleImageError(f"style image not found: {path}")
    rgba = open_image(path, "style image", StyleImageError, MAX_PIXELS).convert("RGBA")
    if min(rgba.size) < MIN_SIDE:
        raise StyleImageError(
            f"style image {path} is {rgba.width}x{rgba.height}; it needs at least "
            f"{MIN_SIDE} px on each side"
        )
    scale = working_side / max(rgba.size)
    if scale < 1.0:
        size = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
        rgba = rgba.resize(size, Image.LANCZOS)
    array = np.asarray(rgba, dtype=np.float32) / 255.0
    alpha = array[..., 3:4]
    return array[..., :3] * alpha + (1.0 - alpha)
