"""The similarity transform between a capture's world and the pipeline's unit box.

The NeRF and the mesh stage work in a normalized space where the subject lies inside
[-1, 1]^3. Every output is mapped back with :meth:`SceneBox.to_world`, so that meshes line
up with the capture's cameras (and with the Blender scene the capture came from).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.captures.alignment import focus_point
from backend.captures.cameras import Camera
from backend.errors import CaptureError


@dataclass(frozen=True)
class SceneBox:
    """world = center + scale * normalized (a uniform scale keeps shapes undistorted)."""

    center: np.ndarray
    scale: float

    def to_world(self, points: np.ndarray) -> np.ndarray:
        return self.center + self.scale * np.asarray(points, dtype=np.float64)

    def to_normalized(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.center) / self.scale

    def to_dict(self) -> dict[str, object]:
        return {"center": self.center.tolist(), "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SceneBox:
        return cls(np.asarray(data["center"], dtype=np.float64), float(data["scale"]))

    @classmethod
    def from_aabb(cls, low: np.ndarray, high: np.ndarray) -> SceneBox:
        """The box that maps the given world AABB into [-1, 1]^3, touching on its long side."""
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        if not np.all(high > low):
            raise CaptureError(f"scene bounds are empty: low {low}, high {high}")
        return cls((low + high) / 2.0, float((high - low).max() / 2.0))

    @classmethod
    def from_cameras(cls, cameras: list[Camera]) -> SceneBox:
        """Box around the point all cameras look at, sized to what every camera sees.

        The centre is the least-squares meeting point of the optical axes (object-centric
        captures look inward). The radius is the largest sphere around it that fits in
        every camera's field of view, so anything seen in all views is inside.
        """
        if not cameras:
            raise CaptureError("no cameras to place the scene from")
        try:
            center = focus_point(np.stack([c.c2w for c in cameras]), max_condition=1e6)
        except ValueError as exc:
            raise CaptureError(
                "the cameras do not look at a common point (parallel optical axes); "
                "give the scene bound with instant-ngp's aabb_scale/scale/offset"
            ) from exc
        radii = []
        for cam in cameras:
            k = cam.intrinsics
            half_fov = np.arctan(min(k.width / (2 * k.fx), k.height / (2 * k.fy)))
            radii.append(np.linalg.norm(cam.center - center) * np.sin(half_fov))
        return cls(center, float(min(radii)))
