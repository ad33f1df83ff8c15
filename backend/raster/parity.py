"""Two rasterizer backends on the same head: do they agree, and how fast is each?

The PyTorch backend is the reference that runs everywhere; nvdiffrast must give the same
triangle per pixel (up to ties on shared edges) and the same interpolated attributes.
The CUDA test asserts on this comparison and ``benchmarks/gpu_check.py`` records it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import trimesh


@dataclass(frozen=True)
class Parity:
    """Agreement of ``candidate`` with ``reference`` on one frame, and their times (s)."""

    reference: str
    candidate: str
    resolution: int
    same_triangle: float
    max_attribute_error: float
    reference_seconds: float
    candidate_seconds: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def head_in_clip_space(
    mesh: trimesh.Trimesh, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mesh centred and scaled into the view, seen along its -Y axis: clip positions
    (1, V, 4) and int32 triangles."""
    v = torch.tensor(mesh.vertices, dtype=torch.float32, device=device)
    v = (v - v.mean(0)) / (v - v.mean(0)).abs().max() * 0.8
    pos = torch.cat([v[:, [0, 2]], v[:, 1:2] * 0.5, torch.ones_like(v[:, :1])], 1)[None]
    return pos, torch.tensor(mesh.faces, dtype=torch.int32, device=device)


def compare(
    reference, candidate, mesh: trimesh.Trimesh, device: torch.device, resolution: int
) -> Parity:
    """Rasterize and interpolate random vertex attributes with both backends."""
    pos, tri = head_in_clip_space(mesh, device)
    attr = torch.rand(pos.shape[1], 3, device=device, generator=None)
    frames, seconds = [], []
    for rasterizer in (reference, candidate):
        rasterizer.rasterize(pos, tri, (resolution, resolution))  # warm-up (and compile)
        _sync(device)
        started = time.perf_counter()
        rast = rasterizer.rasterize(pos, tri, (resolution, resolution))
        values = rasterizer.interpolate(attr, rast, tri)
        _sync(device)
        seconds.append(time.perf_counter() - started)
        frames.append((rast, values))
    (rast_a, values_a), (rast_b, values_b) = frames
    same = rast_a[..., 3] == rast_b[..., 3]
    error = (values_a - values_b)[same].abs().max() if same.any() else torch.tensor(np.inf)
    return Parity(
        reference.name,
        candidate.name,
        resolution,
        float(same.float().mean()),
        float(error),
        round(seconds[0], 5),
        round(seconds[1], 5),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
