"""Cameras for stylization and evaluation, drawn around the capture's own.

Random views are drawn like the capture's cameras: same intrinsics (rescaled), same
distance to the head, directions jittered around the capture's own viewing directions,
so the texture is optimized where the artist will look at it.
"""

from __future__ import annotations

import numpy as np

from backend.captures import Camera, Capture


def random_views(
    capture: Capture, count: int, size: int, rng: np.random.Generator, jitter_degrees: float = 15.0
) -> list[Camera]:
    """``count`` cameras near the capture's own, looking at the scene centre."""
    cameras = []
    centre = capture.box.center
    for _ in range(count):
        base = capture.train[rng.integers(len(capture.train))].camera
        offset = base.center - centre
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = np.radians(rng.uniform(-jitter_degrees, jitter_degrees))
        position = centre + _rotate(offset, axis, angle)
        cameras.append(look_at_camera(base, position, centre, size))
    return cameras


def orbit_views(capture: Capture, count: int, size: int, spread_degrees: float) -> list[Camera]:
    """``count`` cameras on an arc through the frontal view, ``spread`` apart in total."""
    base = capture.heldout[0].camera if capture.heldout else capture.train[0].camera
    centre = capture.box.center
    offset = base.center - centre
    angles = np.radians(np.linspace(-spread_degrees / 2, spread_degrees / 2, count))
    up = base.c2w[:3, 1]
    return [look_at_camera(base, centre + _rotate(offset, up, a), centre, size) for a in angles]


def look_at_camera(template: Camera, position: np.ndarray, target: np.ndarray, size: int) -> Camera:
    intrinsics = template.intrinsics.with_long_side(size)
    forward = (target - position) / np.linalg.norm(target - position)
    up_hint = template.c2w[:3, 1]
    right = np.cross(forward, up_hint)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -forward, position
    return Camera(intrinsics, c2w)


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    return (
        v * np.cos(angle)
        + np.cross(axis, v) * np.sin(angle)
        + axis * axis.dot(v) * (1 - np.cos(angle))
    )
