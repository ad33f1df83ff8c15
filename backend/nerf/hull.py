"""Visual hull: the space that every training view's alpha allows the subject to fill.

For RGBA (or masked) captures this gives the NeRF a tight box and a starting occupancy
before any training: rays through the background never touch a voxel, and the samples
spent per step go to the few percent of space where the head can be.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from backend.captures import Capture
from backend.nerf.grid import GridGeometry

ALPHA_EMPTY = 0.05


def carve(
    capture: Capture, geometry: GridGeometry, depths: list[np.ndarray] | None = None
) -> torch.Tensor:
    """Vertices (dims bool) inside every training view's silhouette, or outside its frame.

    A vertex stands for a voxel, so each silhouette is dilated by the voxel's projected
    radius first: a voxel that any pixel of the subject touches is kept. With ``depths``
    (per training frame, normalized units along each pixel's ray, inf for no surface),
    vertices a view sees through, more than two voxels in front of the surface, are
    carved too: what is left is the solid behind every observed surface.
    """
    points = capture.box.to_world(geometry.vertices().view(-1, 3).cpu().numpy())
    alive = np.arange(len(points))
    seen = np.zeros(len(points), dtype=bool)
    for index, frame in enumerate(capture.train):
        # Only vertices no earlier view has carved are tested: the work shrinks per view.
        camera, candidates = frame.camera, points[alive]
        pixels, depth = camera.project(candidates)
        distance = np.linalg.norm(camera.center - capture.box.center)
        radius_px = camera.intrinsics.fx * geometry.voxel * capture.box.scale / distance
        alpha = neighbourhood_max(frame.rgba[..., 3], int(np.ceil(radius_px)) + 1)
        col, row = np.floor(pixels[:, 0]).astype(int), np.floor(pixels[:, 1]).astype(int)
        in_frame = (depth > 0) & (col >= 0) & (row >= 0)
        in_frame &= (col < frame.width) & (row < frame.height)
        values = np.ones(len(candidates), dtype=np.float32)
        values[in_frame] = alpha[row[in_frame], col[in_frame]]
        keep = values > ALPHA_EMPTY
        seen[alive[in_frame]] = True
        if depths is not None:
            surface = np.full(len(candidates), np.inf)
            farthest = neighbourhood_max(depths[index].astype(np.float32), 1)
            surface[in_frame] = farthest[row[in_frame], col[in_frame]]
            reach = np.linalg.norm(candidates - camera.center, axis=1) / capture.box.scale
            keep &= reach >= surface - 2.0 * geometry.voxel
        alive = alive[keep]
    inside = np.zeros(len(points), dtype=bool)
    inside[alive] = True
    return torch.from_numpy(inside & seen).view(geometry.dims)


def neighbourhood_max(image: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a square neighbourhood (alpha, depth or a mask; one channel)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image))[None, None]
    return F.max_pool2d(tensor, 2 * radius + 1, stride=1, padding=radius)[0, 0].numpy()


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
