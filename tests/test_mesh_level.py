"""The surface level rule: the mesh's outline matches the field's rendered outline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backend.captures import Camera, Intrinsics, SceneBox
from backend.mesh.level import OutlineView, outline_level
from backend.nerf.grid import GridGeometry
from tests.helpers import look_at

# A soft sphere: density ramps linearly from 0 at RADIUS to PEAK at RADIUS - RAMP, the
# shape of a trained field's shell (PEAK is 3.2 optical depths per voxel of the lattice).
RADIUS, RAMP, PEAK = 0.6, 0.2, 100.0


def _density(r: np.ndarray) -> np.ndarray:
    return PEAK * np.clip((RADIUS - r) / RAMP, 0.0, 1.0)


def _radius_at(level: float) -> float:
    return RADIUS - RAMP * level / PEAK


def _camera(direction: np.ndarray) -> Camera:
    """An 80 px camera 3 units from the origin, looking at it."""
    position = 3.0 * direction / np.linalg.norm(direction)
    return Camera(Intrinsics(120.0, 120.0, 40.0, 40.0, 80, 80), look_at(position))


def _opacity(camera: Camera) -> np.ndarray:
    """What a NeRF renders: 1 - transmittance along each pixel's ray, integrated finely."""
    origins, dirs = camera.rays()
    ts = np.arange(2.0, 4.0, 0.002)
    radii = np.linalg.norm(origins[..., None, :] + ts[:, None] * dirs[..., None, :], axis=-1)
    return 1.0 - np.exp(-_density(radii).sum(axis=-1) * 0.002)


def _silhouette_radius() -> float:
    """Closest approach at which a ray's optical depth through the sphere is ln 2."""
    xs = np.linspace(-1.0, 1.0, 20001)
    gaps = np.linspace(RADIUS - 0.05, RADIUS, 2001)
    depth = np.array([_density(np.hypot(b, xs)).sum() * (xs[1] - xs[0]) for b in gaps])
    return float(np.interp(-math.log(2.0), -depth, gaps))


def test_level_puts_the_outline_where_the_rendered_opacity_is_half():
    lattice = GridGeometry.covering(-torch.ones(3), torch.ones(3), 64)
    radii = lattice.vertices().norm(dim=-1).numpy()
    density = torch.tensor(_density(radii), dtype=torch.float32)
    views = [
        OutlineView(camera, _opacity(camera).astype(np.float32))
        for camera in (_camera(np.array([1.0, -2.0, 0.5])), _camera(np.array([-1.0, 0.3, 2.0])))
    ]
    half_opaque = math.log(2.0) / lattice.voxel
    box = SceneBox(np.zeros(3), 1.0)
    level = outline_level(density, lattice, box, views, fallback=half_opaque)
    outline = _silhouette_radius()
    assert _radius_at(level) == pytest.approx(outline, abs=0.25 * lattice.voxel)
    # The rule it replaces, half opaque across a voxel, sits a voxel inside this shell.
    assert outline - _radius_at(half_opaque) > 0.9 * lattice.voxel
    # A level far below the fallback (fog, on an under-trained field) is held at 1/16.
    assert outline_level(density, lattice, box, views, fallback=1600.0) == 100.0


def test_level_falls_back_where_no_outline_is_in_view():
    lattice = GridGeometry.covering(-torch.ones(3), torch.ones(3), 16)
    density = torch.zeros(lattice.dims)
    camera = _camera(np.array([0.0, -1.0, 0.0]))
    empty = OutlineView(camera, np.zeros((80, 80), dtype=np.float32))
    full = OutlineView(camera, np.ones((80, 80), dtype=np.float32))
    box = SceneBox(np.zeros(3), 1.0)
    assert outline_level(density, lattice, box, [empty, full], fallback=7.0) == 7.0
    assert outline_level(density, lattice, box, [], fallback=7.0) == 7.0
