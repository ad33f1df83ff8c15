"""Bake the field's diffuse colour into a texture through the mesh's UV layout."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from backend.captures import SceneBox
from backend.mesh.geometry import welded
from backend.mesh.visibility import harmonic_fill
from backend.nerf.field import VoxelField
from backend.raster import TorchRasterizer

GUTTER_TEXELS = 16


def surface_points(
    vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each texel: the 3D point of the mesh it shows (size, size, 3) and a coverage mask."""
    return texel_attributes(vertices, faces, uvs, size)


def texel_attributes(
    attributes: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex attributes (V, C) interpolated at every texel centre (size, size, C),
    and the coverage mask of the texture.

    The UV layout is rasterized as a flat mesh (uv -> clip space), so each texel centre
    gets the barycentric blend of its triangle's vertex attributes.
    """
    raster = TorchRasterizer()
    clip = np.concatenate([uvs * 2.0 - 1.0, np.zeros((len(uvs), 1)), np.ones((len(uvs), 1))], 1)
    pos = torch.tensor(clip, dtype=torch.float32)[None]
    tri = torch.tensor(faces, dtype=torch.int32)
    rast = raster.rasterize(pos, tri, (size, size))
    values = raster.interpolate(torch.tensor(attributes, dtype=torch.float32), rast, tri)[0]
    return values.numpy(), (rast[0, ..., 3] > 0).numpy()


def bake_texture(
    field: VoxelField,
    box: SceneBox,
    vertices: np.ndarray,
    faces: np.ndarray,
    uvs: np.ndarray,
    size: int,
    seen: np.ndarray | None = None,
) -> np.ndarray:
    """Texture (size, size, 3) of the field's view-independent colour, with padded gutters.

    ``seen`` (per vertex) marks the surface some capture camera saw; texels of faces
    with an unseen vertex take the seen colours continued smoothly over the mesh
    (:func:`harmonic_fill`) instead of the field's, which holds nothing trustworthy there.
    """
    device = field.grid.table.device
    known = np.ones(len(vertices), bool) if seen is None else seen
    colours = _vertex_colours(field, box, vertices, faces, known, device)
    values, covered = texel_attributes(np.c_[vertices, known, colours], faces, uvs, size)
    points, seen_texels, continued = values[..., :3], values[..., 3] > 0.999, values[..., 4:]
    texture = np.zeros((size, size, 3), dtype=np.float32)
    texture[covered] = _field_colours(field, box, points[covered], device)
    unseen = covered & ~seen_texels
    texture[unseen] = continued[unseen]
    return pad_gutters(texture, covered)


def _vertex_colours(
    field: VoxelField,
    box: SceneBox,
    vertices: np.ndarray,
    faces: np.ndarray,
    known: np.ndarray,
    device: torch.device,
) -> np.ndarray:
    """The field's colour at seen vertices, continued over the welded surface elsewhere."""
    points, welded_faces, position = welded(vertices, faces)
    seen = np.zeros(len(points), bool)
    seen[position] = known
    colours = harmonic_fill(_field_colours(field, box, points, device), seen, welded_faces)
    return colours[position]


def _field_colours(
    field: VoxelField, box: SceneBox, points: np.ndarray, device: torch.device
) -> np.ndarray:
    """The field's view-independent colour at world ``points`` (N, 3); black outside."""
    normalized = torch.tensor(box.to_normalized(points), dtype=torch.float32, device=device)
    inside = field.geometry.inside(normalized)
    colours = torch.zeros(len(normalized), 3, device=device)
    for start in range(0, len(normalized), 1 << 18):
        chunk = slice(start, start + (1 << 18))
        query = normalized[chunk][inside[chunk]]
        colours[chunk][inside[chunk]] = field.diffuse_colour(query)
    return colours.cpu().numpy()


def pad_gutters(texture: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Grow chart colours outward into empty texels, so bilinear and mip lookups at chart
    borders never blend in the background (no visible seams)."""
    image = torch.from_numpy(texture).permute(2, 0, 1)[None]
    mask = torch.from_numpy(covered.astype(np.float32))[None, None]
    for _ in range(GUTTER_TEXELS):
        summed = F.avg_pool2d(image * mask, 3, stride=1, padding=1, divisor_override=1)
        count = F.avg_pool2d(mask, 3, stride=1, padding=1, divisor_override=1)
        grown = (count > 0) & (mask == 0)
        image = torch.where(grown, summed / count.clamp(min=1), image)
        mask = torch.maximum(mask, grown.float())
    filled = image[0].permute(1, 2, 0).numpy()
    mean = texture[covered].mean(axis=0) if covered.any() else np.full(3, 0.5)
    return np.where(mask[0, 0].numpy()[..., None] > 0, filled, mean).astype(np.float32)
