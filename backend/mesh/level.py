"""The density level of the surface: the one whose outlines match the NeRF's own.

A trained field's surface is a soft shell: the density climbs over a voxel or two. A
fixed level ("half opaque across one voxel") sits where a ray arriving head-on has lost
half its light, which is inside the shell, while the images pin down the outline, where a
grazing ray crosses ten or more voxels of the thin outer part and is stopped where the
density has barely begun. On the sample head the fixed level put the mesh one field voxel
inside the true surface everywhere (98% of it inside, Chamfer 0.73% of the diagonal).

So the level is read off the outlines, which the capture constrains all around a head:
for every ray near the outline of a few NeRF renders, the highest density it meets; a
level L makes the rays whose maximum exceeds L solid. L is chosen so that as many rays
are solid as the renders' opacity adds up to over the same pixels: the mesh's outline
then covers the NeRF's outline area to a fraction of a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backend.captures import Camera, SceneBox
from backend.captures.silhouettes import neighbourhood_max
from backend.nerf.grid import GridGeometry
from backend.nerf.rays import camera_rays
from backend.nerf.sampler import box_intersection

# Pixels whose opacity is strictly between these are on the outline; the band around
# them is two pixels wide on each side, so the level's candidates cover the transition.
OUTLINE_OPACITY = (0.01, 0.99)
BAND_PIXELS = 2
# The level stays within [fallback / 16, fallback]: never denser than half opaque per
# voxel (that only shrinks the surface), and never down into the fog an under-trained
# field leaves around the head. The sample head's field takes 0.135 of the fallback; a
# 60-step field of the test capture asked for 0.037, whose surface had six times the
# triangles in 1259 pieces (at 1/16: 35 pieces; at the fallback: 40).
LOWEST_FRACTION = 1.0 / 16.0
# Rays near the outline run almost tangent to the surface, where the density changes
# slowly along them: one sample per lattice voxel finds their maxima (on the sample head
# the level moves 1.2% against half-voxel steps, in 0.47 s instead of 0.8 s).
STEP_VOXELS = 1.0


@dataclass(frozen=True)
class OutlineView:
    """A camera and the NeRF's opacity (H, W) rendered from it."""

    camera: Camera
    opacity: np.ndarray


def outline_level(
    density: torch.Tensor,
    lattice: GridGeometry,
    box: SceneBox,
    views: list[OutlineView],
    fallback: float,
) -> float:
    """Density level (per normalized unit) whose outlines match the views' opacity;
    ``fallback`` where the views show no outline (nothing in view, or all of it)."""
    maxima, area = [], 0.0
    for view in views:
        band = _outline_band(view.opacity)
        if band.any():
            maxima.append(_ray_maxima(density, lattice, box, view.camera, band))
            area += float(view.opacity[band].sum())
    solid_rays = round(area)
    if not maxima or solid_rays == 0:
        return fallback
    ranked = torch.cat(maxima).sort(descending=True).values
    level = float(ranked[min(solid_rays, len(ranked)) - 1])
    return float(np.clip(level, fallback * LOWEST_FRACTION, fallback))


def _outline_band(opacity: np.ndarray) -> np.ndarray:
    """Pixels (H, W bool) within BAND_PIXELS of a partly opaque one."""
    low, high = OUTLINE_OPACITY
    edge = ((opacity > low) & (opacity < high)).astype(np.float32)
    return neighbourhood_max(edge, BAND_PIXELS) > 0


def _ray_maxima(
    density: torch.Tensor,
    lattice: GridGeometry,
    box: SceneBox,
    camera: Camera,
    band: np.ndarray,
) -> torch.Tensor:
    """Highest density each band pixel's ray meets inside the lattice, sampled every
    STEP_VOXELS with the lattice's own trilinear interpolation (what marching cubes sees)."""
    rays = camera_rays(camera, box, density.device)
    pick = torch.from_numpy(band.reshape(-1)).to(density.device)
    origins, dirs = rays.origins[pick], rays.dirs[pick]
    low, high = lattice.low.to(density.device), lattice.high.to(density.device)
    near, far = box_intersection(origins, dirs, low, high)
    step = STEP_VOXELS * lattice.voxel
    count = max(int(float((far - near).max()) / step) + 2, 2)
    ts = near[:, None] + step * torch.arange(count, device=density.device)[None]
    points = origins[:, None] + ts[..., None] * dirs[:, None]
    values = lattice.trilinear(density, points.view(-1, 3)).view(ts.shape)
    values = torch.where(ts <= far[:, None], values, torch.zeros((), device=values.device))
    return values.max(dim=1).values
