"""Volume rendering: composite the selected samples of each ray over a background."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from backend.nerf.field import VoxelField
from backend.nerf.sampler import Sampler, Samples

# The opacity by which a ray has met the subject, for carving: the first place a
# viewer could see something, not where most of the ray's weight lies.
FRONT_OPACITY = 0.1


@dataclass(frozen=True)
class RenderOutput:
    """Per ray: colour over the background (N, 3), opacity (N,), expected depth (N,).

    ``distortion`` is the mean distortion loss of the rays (mip-NeRF 360): small when each
    ray's weight sits in one thin interval, as on a hard surface. ``front`` is the depth by
    which the ray's opacity reaches ``FRONT_OPACITY`` (inf where it never does): space in
    front of it is empty. The expected depth is not: where a ray's weight spreads in depth
    (a field trained behind a learned background, without the distortion loss) it falls
    behind the skin, and carving by it cut into the head.
    """

    rgb: torch.Tensor
    opacity: torch.Tensor
    depth: torch.Tensor
    distortion: torch.Tensor | None = None
    front: torch.Tensor | None = None


def composite(
    field: VoxelField,
    samples: Samples,
    background: torch.Tensor,
    distortion: bool = False,
    front: bool = False,
) -> RenderOutput:
    """Alpha-composite samples front to back: C = sum_i T_i a_i c_i + (1 - sum_i T_i a_i) B."""
    depth_per_voxel, rgb = field(samples.points, samples.dirs)
    optical = depth_per_voxel * (samples.step / field.geometry.voxel)
    dense = torch.zeros(samples.n_rays, samples.n_slots, device=optical.device)
    dense = dense.index_put((samples.ray, samples.slot), optical)
    before = (torch.cumsum(dense, dim=1) - dense)[samples.ray, samples.slot]
    weights = torch.exp(-before) * -torch.expm1(-optical)
    n = samples.n_rays
    colour = torch.zeros(n, 3, device=rgb.device).index_add(0, samples.ray, weights[:, None] * rgb)
    opacity = torch.zeros(n, device=rgb.device).index_add(0, samples.ray, weights)
    depth = torch.zeros(n, device=rgb.device).index_add(0, samples.ray, weights * samples.t)
    rgb_out = colour + (1.0 - opacity)[:, None] * background
    loss = _distortion(samples, weights) if distortion else None
    first = _first_depth(samples, before + optical) if front else None
    return RenderOutput(rgb_out, opacity, depth, loss, first)


def _first_depth(samples: Samples, optical_after: torch.Tensor) -> torch.Tensor:
    """Per ray, the depth of the first sample by which the accumulated opacity reaches
    ``FRONT_OPACITY``; inf where it never does."""
    reached = torch.where(optical_after >= -math.log1p(-FRONT_OPACITY), samples.t, torch.inf)
    first = torch.full((samples.n_rays,), torch.inf, device=samples.t.device)
    return first.scatter_reduce(0, samples.ray, reached, "amin")


def _distortion(samples: Samples, weights: torch.Tensor) -> torch.Tensor:
    """sum_ij w_i w_j |t_i - t_j| + step/3 sum_i w_i^2, in O(samples) with prefix sums."""
    index = (samples.ray, samples.slot)
    shape = (samples.n_rays, samples.n_slots)
    w = torch.zeros(shape, device=weights.device).index_put(index, weights)
    wt = torch.zeros(shape, device=weights.device).index_put(index, weights * samples.t)
    w_before = (torch.cumsum(w, dim=1) - w)[index]
    wt_before = (torch.cumsum(wt, dim=1) - wt)[index]
    pairs = 2.0 * weights * (samples.t * w_before - wt_before)
    own = samples.step / 3.0 * weights**2
    return (pairs + own).sum() / samples.n_rays


@torch.no_grad()
def render_rays(
    field: VoxelField,
    sampler: Sampler,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    background: torch.Tensor,
    chunk: int = 16384,
) -> RenderOutput:
    """Render many rays in chunks without gradients (evaluation, previews)."""
    parts = []
    for i in range(0, origins.shape[0], chunk):
        o, d, b = origins[i : i + chunk], dirs[i : i + chunk], background[i : i + chunk]
        samples = sampler.sample(field, o, d, jitter=False)
        parts.append(composite(field, samples, b, front=True))
    return RenderOutput(
        torch.cat([p.rgb for p in parts]),
        torch.cat([p.opacity for p in parts]),
        torch.cat([p.depth for p in parts]),
        front=torch.cat([p.front for p in parts]),
    )
