"""One rasterizer API, two backends: nvdiffrast on CUDA, the project's PyTorch one anywhere.

Both take clip-space positions (B, V, 4), int32 triangles (F, 3) and return/consume
nvdiffrast's ``rast`` layout, so code above this module never knows which one it runs.
nvdiffrast (PyPI distribution ``diffrp-nvdiffrast``, compiled on first use) is under a
non-commercial licence; the PyTorch backend is the permissive path.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

import torch

from backend.errors import BackendError
from backend.raster import torch_raster

RASTER_CHOICES = ("auto", "torch", "nvdiffrast")


@dataclass
class TorchRasterizer:
    """Pure-PyTorch backend (CPU or GPU); see ``torch_raster`` for its algorithm."""

    name: str = "torch"

    def rasterize(self, pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]):
        return torch_raster.rasterize(pos, tri, resolution)

    def interpolate(self, attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor):
        return torch_raster.interpolate(attr, rast, tri)

    def texture(
        self, tex: torch.Tensor, uv: torch.Tensor, mip: bool = False, max_level: int | None = None
    ):
        return torch_raster.texture(tex, uv, mip, max_level)

    def antialias(self, colour, rast, pos, tri):
        return torch_raster.antialias(colour, rast)


@dataclass
class NvdiffrastRasterizer:
    """nvdiffrast's CUDA rasterizer (no OpenGL needed)."""

    name: str = "nvdiffrast"
    _dr: Any = field(default=None, repr=False)
    _context: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import nvdiffrast.torch as dr

        self._dr = dr
        self._context = dr.RasterizeCudaContext()

    def rasterize(self, pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]):
        rast, _ = self._dr.rasterize(
            self._context, pos.contiguous(), tri.int().contiguous(), resolution
        )
        return rast

    def interpolate(self, attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor):
        out, _ = self._dr.interpolate(attr.contiguous(), rast, tri.int().contiguous())
        return out

    def texture(
        self, tex: torch.Tensor, uv: torch.Tensor, mip: bool = False, max_level: int | None = None
    ):
        if not mip:
            return self._dr.texture(
                tex.contiguous(), uv.contiguous(), filter_mode="linear", boundary_mode="clamp"
            )
        return self._dr.texture(
            tex.contiguous(),
            uv.contiguous(),
            _uv_derivatives(uv),
            filter_mode="linear-mipmap-linear",
            boundary_mode="clamp",
            max_mip_level=max_level,
        )

    def antialias(self, colour, rast, pos, tri):
        return self._dr.antialias(
            colour.contiguous(), rast, pos.contiguous(), tri.int().contiguous()
        )


def _uv_derivatives(uv: torch.Tensor) -> torch.Tensor:
    """Screen-space uv derivatives (B, H, W, 4) by forward differences, for mip selection."""
    dx = torch.cat([uv[:, :, 1:] - uv[:, :, :-1], uv[:, :, -1:] - uv[:, :, -2:-1]], dim=2)
    dy = torch.cat([uv[:, 1:] - uv[:, :-1], uv[:, -1:] - uv[:, -2:-1]], dim=1)
    return torch.cat([dx, dy], dim=-1).contiguous()


def nvdiffrast_available() -> bool:
    return importlib.util.find_spec("nvdiffrast") is not None and torch.cuda.is_available()


def make_rasterizer(kind: str, device: torch.device) -> TorchRasterizer | NvdiffrastRasterizer:
    """``auto``: nvdiffrast when on CUDA and importable, else PyTorch."""
    if kind not in RASTER_CHOICES:
        raise BackendError(f"unknown rasterizer '{kind}' (choose from {', '.join(RASTER_CHOICES)})")
    if kind == "torch" or (
        kind == "auto" and (device.type != "cuda" or not nvdiffrast_available())
    ):
        return TorchRasterizer()
    if device.type != "cuda":
        raise BackendError("the nvdiffrast rasterizer needs --device cuda")
    try:
        return NvdiffrastRasterizer()
    except (ImportError, RuntimeError) as exc:
        if kind == "auto":
            return TorchRasterizer()
        raise BackendError(f"nvdiffrast is not usable here: {exc}") from exc
