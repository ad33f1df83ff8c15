"""A texture parametrized in 3D: offsets live on a pyramid of voxel grids around the head.

An atlas cuts the surface into charts; offsets that are smooth in UV space are not smooth
across chart seams on the surface, so every seam becomes a sharp edge that renders (and
warps) differently from each view. Here each texel takes its offset from the voxel grids
at its surface point, so two texels on either side of a seam, being the same point of
the surface, get the same colour. Coarse grids move whole regions, fine ones add strokes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from backend.mesh.bake import surface_points
from backend.mesh.textured import TexturedMesh


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
        self.offsets = torch.nn.ParameterList(
            torch.nn.Parameter(torch.zeros(1, 3, *(max(2, finest >> level),) * 3))
            for level in range(levels)
        )

    def forward(self) -> torch.Tensor:
        grid = self.texels.points.flip(-1).view(1, 1, 1, -1, 3)
        offset = sum(
            F.grid_sample(o, grid, mode="bilinear", align_corners=True) for o in self.offsets
        )
        flat = self.base.reshape(-1, 3)
        moved = flat.index_add(0, self.texels.index, offset.view(3, -1).T)
        return torch.sigmoid(moved)[self.texels.nearest].view(self.base.shape)
