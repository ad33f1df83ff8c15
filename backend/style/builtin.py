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


def plaid(size: int = SIZE) -> np.ndarray:
    """Tartan: red ground, green crossings, thin yellow lines."""
    x, y = _grid(size)
    bands_x = (np.sin(40 * x) > 0.2).astype(np.float32)
    bands_y = (np.sin(40 * y) > 0.2).astype(np.float32)
    lines = (np.sin(160 * x) > 0.9) | (np.sin(160 * y) > 0.9)
    red, green = np.array([0.7, 0.1, 0.12]), np.array([0.1, 0.35, 0.2])
    image = red * (1 - 0.25 * (bands_x + bands_y))[..., None]
    image = image + 0.6 * green * (bands_x * bands_y)[..., None]
    return np.where(lines[..., None], np.array([0.95, 0.85, 0.3]), image).astype(np.float32)


def shards(size: int = SIZE) -> np.ndarray:
    """Stained glass: flat-coloured Voronoi cells with dark leading."""
    rng = np.random.default_rng(7)
    x, y = _grid(size)
    seeds = rng.uniform(0, 1, (60, 2))
    colours = rng.uniform(0.2, 0.95, (60, 3)).astype(np.float32)
    distance = np.hypot(x[..., None] - seeds[:, 0], y[..., None] - seeds[:, 1])
    nearest = np.sort(distance, axis=-1)
    image = colours[np.argmin(distance, axis=-1)]
    image[nearest[..., 1] - nearest[..., 0] < 0.006] = 0.1
    return image


def hatch(size: int = SIZE) -> np.ndarray:
    """Pencil cross-hatching on paper, denser where the shading is darker."""
    x, y = _grid(size)
    shade = 0.5 + 0.5 * np.sin(4 * x + 3 * y)
    lines = (np.sin(90 * (x + y)) > 1 - 1.2 * shade) | (np.sin(90 * (x - y)) > 1.4 - 1.2 * shade)
    paper, lead = np.array([0.96, 0.95, 0.9]), np.array([0.25, 0.25, 0.3])
    return np.where(lines[..., None], lead, paper).astype(np.float32)


def halftone(size: int = SIZE) -> np.ndarray:
    """Pop-art halftone: magenta dots of varying size on yellow."""
    x, y = _grid(size)
    cell = 1 / 24
    radius = 0.15 + 0.35 * (0.5 + 0.5 * np.cos(5 * x) * np.sin(4 * y))
    dots = np.hypot((x % cell) / cell - 0.5, (y % cell) / cell - 0.5) < radius
    return np.where(dots[..., None], np.array([0.85, 0.1, 0.35]), np.array([1.0, 0.9, 0.2])).astype(
        np.float32
    )


def painting(size: int = SIZE) -> np.ndarray:
    """Impasto brushwork: short curved strokes of night blues, ochres and whites that
    follow a swirling flow, over an underpainting of the same palette."""
    rng = np.random.default_rng(11)
    x, y = _grid(size)
    palette = np.array(
        [
            [0.08, 0.14, 0.38],
            [0.16, 0.32, 0.62],
            [0.45, 0.62, 0.8],
            [0.93, 0.82, 0.35],
            [0.85, 0.55, 0.15],
            [0.95, 0.93, 0.82],
            [0.1, 0.3, 0.25],
        ],
        np.float32,
    )
    field = 0.5 + 0.5 * np.sin(3 * x + 2 * np.sin(4 * y)) * np.cos(2.5 * y - 1.5 * x)
    image = palette[np.clip((field * 4.99).astype(int), 0, 4)].astype(np.float32)
    for _ in range(size * 7):
        px, py = rng.uniform(0, size, 2)
        colour = palette[rng.integers(len(palette))] * rng.uniform(0.85, 1.1)
        radius = rng.uniform(1.2, 2.8) * size / 256
        for _ in range(int(rng.integers(5, 12))):
            angle = 3.0 * np.sin(px / size * 5) + 2.0 * np.cos(py / size * 6)
            px, py = px + 2.0 * np.cos(angle), py + 2.0 * np.sin(angle)
            _dab(image, px, py, radius, colour)
    return np.clip(image, 0.0, 1.0)


def _dab(image: np.ndarray, cx: float, cy: float, radius: float, colour: np.ndarray) -> None:
    """Paint a round dab of ``radius`` px at (cx, cy), clipped at the borders."""
    size = image.shape[0]
    r = int(np.ceil(radius))
    top, left = max(0, int(cy) - r), max(0, int(cx) - r)
    bottom, right = min(size, int(cy) + r + 1), min(size, int(cx) + r + 1)
    if top >= bottom or left >= right:
        return
    yy, xx = np.mgrid[top:bottom, left:right]
    inside = (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= radius**2
    image[top:bottom, left:right][inside] = colour


BUILTIN_STYLES: dict[str, Callable[[int], np.ndarray]] = {
    "strokes": strokes,
    "stipple": stipple,
    "mosaic": mosaic,
    "ink": ink,
    "waves": waves,
    "plaid": plaid,
    "shards": shards,
    "hatch": hatch,
    "halftone": halftone,
    "painting": painting,
}
