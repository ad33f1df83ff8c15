"""Rendering a textured mesh from cameras: rasterized once per view, textured per result,
supersampled where a figure must not depend on one sample per pixel."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from backend.captures import Camera
from backend.mesh.atlas import MAX_MIP_LEVEL
from backend.mesh.textured import TexturedMesh
from backend.raster.projection import clip_matrix


@dataclass(frozen=True)
class MeshTensors:
    """A mesh's arrays on the device, ready to rasterize."""

    vertices: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor

    @classmethod
    def of(cls, mesh: TexturedMesh, device: torch.device) -> MeshTensors:
        return cls(
            torch.tensor(mesh.vertices, dtype=torch.float32, device=device),
            torch.tensor(mesh.faces, dtype=torch.int32, device=device),
            torch.tensor(mesh.uvs, dtype=torch.float32, device=device),
        )


@dataclass(frozen=True)
class Frame:
    """A rendered view: image (H, W, 3) top row first, coverage (H, W), and the surface
    point and unit face normal seen at each pixel (H, W, 3), in the capture's coordinates."""

    image: torch.Tensor
    coverage: torch.Tensor
    points: torch.Tensor
    normals: torch.Tensor


@dataclass(frozen=True)
class ViewRaster:
    """What a view sees of the mesh, independent of its texture: rasterized once."""

    rast: torch.Tensor
    pos: torch.Tensor
    uv: torch.Tensor
    points: torch.Tensor
    normals: torch.Tensor


def rasterize_view(rasterizer, mesh: MeshTensors, camera: Camera) -> ViewRaster:
    k = camera.intrinsics
    matrix = torch.tensor(clip_matrix(camera), dtype=torch.float32, device=mesh.vertices.device)
    homogeneous = torch.cat([mesh.vertices, torch.ones_like(mesh.vertices[:, :1])], dim=1)
    pos = (homogeneous @ matrix.T)[None]
    rast = rasterizer.rasterize(pos, mesh.faces, (k.height, k.width))
    uv = rasterizer.interpolate(mesh.uvs, rast, mesh.faces)
    points = rasterizer.interpolate(mesh.vertices, rast, mesh.faces)
    return ViewRaster(rast, pos, uv, points, _pixel_normals(mesh, rast))


def _pixel_normals(mesh: MeshTensors, rast: torch.Tensor) -> torch.Tensor:
    """The unit normal of the triangle each pixel sees (zero where none is)."""
    corners = mesh.vertices.detach()[mesh.faces.long()]
    normals = torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1)
    normals = torch.nn.functional.normalize(normals, dim=-1)
    ident = rast[..., 3].long()
    return normals[(ident - 1).clamp(min=0)] * (ident > 0)[..., None]


def shade(
    rasterizer,
    view: ViewRaster,
    faces: torch.Tensor,
    texture: torch.Tensor,
    background: float = 1.0,
) -> Frame:
    """Texture a rasterized view (differentiable in ``texture``)."""
    colour = rasterizer.texture(texture[None], view.uv, mip=True, max_level=MAX_MIP_LEVEL)
    coverage = (view.rast[..., 3:4] > 0).float()
    colour = colour * coverage + background * (1.0 - coverage)
    colour = rasterizer.antialias(colour, view.rast, view.pos, faces)
    return Frame(
        colour[0].flip(0),
        coverage[0, ..., 0].flip(0),
        view.points[0].flip(0),
        view.normals[0].flip(0),
    )


def render(
    rasterizer, mesh: MeshTensors, texture: torch.Tensor, camera: Camera, supersample: int = 1
) -> Frame:
    """Rasterize and texture the mesh from one camera.

    With ``supersample`` n > 1 the view is rendered at n times the resolution and box
    filtered down, as a production renderer's many samples per pixel would: one sample
    per pixel aliases fine texture detail differently from each viewpoint. A pixel then
    counts as covered only when all its samples are, and its surface point is the mean
    of its samples' points.
    """
    view = rasterize_supersampled(rasterizer, mesh, camera, supersample)
    return shade_supersampled(rasterizer, view, mesh.faces, texture, supersample)


def rasterize_supersampled(
    rasterizer, mesh: MeshTensors, camera: Camera, supersample: int
) -> ViewRaster:
    """The view rasterized at ``supersample`` times its resolution: what :func:`render`
    needs of the geometry, kept by callers that texture one view many times."""
    k = camera.intrinsics
    fine = Camera(k.resized(k.width * supersample, k.height * supersample), camera.c2w)
    return rasterize_view(rasterizer, mesh, fine if supersample > 1 else camera)


def shade_supersampled(
    rasterizer, view: ViewRaster, faces: torch.Tensor, texture: torch.Tensor, supersample: int
) -> Frame:
    """A view from :func:`rasterize_supersampled`, textured and box filtered down."""
    frame = shade(rasterizer, view, faces, texture)
    if supersample <= 1:
        return frame
    image = _box(frame.image, supersample)
    coverage = _box(frame.coverage[..., None], supersample)[..., 0]
    points = _box(frame.points * frame.coverage[..., None], supersample)
    points = points / coverage.clamp(min=1e-6)[..., None]
    normals = torch.nn.functional.normalize(_box(frame.normals, supersample), dim=-1)
    return Frame(image, (coverage > 0.999).to(image.dtype), points, normals)


class SupersampledViews:
    """A head's views of ``cameras``, rasterized once at ``supersample`` times their size
    (on first use) and then only textured again for each texture: texturing a view costs
    a tenth of rasterizing it at 4 x 4 samples. For the fixed views that measure every
    result of one head (the judge's, the consistency arc's)."""

    def __init__(self, rasterizer, mesh: MeshTensors, cameras: list[Camera], supersample: int):
        self.rasterizer, self.mesh = rasterizer, mesh
        self.cameras, self.supersample = cameras, supersample

    @functools.cached_property
    def rasters(self) -> list[ViewRaster]:
        return [
            rasterize_supersampled(self.rasterizer, self.mesh, c, self.supersample)
            for c in self.cameras
        ]

    def frames(self, texture: torch.Tensor) -> list[Frame]:
        """Every view with ``texture`` on the head, box filtered to the cameras' size."""
        faces = self.mesh.faces
        return [
            shade_supersampled(self.rasterizer, view, faces, texture, self.supersample)
            for view in self.rasters
        ]


def _box(image: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean over factor x factor blocks of an (H, W, C) image."""
    pooled = torch.nn.functional.avg_pool2d(image.permute(2, 0, 1)[None], factor)
    return pooled[0].permute(1, 2, 0)
