"""Marching cubes on the trained field, closed where no camera looked.

Level rule: the level whose outlines match the NeRF's own in 16 renders (see
:mod:`backend.mesh.level`: the outline area the renders' opacity adds up to), bounded
by "one grid voxel of material half opaque" (density ln 2 / voxel), the level used when
no outline is in view.

The trained field is a shell around what the cameras saw (the unseen interior is pruned),
so the solid is rebuilt before marching: the visual hull carved by the NeRF's depth maps
(space seen through) is solid, cavities enclosed by the shell are filled, and where the
NeRF has density the surface follows it with sub-voxel accuracy. Away from the surface
the depth maps saw, the hull is smoothed (:mod:`backend.mesh.closure`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import mcubes
import numpy as np
import torch.nn.functional as F
import trimesh
from scipy import ndimage

from backend.captures import Capture, Frame
from backend.mesh.closure import depth_points, shape_prior, without_sheets
from backend.mesh.level import OutlineView, outline_level
from backend.nerf.grid import GridGeometry
from backend.nerf.hull import carve
from backend.nerf.model import NerfModel, Rendering

CARVE_VIEWS = 16
CARVE_SIDE = 96
# Lattice vertices per field vertex, at most: the field is trilinear between its own.
MAX_LATTICE_OVERSAMPLING = 2
# Depth maps for the hull sample at two voxels per step instead of half a voxel: on the
# sample head the hull and the Chamfer distance are the same (0.740% against 0.743%) and
# the renders take a third of the time.
HULL_STEP_RATIO = 2.0


def surface_level(model: NerfModel) -> float:
    """Density at which one voxel of the field's grid is half opaque."""
    return math.log(2.0) / model.field.geometry.voxel


@dataclass(frozen=True)
class Surface:
    """Marching-cubes triangles in the capture's coordinates and the level they sit at."""

    mesh: trimesh.Trimesh
    level: float


def extract_surface(model: NerfModel, capture: Capture, resolution: int = 256) -> Surface:
    """Closed surface of the head (unprocessed triangles) at the outline-matched level.

    The lattice has ``resolution`` vertices along the long side, but at most twice the
    field's own grid: the density is trilinear between the field's vertices, so a finer
    lattice adds triangles, not shape (a 64^3 field, as on small captures, gets 128).
    """
    field = model.field.geometry
    resolution = min(resolution, MAX_LATTICE_OVERSAMPLING * max(field.dims))
    lattice = GridGeometry.covering(field.low.cpu(), field.high.cpu(), resolution)
    density = model.field.density_on_grid(lattice).cpu()
    frames, renders = _hull_views(model, capture)
    solid = _depth_hull(capture, frames, renders, lattice)
    views = [OutlineView(f.camera, r.opacity) for f, r in zip(frames, renders, strict=True)]
    level = outline_level(density, lattice, capture.box, views, surface_level(model))
    filled = without_sheets(
        filled_solid(density.numpy(), level, solid), round(field.voxel / lattice.voxel)
    )
    prior = shape_prior(filled, depth_points(frames, renders, capture.box), lattice)
    volume = prior.blend(solid_volume(density.numpy(), level, filled), level)
    vertices, faces = march(volume, lattice, level)
    return Surface(trimesh.Trimesh(capture.box.to_world(vertices), faces, process=False), level)


def filled_solid(density: np.ndarray, level: float, solid: np.ndarray | None) -> np.ndarray:
    """Vertices above ``level`` or in ``solid``, with the cavities they enclose."""
    inside = density > level if solid is None else (density > level) | solid
    return ndimage.binary_fill_holes(inside)


def solid_volume(density: np.ndarray, level: float, filled: np.ndarray) -> np.ndarray:
    """The density, raised above ``level`` wherever ``filled`` says inside and lowered
    below it wherever it says outside (elsewhere kept, for sub-voxel accuracy)."""
    inside = np.where(density > level, density, 2.0 * level)
    return np.where(filled, inside, np.where(density > level, 0.5 * level, density))


def march(volume: np.ndarray, lattice: GridGeometry, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes at ``level``, closed at the lattice's border; vertices in the
    lattice's coordinates."""
    vertices, faces = mcubes.marching_cubes(np.pad(volume, 1), level)
    return lattice.low.numpy() + (vertices - 1.0) * lattice.voxel, faces.astype(np.int64)


def _hull_views(model: NerfModel, capture: Capture) -> tuple[list[Frame], list[Rendering]]:
    """16 training views spread over the capture, at most 96 px, rendered by the NeRF
    (sampling two voxels per step): the depth hull and the level both read them."""
    picks = np.unique(np.linspace(0, len(capture.train) - 1, CARVE_VIEWS).round().astype(int))
    frames = [capture.train[i].downscaled(CARVE_SIDE) for i in picks]
    coarse_model = dataclasses.replace(
        model, sampler=model.sampler.with_step_ratio(HULL_STEP_RATIO)
    )
    return frames, [coarse_model.render_all(f.camera) for f in frames]


def _depth_hull(
    capture: Capture, frames: list[Frame], renders: list[Rendering], lattice: GridGeometry
) -> np.ndarray:
    """Solid (lattice dims, bool) from the views' silhouettes and NeRF depths, carved on
    a coarse lattice and upsampled: the solid only closes what no camera saw, the
    surface detail comes from the density. Each view carves up to where its rays first
    meet the subject (``front``), never past it."""
    coarse = GridGeometry.covering(lattice.low, lattice.high, CARVE_SIDE)
    subset = dataclasses.replace(capture, train=frames, heldout=[])
    solid = carve(subset, coarse, [r.front for r in renders]).float()[None, None]
    fine = F.interpolate(solid, size=lattice.dims, mode="trilinear", align_corners=True)
    return (fine[0, 0] > 0.5).numpy()
