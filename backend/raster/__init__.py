"""Differentiable rasterization: nvdiffrast on CUDA, a pure-PyTorch backend elsewhere."""

from backend.raster.backends import (
    RASTER_CHOICES,
    NvdiffrastRasterizer,
    TorchRasterizer,
    make_rasterizer,
    nvdiffrast_available,
)

__all__ = [
    "RASTER_CHOICES",
    "NvdiffrastRasterizer",
    "TorchRasterizer",
    "make_rasterizer",
    "nvdiffrast_available",
]
