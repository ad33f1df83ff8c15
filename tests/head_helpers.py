"""A small textured head for stylization and consistency tests: the capture's ground
truth decimated, with a texture that is a function of the surface point; and the
context the methods are built from, on the CPU with the PyTorch rasterizer."""

from __future__ import annotations

import numpy as np
import torch
import trimesh

from backend.captures import Capture
from backend.mesh.atlas import uv_atlas
from backend.mesh.bake import pad_gutters, surface_points
from backend.mesh.textured import TexturedMesh
from backend.methods.base import MethodContext
from backend.methods.hybrid.settings import StylizeSettings
from backend.nerf.model import NerfModel
from backend.pretrained.clip import Clip
from backend.pretrained.registry import load_backbone
from backend.raster import make_rasterizer
from backend.style.judge import Judge

CPU = torch.device("cpu")


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


def method_context(
    mesh: TexturedMesh,
    capture: Capture,
    settings: StylizeSettings,
    nerf: NerfModel | None = None,
    clip: Clip | None = None,
) -> MethodContext:
    """A run's context for ``mesh``: ImageNet VGG16 and the judge from the cache."""
    return MethodContext.create(
        mesh,
        capture,
        nerf,
        load_backbone("vgg16", download=False),
        Judge.load(download=False),
        make_rasterizer("torch", CPU),
        settings,
        CPU,
        clip=clip,
    )
