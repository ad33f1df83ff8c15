"""The radiance field: density and view-dependent colour on a sparse voxel grid.

Each grid vertex holds 13 numbers: a density logit, a diffuse colour logit (3) and
first-order spherical-harmonic colour coefficients (3 x 3). Colour needs no MLP: on a
2-core CPU a 64-wide MLP costs more than the whole grid lookup, and faces are mostly
diffuse. Density is ``softplus(logit)`` in units of "optical depth per voxel", so the
same logit means the same opacity at every resolution once rescaled (see ``resample``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from backend.nerf.grid import GridGeometry, RowDifferences, SparseGrid, dilate

CHANNELS = 13
SH_C1 = 0.4886025119029199
_CHUNK = 1 << 18


def density_logit(opacity_per_voxel: float) -> float:
    """The logit whose softplus gives the optical depth of that opacity over one voxel."""
    depth = -math.log1p(-opacity_per_voxel)
    return math.log(math.expm1(depth))


def softplus_inverse(y: torch.Tensor) -> torch.Tensor:
    """x with softplus(x) = y, stable for large y (where softplus is the identity)."""
    y = y.clamp_min(1e-12)
    return torch.where(y > 20.0, y, torch.log(torch.expm1(y)))


class VoxelField(torch.nn.Module):
    """Density and colour queries on a :class:`SparseGrid`."""

    def __init__(self, grid: SparseGrid):
        super().__init__()
        self.grid = grid

    @property
    def geometry(self) -> GridGeometry:
        return self.grid.geometry

    @classmethod
    def from_occupancy(
        cls, geometry: GridGeometry, occupied: torch.Tensor, opacity: float
    ) -> VoxelField:
        init = torch.zeros(CHANNELS)
        init[0] = density_logit(opacity)
        return cls(SparseGrid.from_mask(geometry, occupied, init))

    def forward(self, points: torch.Tensor, dirs: torch.Tensor):
        """Optical depth per voxel (N,) and RGB in [0, 1] (N, 3) at points, dirs (N, 3)."""
        features = self.grid(points)
        depth = F.softplus(features[:, 0])
        sh = features[:, 4:].view(-1, 3, 3)
        rgb = torch.sigmoid(features[:, 1:4] + SH_C1 * torch.einsum("ncb,nb->nc", sh, dirs))
        return depth, rgb

    def total_variation(self, count: int, generator: torch.Generator | None = None):
        """Mean squared difference between ``count`` random rows and their +x, +y, +z
        neighbours (where those are allocated), each axis weighing a third: a smoothness
        prior against overfitting the training views."""
        grid = self.grid
        occupied = grid.row_vertices
        pick = occupied[
            torch.randint(len(occupied), (count,), device=occupied.device, generator=generator)
        ]
        _, dy, dz = self.geometry.dims
        flat_index = grid.index.view(-1)
        rows, others, weights = [], [], []
        for step in (dy * dz, dz, 1):
            neighbour = (pick + step).clamp(max=flat_index.numel() - 1)
            row, other = flat_index[pick], flat_index[neighbour]
            valid = other > 0
            pairs = int(valid.sum())
            rows.append(row[valid])
            others.append(other[valid])
            weights.append(torch.full((pairs,), 1.0 / (3.0 * max(pairs, 1) * grid.channels)))
        weight = torch.cat(weights).to(grid.table.device)
        return RowDifferences.apply(grid.table, torch.cat(rows), torch.cat(others), weight)

    def vertex_opacity(self) -> torch.Tensor:
        """Opacity across one voxel at every vertex, dense (Dx, Dy, Dz)."""
        return -torch.expm1(-F.softplus(self.grid.dense_channel(0)))

    def surface_vertices(self, threshold: float, margin: int) -> torch.Tensor:
        """Allocated vertices within ``margin`` of one whose opacity exceeds ``threshold``.

        Before any vertex is that opaque (a schedule of a few dozen steps restructures
        the grid that early) every allocated vertex counts, so nothing is thrown away.
        """
        opaque = self.vertex_opacity() > threshold
        if not bool(opaque.any()):
            return self.grid.occupied()
        return dilate(opaque, margin) & self.grid.occupied()

    def prune(self, threshold: float, margin: int = 1) -> torch.Tensor:
        """Drop rows far from any opaque vertex; returns the kept old row ids (row 0 first)."""
        keep = self.surface_vertices(threshold, margin)
        old_rows = torch.cat(
            [torch.zeros(1, dtype=torch.long, device=keep.device), self.grid.index[keep]]
        )
        index = torch.zeros_like(self.grid.index)
        index[keep] = torch.arange(1, int(keep.sum()) + 1, device=keep.device)
        table = self.grid.table.detach()[old_rows]
        self.grid = SparseGrid(self.geometry, index, table)
        return old_rows

    def resample(self, resolution: int, threshold: float) -> None:
        """Move to a finer grid over the same box, keeping only cells near the surface."""
        old = self.grid
        keep_old = self.surface_vertices(threshold, margin=1)
        new_geometry = GridGeometry.covering(old.geometry.low, old.geometry.high, resolution)
        vertices = new_geometry.vertices().view(-1, 3)
        corners, _ = old.geometry.corners_of(vertices)
        occupied = keep_old.view(-1)[corners].any(dim=1).view(new_geometry.dims)
        points = vertices[occupied.view(-1)]
        with torch.no_grad():
            rows = torch.cat([old(points[i : i + _CHUNK]) for i in range(0, len(points), _CHUNK)])
            ratio = new_geometry.voxel / old.geometry.voxel
            rows[:, 0] = softplus_inverse(F.softplus(rows[:, 0]) * ratio)
        grid = SparseGrid.from_mask(new_geometry, occupied, torch.zeros(CHANNELS))
        with torch.no_grad():
            grid.table[1:] = rows
        self.grid = grid

    @torch.no_grad()
    def density_on_grid(self, lattice: GridGeometry) -> torch.Tensor:
        """Density (optical depth per normalized unit length) at a lattice's vertices.

        The raw density channel is made dense once and sampled trilinearly (the field's
        own interpolation) one x-slice at a time, so memory stays bounded at any
        resolution; points outside the field's box have zero density.
        """
        device = self.grid.table.device
        raw = self.grid.dense_channel(0)
        vertices = lattice.vertices().to(device)
        out = torch.zeros(lattice.dims, device=device)
        for ix in range(lattice.dims[0]):
            points = vertices[ix].reshape(-1, 3)
            inside = self.geometry.inside(points)
            if inside.any():
                value = self.geometry.trilinear(raw, points[inside])
                out[ix].view(-1)[inside] = F.softplus(value) / self.geometry.voxel
        return out

    @torch.no_grad()
    def diffuse_colour(self, points: torch.Tensor) -> torch.Tensor:
        """View-independent colour (N, 3): the SH term averages to zero over directions."""
        return torch.sigmoid(self.grid(points)[:, 1:4])
