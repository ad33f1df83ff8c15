"""A texture parametrized in 3D: offsets live on a pyramid of voxel grids around the head.

An atlas cuts the surface into charts; offsets that are smooth in UV space are not smooth
across chart seams on the surface, so every seam becomes a sharp edge that renders (and
warps) differently from each view. Here each texel takes its offset from the voxel grids
at its surface point, so two texels on either side of a seam, being the same point of
the surface, get the same colour. Coarse grids move whole regions, fine ones add strokes.

The coarse grids are upsampled onto the finest one and the sum is looked up once per
texel, through corner rows and trilinear weights computed once: eight times fewer
lookups than one per grid, and the lookup's backward is a scatter (WeightedRows). A
texture's covered texels number a few hundred thousand, so this is a large part of a
stylization step (0.40 s against 0.05 s per step for a 20k-face Suzanne).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from backend.mesh.bake import surface_points
from backend.mesh.textured import TexturedMesh
from backend.nerf.grid import WeightedRows


class TexelPoints:
    """The covered texels of a mesh's texture: their flat indices, their surface points in
    the head's cube [-1, 1]^3, and for every texel the nearest covered one."""

    def __init__(self, mesh: TexturedMesh, device: torch.device):
        height, width = mesh.texture.shape[:2]
        points, covered = surface_points(mesh.vertices, mesh.faces, mesh.uvs, height)
        low, high = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
        half = 0.51 * float((high - low).max())
        cube = (points[covered] - (low + high) / 2) / max(half, 1e-9)
        self.index = torch.from_numpy(np.flatnonzero(covered)).to(device)
        self.points = torch.tensor(cube, dtype=torch.float32, device=device)
        if covered.any():
            _, (rows, cols) = ndimage.distance_transform_edt(~covered, return_indices=True)
            nearest = (rows * width + cols).reshape(-1).astype(np.int64)
        else:
            nearest = np.arange(height * width)
        self.nearest = torch.from_numpy(nearest).to(device)


class VolumePyramid(torch.nn.Module):
    """texture = sigmoid(logit(base) + sum_l trilinear(offset_l, surface point)).

    Texels outside the charts copy their nearest chart texel: mip-mapped lookups near a
    chart border read them, and a free value there would depend on the view.
    """

    def __init__(self, base: torch.Tensor, texels: TexelPoints, levels: int, finest: int):
        super().__init__()
        self.register_buffer("base", torch.logit(base.clamp(0.01, 0.99)))
        self.texels = texels
        finest = max(2, finest)
        self.offsets = torch.nn.ParameterList(
            torch.nn.Parameter(torch.zeros(1, 3, *(max(2, finest >> level),) * 3))
            for level in range(levels)
        )
        self.rows, self.weights = trilinear_corners(texels.points, finest)

    def volume(self) -> torch.Tensor:
        """The summed offsets (1, 3, n, n, n) on the finest grid."""
        size = self.offsets[0].shape[-3:]
        coarse = (
            F.interpolate(o, size=size, mode="trilinear", align_corners=True)
            for o in self.offsets[1:]
        )
        return self.offsets[0] + sum(coarse)

    def forward(self) -> torch.Tensor:
        table = self.volume().view(3, -1).T.contiguous()
        offset = WeightedRows.apply(table, self.rows, self.weights)
        flat = self.base.reshape(-1, 3)
        moved = flat.index_add(0, self.texels.index, offset)
        return torch.sigmoid(moved)[self.texels.nearest].view(self.base.shape)


def trilinear_corners(points: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices (N, 8) of the corners of each point's cell in a (size,)*3 grid laid
    over [-1, 1]^3 (corners on the faces, as ``align_corners=True``; a point's x indexes
    the grid's first axis) and their trilinear weights (N, 8)."""
    position = (points.clamp(-1.0, 1.0) + 1.0) / 2.0 * (size - 1)
    low = position.floor().clamp(0, size - 2).long()
    fraction = position - low
    rows, weights = [], []
    for corner in range(8):
        step = torch.tensor([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
        at = low + step.to(low.device)
        rows.append((at[:, 0] * size + at[:, 1]) * size + at[:, 2])
        share = torch.where(step.bool().to(low.device), fraction, 1.0 - fraction)
        weights.append(share.prod(dim=1))
    return torch.stack(rows, dim=1), torch.stack(weights, dim=1)
