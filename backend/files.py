"""Atomic file writes: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: object) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def write_png(path: Path, rgb: np.ndarray) -> None:
    """An RGB or RGBA float image in [0, 1] as an 8-bit PNG."""
    pixels = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    atomic_write(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"))


def write_gif(path: Path, frames: list[np.ndarray], seconds_per_frame: float = 0.1) -> None:
    """RGB float frames in [0, 1] as a looping GIF (a turntable)."""
    images = [
        Image.fromarray((np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)) for f in frames
    ]

    def save(tmp: Path) -> None:
        duration = int(seconds_per_frame * 1000)
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
        )

    atomic_write(path, save)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks (weights files are tens of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
