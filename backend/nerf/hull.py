"""Visual hull: the space that every training view's alpha allows the subject to fill.

For RGBA (or masked) captures this gives the NeRF a tight box and a starting occupancy
before any training: rays through the background never touch a voxel, and the samples
spent per step go to the few percent of space where the head can be.
"""

from __future__ import annotations

import numpy as np
import torch

from backend.captures import Capture
from backend.captures.silhouettes import inside_silhouettes
from backend.nerf.grid import GridGeometry


def carve(
    capture: Capture, geometry: GridGeometry, depths: list[np.ndarray] | None = None
) -> torch.Tensor:
    """Vertices (dims bool) inside every training view's silhouette, or outside its frame,
    and framed by at least one (see :func:`inside_silhouettes`; a vertex stands for a
    voxel). With ``depths``, what is left is the solid behind every observed surface."""
    points = geometry.vertices().view(-1, 3).cpu().numpy()
    inside = inside_silhouettes(capture.train, capture.box, points, geometry.voxel, depths)
    return torch.from_numpy(inside).view(geometry.dims)


def hull_box(capture: Capture, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tight normalized box around the visual hull, padded by two voxels, within [-1, 1]^3."""
    full = GridGeometry.covering(-torch.ones(3), torch.ones(3), resolution)
    occupied = carve(capture, full)
    if not occupied.any():
        return -torch.ones(3), torch.ones(3)
    ijk = occupied.nonzero()
    pad = 2 * full.voxel
    low = (full.low + ijk.min(dim=0).values * full.voxel - pad).clamp(-1.0, 1.0)
    high = (full.low + ijk.max(dim=0).values * full.voxel + pad).clamp(-1.0, 1.0)
    return low, high
