"""A smooth solid where no camera looked: the depth hull, blurred away from the seen surface.

The depth hull closes the solid behind what the cameras saw, but its unseen parts are
the cameras' shadows: ragged where a rim was seen edge-on (a head open at the back, as
scans are, gets a jagged lip and fins), stepped where the coarse carving lattice shows.
Away from the surface that the NeRF's depth maps saw, the solid is replaced by its own
Gaussian blur at half occupancy: a smoothed hull that keeps the hull's extent (on the
closed sample head the hull's back is within 0.4% of the truth; a screened Poisson
closure, tried first, sagged 1.3 cm into it) and loses its fins and steps, any flap
thinner than the blur. Near the seen surface the NeRF's own density decides alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from backend.captures import Frame, SceneBox
from backend.nerf.grid import GridGeometry
from backend.nerf.model import Rendering

# Pixels at least this opaque give a seen surface point (edges blend into the background).
SEEN_OPACITY = 0.95
# Seen points are binned in cells of this many lattice voxels.
CELL = 4
# Within FREE_CELLS cells of a seen point the NeRF alone decides; beyond FREE_CELLS +
# BLEND_CELLS the smoothed hull does, with a linear ramp between.
FREE_CELLS = 1.5
BLEND_CELLS = 1.5
# Blur of the solid, in lattice voxels: removes fins and steps a few voxels across while
# moving a surface of radius R only by about sigma^2 / R (0.1 voxel on a head).
SIGMA = 2.0


@dataclass(frozen=True)
class ShapePrior:
    """On the marching-cubes lattice: the smoothed solid (1 inside, 0 outside, 1/2 on its
    surface) and how far each vertex is from the seen surface (0: the NeRF decides,
    1: the smoothed solid does)."""

    smoothed: np.ndarray
    unseen: np.ndarray

    def blend(self, volume: np.ndarray, level: float) -> np.ndarray:
        """``volume`` (density, surface at ``level``) with the unseen part replaced."""
        return volume + self.unseen * (2.0 * level * self.smoothed - volume)


def shape_prior(solid: np.ndarray, seen: np.ndarray, lattice: GridGeometry) -> ShapePrior:
    """The prior for ``solid`` (bool, lattice dims) given the ``seen`` surface points
    (normalized, (N, 3))."""
    return ShapePrior(_blurred(solid), _unseen_weight(seen, lattice))


def _blurred(solid: np.ndarray) -> np.ndarray:
    """Gaussian blur of ``solid`` by ``SIGMA`` voxels, computed at half resolution (a
    third of the time; within 0.05 of the full-resolution blur, under 0.2 voxel of
    surface)."""
    even = np.pad(solid, [(0, d % 2) for d in solid.shape], mode="edge")
    half = F.avg_pool3d(torch.from_numpy(even).float()[None, None], 2)[0, 0].numpy()
    blurred = torch.from_numpy(ndimage.gaussian_filter(half, SIGMA / 2.0))[None, None]
    fine = F.interpolate(blurred, size=even.shape, mode="trilinear", align_corners=False)
    return fine[0, 0, : solid.shape[0], : solid.shape[1], : solid.shape[2]].numpy()


def without_sheets(solid: np.ndarray, radius: int) -> np.ndarray:
    """``solid`` opened, then closed, by an octahedron of ``radius`` lattice voxels (the
    6-neighbour cross ``radius`` times): fins and
    flaps thinner than 2 * radius go, and so do crevices narrower than that (a
    crevice is two sheets face to face; decimation pinches them into non-manifold
    edges)."""
    if radius < 1:
        return solid
    padded = np.pad(solid, radius + 1)
    padded = ndimage.binary_opening(padded, iterations=radius)
    padded = ndimage.binary_closing(padded, iterations=radius)
    inner = (slice(radius + 1, -(radius + 1)),) * 3
    return padded[inner]


def depth_points(frames: list[Frame], renders: list[Rendering], box: SceneBox) -> np.ndarray:
    """Normalized surface points (N, 3) of the views' depth maps, where they are opaque."""
    points = []
    for frame, render in zip(frames, renders, strict=True):
        origins, directions = frame.camera.rays()
        solid = (render.opacity >= SEEN_OPACITY) & np.isfinite(render.depth)
        start = box.to_normalized(origins[solid])
        points.append(start + directions[solid] * render.depth[solid][:, None])
    return np.concatenate(points)


def _unseen_weight(points: np.ndarray, lattice: GridGeometry) -> np.ndarray:
    """0 near the seen points, rising to 1 a few cells away, on the lattice's vertices."""
    dims = tuple(math.ceil((d - 1) / CELL) + 1 for d in lattice.dims)
    cells = np.round((points - lattice.low.numpy()) / (lattice.voxel * CELL)).astype(np.int64)
    inside = ((cells >= 0) & (cells < np.array(dims))).all(axis=1)
    seen = np.zeros(dims, dtype=bool)
    seen[tuple(cells[inside].T)] = True
    distance = ndimage.distance_transform_edt(~seen)
    coarse = np.clip((distance - FREE_CELLS) / BLEND_CELLS, 0.0, 1.0).astype(np.float32)
    size = tuple((d - 1) * CELL + 1 for d in dims)
    fine = F.interpolate(
        torch.from_numpy(coarse)[None, None], size=size, mode="trilinear", align_corners=True
    )[0, 0]
    return fine[: lattice.dims[0], : lattice.dims[1], : lattice.dims[2]].numpy()
