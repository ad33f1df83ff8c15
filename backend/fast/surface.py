"""Surface samples for the colour net: what it is asked about, and where.

Training asks about the pixels of rendered views (the point each pixel sees, the ray's
direction, the point's UV to look the stylized textures up); baking asks about the texel
centres of the atlas (looking along the surface normal). Both carry the frozen stage-1
field's features at the point, in the field's normalized coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from backend.captures import Camera, SceneBox
from backend.mesh.bake import texel_attributes
from backend.mesh.textured import TexturedMesh
from backend.nerf.field import VoxelField
from backend.views.render import MeshTensors, rasterize_view


@dataclass(frozen=True)
class SurfaceSamples:
    """N surface points: normalized position, direction, field features and UV."""

    points: torch.Tensor
    dirs: torch.Tensor
    features: torch.Tensor
    uv: torch.Tensor

    def take(self, index: torch.Tensor) -> SurfaceSamples:
        return SurfaceSamples(
            self.points[index], self.dirs[index], self.features[index], self.uv[index]
        )

    def __len__(self) -> int:
        return len(self.points)


@torch.no_grad()
def field_features(field: VoxelField, points: torch.Tensor) -> torch.Tensor:
    """(N, 12): the field's diffuse colour and its SH coefficients, zero outside the grid."""
    out = torch.zeros(len(points), 12, device=points.device)
    inside = field.geometry.inside(points)
    for start in range(0, len(points), 1 << 18):
        part = slice(start, start + (1 << 18))
        keep = inside[part]
        raw = field.grid(points[part][keep])
        out[part][keep] = torch.cat([torch.sigmoid(raw[:, 1:4]), raw[:, 4:].clamp(-3, 3)], 1)
    return out


def view_samples(
    rasterizer,
    mesh: MeshTensors,
    cameras: list[Camera],
    box: SceneBox,
    field: VoxelField,
) -> SurfaceSamples:
    """Every covered pixel of every camera's view of the mesh."""
    points, dirs, uvs = [], [], []
    for camera in cameras:
        view = rasterize_view(rasterizer, mesh, camera)
        covered = view.rast[0, ..., 3] > 0
        seen = view.points[0][covered]
        centre = torch.tensor(camera.c2w[:3, 3], dtype=torch.float32, device=seen.device)
        direction = seen - centre
        points.append(seen)
        dirs.append(direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-9))
        uvs.append(view.uv[0][covered])
    return _samples(torch.cat(points), torch.cat(dirs), torch.cat(uvs), box, field)


def texel_samples(
    mesh: TexturedMesh, box: SceneBox, field: VoxelField
) -> tuple[SurfaceSamples, np.ndarray]:
    """The surface point of every covered texel, looked at along its normal, and the
    coverage mask (H, W) of the texture."""
    size = mesh.texture.shape[0]
    normals = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).vertex_normals
    attributes = np.concatenate([mesh.vertices, normals], 1)
    values, covered = texel_attributes(attributes, mesh.faces, mesh.uvs, size)
    points = torch.tensor(values[covered][:, :3], dtype=torch.float32)
    normal = torch.tensor(values[covered][:, 3:], dtype=torch.float32)
    dirs = -normal / normal.norm(dim=-1, keepdim=True).clamp(min=1e-9)
    texel_uv = torch.zeros(len(points), 2)
    device = field.grid.table.device
    samples = _samples(points.to(device), dirs.to(device), texel_uv.to(device), box, field)
    return samples, covered


def _samples(points, dirs, uvs, box: SceneBox, field: VoxelField) -> SurfaceSamples:
    device = field.grid.table.device
    normalized = torch.tensor(
        box.to_normalized(points.cpu().numpy()), dtype=torch.float32, device=device
    )
    return SurfaceSamples(normalized, dirs.to(device), field_features(field, normalized), uvs)
