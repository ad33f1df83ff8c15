"""Lay what a method made back onto the stage-2 mesh's texture: images of known views
(projective texturing), or a radiance field's colour (baked as stage 2 bakes the
unstylized field).

The per-view baseline's images are 2D results: to land in Blender as a head they are
projected back onto the stage-2 mesh. Each texel takes the mean of the views that see
its surface point (same surface point at the pixel it projects to, within a few pixels'
footprint, facing the camera), weighted by the squared cosine between the view and the
normal so that grazing views count little. Texels no view sees keep ``fallback``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from backend.captures import Camera, Capture
from backend.mesh.bake import bake_texture, pad_gutters, texel_attributes
from backend.mesh.geometry import vertex_normals, welded
from backend.mesh.textured import TexturedMesh
from backend.mesh.visibility import visible_vertices
from backend.nerf.field import VoxelField
from backend.views.render import Frame

FOOTPRINT_PIXELS = 2.0
MIN_COSINE = 0.2


def project_views(
    mesh: TexturedMesh, frames: list[Frame], cameras: list[Camera], fallback: np.ndarray
) -> np.ndarray:
    """Texture (S, S, 3) of ``frames`` (images with the mesh's surface points, as
    :func:`backend.views.render.render` gives) seen from ``cameras``."""
    size = mesh.texture.shape[0]
    points, welded_faces, position = welded(mesh.vertices, mesh.faces)
    normals = vertex_normals(points, welded_faces)[position]
    values, covered = texel_attributes(np.c_[mesh.vertices, normals], mesh.faces, mesh.uvs, size)
    texel_points = values[covered][:, :3].astype(np.float64)
    texel_normals = values[covered][:, 3:]
    texel_normals /= np.linalg.norm(texel_normals, axis=1, keepdims=True).clip(min=1e-12)
    total = np.zeros((len(texel_points), 3))
    weight = np.zeros(len(texel_points))
    for frame, camera in zip(frames, cameras, strict=True):
        colours, weights = _seen_colours(frame, camera, texel_points, texel_normals)
        total += colours * weights[:, None]
        weight += weights
    texture = fallback.astype(np.float32).copy()
    seen = weight > 0
    rows = texture[covered]
    rows[seen] = total[seen] / weight[seen, None]
    texture[covered] = rows
    return pad_gutters(texture, covered)


def _seen_colours(
    frame: Frame, camera: Camera, points: np.ndarray, normals: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each point's colour in the frame and its weight (zero where the view does not
    see it)."""
    pixels, depth = camera.project(points)
    k = camera.intrinsics
    col, row = np.floor(pixels[:, 0]).astype(int), np.floor(pixels[:, 1]).astype(int)
    inside = (depth > 0) & (col >= 0) & (row >= 0) & (col < k.width) & (row < k.height)
    rays = camera.center - points
    rays /= np.linalg.norm(rays, axis=1, keepdims=True).clip(min=1e-12)
    cosine = np.abs(np.sum(rays * normals, axis=1))
    weights = np.zeros(len(points))
    idx = np.nonzero(inside)[0]
    surface = frame.points.detach().cpu().numpy()[row[idx], col[idx]]
    covered = frame.coverage.detach().cpu().numpy()[row[idx], col[idx]] > 0
    gap = np.linalg.norm(surface - points[idx], axis=1)
    footprint = depth[idx] / k.fx * FOOTPRINT_PIXELS
    visible = covered & (gap < footprint) & (cosine[idx] > MIN_COSINE)
    weights[idx[visible]] = cosine[idx[visible]] ** 2
    colours = np.zeros((len(points), 3))
    if visible.any():
        grid = pixels[idx[visible]] / [k.width, k.height] * 2.0 - 1.0
        image = frame.image.detach().cpu().permute(2, 0, 1)[None].float()
        grid_t = torch.tensor(grid, dtype=torch.float32)[None, None]
        sampled = F.grid_sample(image, grid_t, align_corners=False)[0, :, 0].T
        colours[idx[visible]] = sampled.numpy()
    return colours, weights


@torch.no_grad()
def bake_field(mesh: TexturedMesh, capture: Capture, field: VoxelField) -> np.ndarray:
    """A field's view-independent colour on the head's texture, as stage 2 bakes the
    unstylized field (unseen surface continued from the seen)."""
    seen = visible_vertices(mesh.vertices, mesh.faces, [f.camera for f in capture.train])
    size = mesh.texture.shape[0]
    return bake_texture(field, capture.box, mesh.vertices, mesh.faces, mesh.uvs, size, seen.seen)
