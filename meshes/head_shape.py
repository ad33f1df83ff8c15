"""The sample head as analytic functions: shape (radius per direction) and colour.

Kept free of bpy so that the shape can be evaluated anywhere (tests use the same numbers
that built the asset). The head is star-shaped around the origin, faces -Y, +Z is up, and
measures about 2 units tall before :data:`SCALE` makes it a life-size 0.24 m.
"""

from __future__ import annotations

import numpy as np

SCALE = 0.12
SEMI_AXES = np.array([0.72, 0.86, 1.0])

# (centre x, centre z, sigma x, sigma z, amplitude) of bumps on the face (front, y < 0).
FACE_BUMPS = (
    (0.0, 0.08, 0.07, 0.20, 0.07),  # nose bridge
    (0.0, -0.20, 0.085, 0.09, 0.21),  # nose tip
    (0.08, -0.25, 0.05, 0.05, 0.05),  # nostril wings
    (-0.08, -0.25, 0.05, 0.05, 0.05),
    (0.24, 0.27, 0.15, 0.05, 0.05),  # brow ridges
    (-0.24, 0.27, 0.15, 0.05, 0.05),
    (0.25, 0.12, 0.10, 0.07, -0.07),  # eye sockets
    (-0.25, 0.12, 0.10, 0.07, -0.07),
    (0.25, 0.12, 0.065, 0.045, 0.055),  # eyeballs
    (-0.25, 0.12, 0.065, 0.045, 0.055),
    (0.38, -0.15, 0.14, 0.12, 0.05),  # cheeks
    (-0.38, -0.15, 0.14, 0.12, 0.05),
    (0.0, -0.45, 0.14, 0.035, 0.05),  # upper lip
    (0.0, -0.53, 0.12, 0.04, 0.05),  # lower lip
    (0.0, -0.49, 0.13, 0.012, -0.025),  # mouth line
    (0.0, -0.80, 0.16, 0.10, 0.06),  # chin
)
# (centre y, centre z, sigma y, sigma z, amplitude) of bumps on the sides (ears).
EAR_BUMPS = ((0.05, 0.0, 0.11, 0.20, 0.10), (0.10, 0.0, 0.05, 0.10, -0.04))

EYE_CENTRES = ((0.25, 0.12), (-0.25, 0.12))
SKIN = np.array([0.86, 0.63, 0.52])
LIPS = np.array([0.72, 0.27, 0.30])
BROWS = np.array([0.24, 0.15, 0.10])
HAIR = np.array([0.30, 0.18, 0.10])
IRIS = np.array([0.18, 0.45, 0.55])


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float):
    return np.exp(-(((u - cu) / su) ** 2) - ((v - cv) / sv) ** 2)


def base_radius(dirs: np.ndarray) -> np.ndarray:
    """Radius of the skull-and-jaw ellipsoid along unit directions (N, 3)."""
    x, y, z = dirs.T
    jaw = 1.0 - 0.22 * _smoothstep(0.0, -0.9, z)
    ax = SEMI_AXES[0] * jaw
    return 1.0 / np.sqrt((x / ax) ** 2 + (y / SEMI_AXES[1]) ** 2 + (z / SEMI_AXES[2]) ** 2)


def radius(dirs: np.ndarray) -> np.ndarray:
    """Head radius along unit directions (N, 3), in unscaled units."""
    base = base_radius(dirs)
    x, y, z = (dirs * base[:, None]).T
    front = _smoothstep(-0.2, -0.6, y)
    face = sum(a * _gauss(x, z, cx, cz, sx, sz) for cx, cz, sx, sz, a in FACE_BUMPS)
    side = _smoothstep(0.5, 0.68, np.abs(x))
    ears = sum(a * _gauss(y, z, cy, cz, sy, sz) for cy, cz, sy, sz, a in EAR_BUMPS)
    return base + front * face + side * ears


def _detail(points: np.ndarray, seed: int = 7, waves: int = 24) -> np.ndarray:
    """Deterministic band-limited noise in [-1, 1]: a sum of plane waves."""
    rng = np.random.default_rng(seed)
    k = rng.normal(size=(waves, 3))
    k *= rng.uniform(6.0, 22.0, size=(waves, 1)) / np.linalg.norm(k, axis=1, keepdims=True)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=waves)
    return np.sin(points @ k.T + phase).sum(axis=1) / np.sqrt(waves / 2.0) / 2.0


def colour(points: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) in [0, 1] at unscaled surface points: skin, eyes, brows, lips, hair."""
    x, y, z = points.T
    front = y < 0
    rgb = SKIN * (1.0 + 0.06 * _detail(points))[:, None]
    blush = front * sum(_gauss(x, z, cx, -0.18, 0.12, 0.09) for cx in (0.36, -0.36))
    rgb = rgb * (1 - 0.25 * blush[:, None]) + np.array([0.85, 0.42, 0.42]) * 0.25 * blush[:, None]
    brow = front * sum(_gauss(x, z, cx, 0.27, 0.13, 0.025) for cx in (0.24, -0.24))
    rgb = _blend(rgb, BROWS, np.clip(1.6 * brow, 0, 1))
    lips = front * np.clip(_gauss(x, z, 0.0, -0.49, 0.13, 0.055) * 1.8 - 0.4, 0, 1)
    rgb = _blend(rgb, LIPS, lips)
    rgb = _blend(rgb, np.array([0.25, 0.08, 0.08]), front * _gauss(x, z, 0.0, -0.49, 0.12, 0.01))
    for cx, cz in EYE_CENTRES:
        r = np.sqrt(((x - cx) / 1.3) ** 2 + (z - cz) ** 2) + 10.0 * (~front)
        rgb = _blend(rgb, np.array([0.95, 0.94, 0.92]), _smoothstep(0.055, 0.045, r))
        angle = np.arctan2(z - cz, x - cx)
        iris = IRIS * (0.8 + 0.2 * np.cos(14.0 * angle))[:, None]
        rgb = _blend(rgb, iris, _smoothstep(0.03, 0.026, r))
        rgb = _blend(rgb, np.array([0.03, 0.03, 0.03]), _smoothstep(0.013, 0.011, r))
    hairline = 0.45 + 0.55 * _smoothstep(-0.3, -0.9, y) - 0.9 * _smoothstep(-0.1, 0.6, y)
    hair = _smoothstep(hairline - 0.03, hairline + 0.03, z)
    strands = HAIR * (0.85 + 0.15 * np.sin(40.0 * x + 6.0 * _detail(points, seed=3)))[:, None]
    rgb = _blend(rgb, strands, hair)
    return np.clip(rgb, 0.0, 1.0)


def _blend(rgb: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    weight = np.asarray(weight, dtype=np.float64)[:, None]
    return rgb * (1.0 - weight) + target * weight
