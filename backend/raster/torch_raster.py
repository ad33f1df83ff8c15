"""Pure-PyTorch rasterizer with nvdiffrast's conventions; runs on any device.

Conventions (as nvdiffrast): ``pos`` are clip-space positions (B, V, 4); pixel (i, j) has
its centre at NDC ((i + 0.5) / W * 2 - 1, (j + 0.5) / H * 2 - 1), so row 0 is the bottom
of the image (y = -1); ``rast`` is (B, H, W, 4) holding (u, v, z/w, triangle id + 1) with
id 0 for empty pixels, and an attribute interpolates as u * a0 + v * a1 + (1 - u - v) * a2
with perspective correction. Triangles with a vertex behind the camera (w <= 0) are not
drawn (no clipping), so keep the near plane in front of the mesh.

How it works: triangles are grouped by the size of their pixel bounding box, and each
group tests its candidate pixel centres in one batched operation; the nearest triangle
per pixel wins through one ``scatter_reduce`` over (depth, id) keys. The winning
triangle's barycentrics are then recomputed from ``pos`` with autograd, so gradients flow
to vertex positions as well as to attributes and textures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_DEPTH_BITS = 31
_EMPTY = torch.iinfo(torch.int64).max


def rasterize(pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """Per-pixel (u, v, z/w, id + 1) for a batch of clip-space meshes, (B, H, W, 4)."""
    height, width = resolution
    tri = tri.long()
    batches = []
    for b in range(pos.shape[0]):
        winner = _visible_triangle(pos[b].detach(), tri, height, width)
        batches.append(_barycentrics(pos[b], tri, winner, height, width))
    return torch.stack(batches)


def _screen(pos: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Clip -> (pixel x, pixel y, ndc z) with pixel centres at integer + 0.5."""
    ndc = pos[..., :3] / pos[..., 3:4]
    x = (ndc[..., 0] * 0.5 + 0.5) * width
    y = (ndc[..., 1] * 0.5 + 0.5) * height
    return torch.stack([x, y, ndc[..., 2]], dim=-1)


def _visible_triangle(pos: torch.Tensor, tri: torch.Tensor, height: int, width: int):
    """Id of the nearest triangle covering each pixel centre (-1 where none), (H, W)."""
    screen = _screen(pos, height, width)[tri]
    drawable = (pos[tri][..., 3] > 0).all(dim=1)
    low = torch.ceil(screen[..., :2].amin(dim=1) - 0.5).long()
    high = torch.floor(screen[..., :2].amax(dim=1) - 0.5).long()
    low = low.clamp(min=0)
    high = torch.minimum(high, torch.tensor([width - 1, height - 1], device=pos.device))
    size = (high - low + 1).amax(dim=1)
    drawable &= (high >= low).all(dim=1)
    corners = screen[..., :2]
    drawable &= _cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).abs() > 1e-12
    best = torch.full((height * width,), _EMPTY, dtype=torch.int64, device=pos.device)
    ids = torch.arange(len(tri), device=pos.device)
    side = 1
    while True:
        group = drawable & (size <= side) & (size > side // 2)
        if group.any():
            _cover(screen[group], ids[group], low[group], high[group], side, width, best)
        if side >= max(int(size.max()) if len(size) else 0, 1):
            break
        side *= 2
    winner = torch.where(best == _EMPTY, -1, best & ((1 << 32) - 1))
    return winner.view(height, width)


def _cover(screen, ids, low, high, side: int, width: int, best: torch.Tensor) -> None:
    """Test a side x side block of pixel centres per triangle; keep the nearest hit.

    Each barycentric is a linear function of the pixel centre, a + b x + c y, so over a
    block it is the triangle's value at the block's corner plus a column step and a row
    step: two broadcast adds per pixel instead of a cross product. Depth, also linear,
    is evaluated only where a triangle covers its pixel.
    """
    w0, w1, depth = _linear_forms(screen)
    corner = low.to(screen.dtype) + 0.5
    offsets = torch.arange(side, device=screen.device)
    steps = offsets.to(screen.dtype)
    cols = (high[:, 0] - low[:, 0])[:, None] >= offsets
    rows = (high[:, 1] - low[:, 1])[:, None] >= offsets

    def block(form: torch.Tensor) -> torch.Tensor:
        at_corner = form[:, 0] + form[:, 1] * corner[:, 0] + form[:, 2] * corner[:, 1]
        across = at_corner[:, None] + form[:, 1:2] * steps
        return across[:, None, :] + (form[:, 2:3] * steps)[:, :, None]

    first, second = block(w0), block(w1)
    covered = (first >= 0) & (second >= 0) & (first + second <= 1)
    covered &= rows[:, :, None] & cols[:, None, :]
    t, row, col = covered.nonzero(as_tuple=True)
    x, y = low[t, 0] + col, low[t, 1] + row
    at = depth[t]
    z = at[:, 0] + at[:, 1] * (x.to(screen.dtype) + 0.5) + at[:, 2] * (y.to(screen.dtype) + 0.5)
    keep = (z >= -1.0) & (z <= 1.0)
    quantized = ((z[keep] * 0.5 + 0.5) * ((1 << _DEPTH_BITS) - 1)).long()
    keys = (quantized << 32) | ids[t[keep]]
    best.scatter_reduce_(0, y[keep] * width + x[keep], keys, reduce="amin")


def _linear_forms(screen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(a, b, c) per triangle, (T, 3) each, of w0, w1 and screen depth as a + b x + c y.

    w0 is the signed area of (p, v1, v2) over the triangle's, w1 that of (p, v2, v0);
    callers drop zero-area triangles first, which cover no pixel centre.
    """
    a, b, c = screen[:, 0], screen[:, 1], screen[:, 2]
    area = _cross(b[:, :2] - a[:, :2], c[:, :2] - a[:, :2])

    def opposite(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Signed area of (x, p, q) over the triangle's, as a + b x + c y."""
        constant = p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]
        return torch.stack([constant, p[:, 1] - q[:, 1], q[:, 0] - p[:, 0]], -1) / area[:, None]

    w0, w1 = opposite(b, c), opposite(c, a)
    depth = w0 * (a[:, 2:3] - c[:, 2:3]) + w1 * (b[:, 2:3] - c[:, 2:3])
    depth[:, 0] += c[:, 2]
    return w0, w1, depth


def _edge_barycentrics(corners: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Screen-space barycentrics (..., 3) of points w.r.t. triangles (..., 3, 2)."""
    a, b, c = corners[..., 0, :], corners[..., 1, :], corners[..., 2, :]
    area = _cross(b - a, c - a)
    safe = torch.where(area.abs() < 1e-12, torch.full_like(area, 1e-12), area)
    w0 = _cross(b - point, c - point) / safe
    w1 = _cross(c - point, a - point) / safe
    return torch.stack([w0, w1, 1.0 - w0 - w1], dim=-1)


def _cross(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]


def _barycentrics(pos, tri, winner, height: int, width: int) -> torch.Tensor:
    """Differentiable (u, v, z/w, id + 1) of the winning triangle at each pixel."""
    out = torch.zeros(height, width, 4, dtype=pos.dtype, device=pos.device)
    j, i = (winner >= 0).nonzero(as_tuple=True)
    if len(j) == 0:
        return out
    face = tri[winner[j, i]]
    screen = _screen(pos, height, width)[face]
    centre = torch.stack([i, j], dim=-1).to(pos.dtype) + 0.5
    linear = _edge_barycentrics(screen[..., :2], centre)
    inverse_w = 1.0 / pos[face][..., 3]
    perspective = linear * inverse_w
    perspective = perspective / perspective.sum(dim=-1, keepdim=True)
    depth = (linear * screen[..., 2]).sum(dim=-1)
    ident = (winner[j, i] + 1).to(pos.dtype)
    values = torch.stack([perspective[:, 0], perspective[:, 1], depth, ident], dim=-1)
    return out.index_put((j, i), values)


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Attributes (V, C) or (B, V, C) at each pixel, (B, H, W, C); zero where empty.

    Only covered pixels are interpolated and scattered into the zero image: a head fills
    a third of its views, so this does a third of the work of interpolating everywhere.
    """
    ident = rast[..., 3].long()
    b, j, i = (ident > 0).nonzero(as_tuple=True)
    face = tri.long()[ident[b, j, i] - 1]
    corners = attr[face] if attr.dim() == 2 else attr[b[:, None], face]
    uv = rast[b, j, i, :2]
    u, v = uv[:, 0:1], uv[:, 1:2]
    value = corners[:, 0] * u + corners[:, 1] * v + corners[:, 2] * (1 - u - v)
    out = torch.zeros(*rast.shape[:3], attr.shape[-1], dtype=value.dtype, device=rast.device)
    return out.index_put((b, j, i), value)


def texture(
    tex: torch.Tensor, uv: torch.Tensor, mip: bool = False, max_level: int | None = None
) -> torch.Tensor:
    """Bilinear lookup of textures (B, Ht, Wt, C) at uv (B, H, W, 2), clamped at borders.

    uv (0, 0) is the first texel in memory, texel centres at (k + 0.5) / size, as in
    nvdiffrast. With ``mip`` the level of a mip pyramid is chosen per pixel from the
    screen-space footprint of uv and blended between the two nearest levels, up to
    ``max_level`` (atlases keep charts a few texels apart, so coarser levels would bleed
    neighbouring charts into each other).
    """
    image = tex.permute(0, 3, 1, 2)
    grid = uv * 2.0 - 1.0
    if not mip:
        return _sample(image, grid)
    levels = [image]
    while min(levels[-1].shape[-2:]) > 1 and (max_level is None or len(levels) <= max_level):
        levels.append(F.avg_pool2d(levels[-1], 2, ceil_mode=True))
    lod = _level_of_detail(uv, tex.shape[2], tex.shape[1]).clamp(0, len(levels) - 1)
    result = torch.zeros(*uv.shape[:3], tex.shape[-1], dtype=tex.dtype, device=tex.device)
    for level, layer in enumerate(levels):
        weight = (1.0 - (lod - level).abs()).clamp(min=0.0)[..., None]
        if bool((weight > 0).any()):
            result = result + weight * _sample(layer, grid)
    return result


def _sample(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.permute(0, 2, 3, 1)


def _level_of_detail(uv: torch.Tensor, tex_width: int, tex_height: int) -> torch.Tensor:
    """log2 of the texel footprint of one pixel, from uv differences to the neighbours.

    Per axis the smaller of the forward and backward difference is used: across a UV
    seam one side jumps to another chart, the other side still measures the surface.
    """
    scale = torch.tensor([tex_width, tex_height], dtype=uv.dtype, device=uv.device)
    texels = uv.detach() * scale
    footprint = None
    for dim in (1, 2):
        forward = (torch.roll(texels, -1, dims=dim) - texels).norm(dim=-1)
        backward = (texels - torch.roll(texels, 1, dims=dim)).norm(dim=-1)
        along = torch.minimum(forward, backward)
        footprint = along if footprint is None else torch.maximum(footprint, along)
    return torch.log2(footprint.clamp(min=1e-6)).clamp(min=0.0)


def antialias(colour: torch.Tensor, rast: torch.Tensor) -> torch.Tensor:
    """Soften silhouette edges: pixels whose neighbour shows another surface or the
    background take a quarter of that neighbour's colour per differing side.

    A simplification of nvdiffrast's analytic antialiasing: it removes stair-steps along
    outlines for losses and previews, and is differentiable in ``colour`` (not in
    positions). Interior triangle edges are left alone, as nvdiffrast does.
    """
    covered = (rast[..., 3] > 0).to(colour.dtype)[..., None]
    depth = rast[..., 2:3]
    out = colour
    for shift, dim in ((1, 1), (-1, 1), (1, 2), (-1, 2)):
        other = torch.roll(colour, shift, dims=dim)
        other_cov = torch.roll(covered, shift, dims=dim)
        other_depth = torch.roll(depth, shift, dims=dim)
        edge = (covered != other_cov) | ((covered > 0) & ((other_depth - depth).abs() > 0.01))
        out = out + 0.125 * edge.to(colour.dtype) * (other - colour)
    return out
