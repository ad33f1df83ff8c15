"""A small textured head for stylization and consistency tests: the capture's ground
truth decimated, with a texture that is a function of the surface point."""

from __future__ import annotations

import numpy as np
import trimesh

from backend.captures import Capture
from backend.mesh.atlas import uv_atlas
from backend.mesh.bake import pad_gutters, surface_points
from backend.mesh.textured import TexturedMesh


def patterned_head(
    capture: Capture, texture_size: int, frequency: float, mean: float
) -> TexturedMesh:
    """4000 faces; colour ``mean + 0.3 sin(frequency * point)`` per channel."""
    head = trimesh.load(capture.gt_mesh_path, force="mesh").simplify_quadric_decimation(
        face_count=4000
    )
    vertices, faces, uvs = uv_atlas(head, texture_size)
    points, covered = surface_points(vertices, faces, uvs, texture_size)
    pattern = mean + 0.3 * np.sin(points * frequency)
    texture = pad_gutters(np.where(covered[..., None], pattern, 0.0).astype(np.float32), covered)
    return TexturedMesh(vertices, faces, uvs, texture)
