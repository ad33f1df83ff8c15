"""Where to evaluate the field along each ray.

Two passes keep the expensive field query for the samples that matter:

1. march a coarse occupancy volume to find where each ray meets occupied space;
2. place fine samples there (half a voxel apart) and, from per-cell bounds on the density
   logit (max and min over the cell's 8 corners), keep only samples that may be visible
   (upper-bound opacity above a floor) and are not surely hidden (upper-bound
   transmittance above a floor). Bounds are exact for trilinear interpolation, so the
   selection never drops a sample that would change the image by more than the floors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from backend.nerf.field import VoxelField

COARSE_FACTOR = 4
MIN_OPACITY = 1e-4
MIN_TRANSMITTANCE = 1e-3


@dataclass(frozen=True)
class Samples:
    """Selected samples, flattened: position, direction, ray id, slot along the ray, t."""

    points: torch.Tensor
    dirs: torch.Tensor
    ray: torch.Tensor
    slot: torch.Tensor
    t: torch.Tensor
    step: float
    n_rays: int
    n_slots: int


class Sampler:
    """Ray sampler bound to a field; call :meth:`refresh` after the field changes much."""

    def __init__(self, step_ratio: float = 0.5):
        self.step_ratio = step_ratio
        self.cell_max: torch.Tensor | None = None
        self.cell_min: torch.Tensor | None = None
        self.coarse: torch.Tensor | None = None

    def with_step_ratio(self, step_ratio: float) -> Sampler:
        """The same bounds with another step (coarser steps for depth-only renders)."""
        other = copy.copy(self)
        other.step_ratio = step_ratio
        return other

    @torch.no_grad()
    def refresh(self, field: VoxelField) -> None:
        raw = field.grid.dense_channel(0)[None, None]
        cell_max = F.max_pool3d(raw, 2, stride=1)[0, 0]
        visible = -torch.expm1(-F.softplus(cell_max)) > MIN_OPACITY
        pooled = F.max_pool3d(visible[None, None].float(), COARSE_FACTOR, ceil_mode=True)
        self.coarse = pooled[0, 0] > 0
        # Padded to the vertex grid's shape, so that a cell's flat vertex index finds it.
        self.cell_max = F.pad(cell_max, (0, 1, 0, 1, 0, 1)).view(-1)
        self.cell_min = F.pad(-F.max_pool3d(-raw, 2, stride=1)[0, 0], (0, 1, 0, 1, 0, 1)).view(-1)

    @torch.no_grad()
    def intervals(
        self, field: VoxelField, origins: torch.Tensor, dirs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per ray, the [enter, exit] distances of its passage through occupied space.

        Rays that meet nothing get exit < enter.
        """
        geometry = field.geometry
        near, far = box_intersection(origins, dirs, geometry.low, geometry.high)
        cell = COARSE_FACTOR * geometry.voxel
        step = 0.5 * cell
        count = int(torch.clamp((far - near).max() / step, min=0).ceil().item()) + 1
        t = near[:, None] + step * torch.arange(count, device=origins.device)
        valid = t <= far[:, None]
        points = origins[:, None, :] + t[..., None] * dirs[:, None, :]
        ijk = ((points - geometry.low) / cell).floor().long()
        shape = torch.tensor(self.coarse.shape, device=origins.device)
        ijk = torch.minimum(ijk.clamp_min(0), shape - 1)
        hit = self.coarse[ijk[..., 0], ijk[..., 1], ijk[..., 2]] & valid
        any_hit = hit.any(dim=1)
        first = torch.argmax(hit.int(), dim=1)
        last = count - 1 - torch.argmax(hit.flip(1).int(), dim=1)
        enter = torch.gather(t, 1, first[:, None])[:, 0] - cell
        leave = torch.gather(t, 1, last[:, None])[:, 0] + cell
        enter = torch.maximum(enter, near)
        leave = torch.where(any_hit, torch.minimum(leave, far), enter - 1.0)
        return enter, leave

    @torch.no_grad()
    def sample(
        self, field: VoxelField, origins: torch.Tensor, dirs: torch.Tensor, jitter: bool
    ) -> Samples:
        """Candidates half a voxel apart over each ray's own interval, packed ray after ray
        (no padding to the longest ray), filtered by the cell bounds."""
        geometry = field.geometry
        step = self.step_ratio * geometry.voxel
        enter, leave = self.intervals(field, origins, dirs)
        counts = ((leave - enter) / step).ceil().clamp_min(0).long()
        candidates = _Packed.of(counts)
        offset = torch.rand_like(enter) if jitter else torch.full_like(enter, 0.5)
        ray = candidates.ray
        t = enter[ray] + step * (candidates.slot + offset[ray])
        points = origins[ray] + t[:, None] * dirs[ray]
        cell = geometry.flat(geometry.cell_of(points)[0])
        upper, lower = self.cell_max[cell], self.cell_min[cell]
        opacity_upper = -torch.expm1(-F.softplus(upper) * self.step_ratio)
        depth_lower = F.softplus(lower) * self.step_ratio
        transmittance_upper = torch.exp(-candidates.exclusive_cumsum(depth_lower))
        keep = (
            (t < leave[ray])
            & (opacity_upper > MIN_OPACITY)
            & (transmittance_upper > MIN_TRANSMITTANCE)
        )
        kept = keep.nonzero()[:, 0]
        slot = candidates.exclusive_cumsum(keep.long())[kept]
        order = torch.argsort(cell[kept])
        kept, slot = kept[order], slot[order]
        return Samples(
            points=points[kept],
            dirs=dirs[ray[kept]],
            ray=ray[kept],
            slot=slot,
            t=t[kept],
            step=step,
            n_rays=origins.shape[0],
            n_slots=int(slot.max()) + 1 if len(slot) else 1,
        )


@dataclass(frozen=True)
class _Packed:
    """Variable-length runs of candidates, ray after ray: each one's ray and slot."""

    ray: torch.Tensor
    slot: torch.Tensor
    start: torch.Tensor

    @classmethod
    def of(cls, counts: torch.Tensor) -> _Packed:
        device = counts.device
        ray = torch.repeat_interleave(torch.arange(len(counts), device=device), counts)
        first = torch.cumsum(counts, 0) - counts
        start = first[ray]
        return cls(ray, torch.arange(len(ray), device=device) - start, start)

    def exclusive_cumsum(self, values: torch.Tensor) -> torch.Tensor:
        """Per ray, the sum of the values before each candidate (in float64 or int64:
        a sum across the whole batch must not lose the small ones)."""
        wide = values.double() if values.is_floating_point() else values
        total = torch.cumsum(wide, 0)
        shifted = torch.cat([total.new_zeros(1), total])
        before = shifted[:-1] - shifted[self.start]
        return before.to(values.dtype)


def box_intersection(origins, dirs, low, high) -> tuple[torch.Tensor, torch.Tensor]:
    """Per ray, where it enters (not before its origin) and leaves an axis-aligned box;
    rays that miss it leave before they enter."""
    safe = torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0, t1 = (low - origins) / safe, (high - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=1)
    return near, far
