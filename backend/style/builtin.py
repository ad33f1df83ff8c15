"""Built-in style images, drawn procedurally by the project (no third-party artwork).

Each is a deterministic function of its name, so the demo and the colour net's training
styles are the same on every machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SIZE = 256


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return x, y


def strokes(size: int = SIZE) -> np.ndarray:
    """Diagonal brush strokes in warm oranges and deep blues."""
    rng = np.random.default_rng(1)
    image = np.ones((size, size, 3), np.float32) * np.array([0.95, 0.9, 0.8], np.float32)
    x, y = _grid(size)
    palette = np.array([[0.9, 0.45, 0.1], [0.1, 0.2, 0.5], [0.95, 0.75, 0.2], [0.2, 0.45, 0.6]])
    for _ in range(140):
        cx, cy = rng.uniform(0, 1, 2)
        angle = rng.uniform(0.5, 1.1)
        along = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        across = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        mask = (np.abs(along) < rng.uniform(0.05, 0.15)) & (np.abs(across) < 0.012)
        image[mask] = palette[rng.integers(len(palette))]
    return image


def stipple(size: int = SIZE) -> np.ndarray:
    """Black dots of varying density on cream paper."""
    rng = np.random.default_rng(2)
    x, y = _grid(size)
    density = 0.5 + 0.5 * np.sin(6 * x) * np.cos(5 * y)
    dots = rng.uniform(0, 1, (size, size)) < 0.08 * density
    image = np.ones((size, size, 3), np.float32) * np.array([0.97, 0.94, 0.86], np.float32)
    image[dots] = 0.08
    return image


def mosaic(size: int = SIZE) -> np.ndarray:
    """Square tiles in saturated colours with dark grout."""
    rng = np.random.default_rng(3)
    tile = size // 16
    colours = rng.uniform(0.1, 1.0, (16, 16, 3)).astype(np.float32)
    image = np.kron(colours, np.ones((tile, tile, 1), np.float32))
    grout = (np.arange(size) % tile) < 2
    image[grout, :] = 0.15
    image[:, grout] = 0.15
    return image


def ink(size: int = SIZE) -> np.ndarray:
    """Concentric ink contours, like a woodcut."""
    x, y = _grid(size)
    rings = np.sin(60 * np.hypot(x - 0.4, y - 0.6) + 8 * np.sin(5 * x)) > 0.3
    image = np.where(rings[..., None], 0.05, 0.92).astype(np.float32)
    return np.repeat(image[..., :1], 3, axis=-1)


def waves(size: int = SIZE) -> np.ndarray:
    """Swirling blue-green bands."""
    x, y = _grid(size)
    phase = np.sin(12 * x + 4 * np.sin(9 * y)) * 0.5 + 0.5
    low, high = np.array([0.05, 0.2, 0.45]), np.array([0.6, 0.9, 0.8])
    return (low + (high - low) * phase[..., None]).astype(np.float32)


BUILTIN_STYLES: dict[str, Callable[[int], np.ndarray]] = {
    "strokes": strokes,
    "stipple": stipple,
    "mosaic": mosaic,
    "ink": ink,
    "waves": waves,
}
