"""Pinhole cameras (optionally with OpenCV radial-tangential distortion) and their rays.

Conventions follow the NeRF ``transforms.json`` family: ``c2w`` is camera-to-world with an
OpenGL camera (looks down -Z, +Y up, +X right); pixel (i, j) has its centre at
(i + 0.5, j + 0.5) with j growing downwards, as Blender and nerfstudio render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_UNDISTORT_ITERATIONS = 10


@dataclass(frozen=True)
class Distortion:
    """OpenCV radial-tangential coefficients (nerfstudio's OPENCV model)."""

    k1: float = 0.0
    k2: float = 0.0
    p1: float = 0.0
    p2: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.k1 == self.k2 == self.p1 == self.p2 == 0.0

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distort normalized OpenCV image coordinates (y down)."""
        r2 = x * x + y * y
        radial = 1.0 + self.k1 * r2 + self.k2 * r2 * r2
        xd = x * radial + 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x)
        yd = y * radial + self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y
        return xd, yd

    def undo(self, xd: np.ndarray, yd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Invert :meth:`apply` by fixed-point iteration (converges for real lenses)."""
        x, y = xd.copy(), yd.copy()
        for _ in range(_UNDISTORT_ITERATIONS):
            r2 = x * x + y * y
            radial = 1.0 + self.k1 * r2 + self.k2 * r2 * r2
            dx = 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x)
            dy = self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y
            x = (xd - dx) / radial
            y = (yd - dy) / radial
        return x, y


@dataclass(frozen=True)
class Intrinsics:
    """Focal lengths and principal point in pixels, image size, lens distortion."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: Distortion = field(default_factory=Distortion)

    def resized(self, width: int, height: int) -> Intrinsics:
        """The same camera for the image resampled to ``width`` x ``height`` pixels.

        Distortion acts on normalized coordinates, so its coefficients do not change.
        """
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height, self.distortion
        )

    def with_long_side(self, size: int) -> Intrinsics:
        """The same camera resampled so that its longer image side is ``size`` pixels."""
        scale = size / max(self.width, self.height)
        return self.resized(round(self.width * scale), round(self.height * scale))


@dataclass(frozen=True)
class Camera:
    """One calibrated view: intrinsics plus camera-to-world pose (OpenGL axes)."""

    intrinsics: Intrinsics
    c2w: np.ndarray

    @property
    def center(self) -> np.ndarray:
        return self.c2w[:3, 3]

    def directions_camera(self) -> np.ndarray:
        """Unit-free ray directions in camera axes for every pixel centre, (H, W, 3)."""
        k = self.intrinsics
        u, v = np.meshgrid(
            np.arange(k.width, dtype=np.float64) + 0.5,
            np.arange(k.height, dtype=np.float64) + 0.5,
            indexing="xy",
        )
        x = (u - k.cx) / k.fx
        y = (v - k.cy) / k.fy
        if not k.distortion.is_identity:
            x, y = k.distortion.undo(x, y)
        return np.stack([x, -y, -np.ones_like(x)], axis=-1)

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """World-space ray origins and unit directions for every pixel, each (H, W, 3)."""
        d_cam = self.directions_camera()
        d = d_cam @ self.c2w[:3, :3].T
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        o = np.broadcast_to(self.center, d.shape).copy()
        return o, d

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> pixel coordinates (N, 2) and depth along -Z (N,).

        Distortion is applied, so a point lands where the real lens imaged it.
        """
        w2c = np.linalg.inv(self.c2w)
        p = points @ w2c[:3, :3].T + w2c[:3, 3]
        depth = -p[:, 2]
        safe = np.where(np.abs(depth) < 1e-12, 1e-12, depth)
        x, y = p[:, 0] / safe, -p[:, 1] / safe
        k = self.intrinsics
        if not k.distortion.is_identity:
            x, y = k.distortion.apply(x, y)
        return np.stack([x * k.fx + k.cx, y * k.fy + k.cy], axis=-1), depth
