"""Multi-view consistency: does the same surface point look the same from two views?

Each covered pixel of view B has a surface point (from the rasterizer); projected into
view A it lands on a pixel whose own surface point must be the same one (else it is
occluded there). Over the pixels that pass, the RMSE between B's colour and A's colour
(bilinear) measures inconsistency. Short range uses adjacent views, long range far ones.

Pixels within two pixels of B's silhouette are left out: there one pixel spans a long
stretch of surface at a grazing angle, and its colour measures screen-space resampling,
not whether the texture agrees with itself.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from backend.captures import Camera
from backend.stylize.views import Frame

VISIBILITY_PIXELS = 1.5
SILHOUETTE_MARGIN = 2


def warp_rmse(a: Frame, camera_a: Camera, b: Frame) -> float:
    """RMSE of B's colours against A's at the same surface points, over co-visible pixels."""
    size = 2 * SILHOUETTE_MARGIN + 1
    interior = -F.max_pool2d(-b.coverage[None, None], size, stride=1, padding=SILHOUETTE_MARGIN)
    covered = interior[0, 0] > 0
    points = b.points[covered].detach().cpu().numpy().astype(np.float64)
    if len(points) == 0:
        return float("nan")
    pixels, depth = camera_a.project(points)
    k = camera_a.intrinsics
    col, row = np.floor(pixels[:, 0]).astype(int), np.floor(pixels[:, 1]).astype(int)
    inside = (depth > 0) & (col >= 0) & (row >= 0) & (col < k.width) & (row < k.height)
    surface_a = a.points.detach().cpu().numpy()
    mask_a = a.coverage.detach().cpu().numpy() > 0
    footprint = depth / k.fx * VISIBILITY_PIXELS
    visible = np.zeros(len(points), dtype=bool)
    idx = np.nonzero(inside)[0]
    hit = mask_a[row[idx], col[idx]]
    gap = np.linalg.norm(surface_a[row[idx], col[idx]] - points[idx], axis=1)
    visible[idx] = hit & (gap < footprint[idx] * 2.0)
    if not visible.any():
        return float("nan")
    grid = torch.tensor(pixels[visible] / [k.width, k.height] * 2.0 - 1.0, dtype=torch.float32)
    image_a = a.image.detach().cpu().permute(2, 0, 1)[None]
    sampled = F.grid_sample(image_a, grid[None, None], align_corners=False)[0, :, 0].T
    colours_b = b.image.detach().cpu()[covered.cpu()][torch.from_numpy(visible)]
    return float(torch.sqrt(torch.mean((sampled - colours_b) ** 2)))
