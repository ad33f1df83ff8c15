"""Stage 2 benchmark: mesh extraction, one style, and rasterizer throughput.

    python benchmarks/stylize.py [--run-dir OUT] [--style-steps 150] [--device auto]

With ``--run-dir`` (a folder written by ``python -m backend demo`` or ``nerf``) the
trained field is reused; otherwise the sample capture is trained first. Prints one JSON
object and a table. Rasterizer throughput is milliseconds per 512 x 512 frame of the
extracted head: forward (rasterize + interpolate + mip-mapped texture) and backward
(gradient to the texture), for every backend this machine can run. The baked mesh's
fidelity is its PSNR against the capture's held-out images (over white, 4 x 4 samples
per pixel): a mesh that sits inside the true surface shows as a thinner outline there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.methods.base import MethodContext
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.methods.hybrid.settings import StylizeSettings
from backend.nerf.checkpoint import load_model
from backend.nerf.config import preset
from backend.nerf.metrics import composite_white, psnr
from backend.nerf.trainer import Trainer
from backend.pretrained.registry import load_backbone
from backend.raster import make_rasterizer, nvdiffrast_available
from backend.sample import sample_capture_dir
from backend.style.builtin import BUILTIN_STYLES
from backend.style.judge import Judge
from backend.views.cameras import orbit_views
from backend.views.render import MeshTensors, rasterize_view, render, shade

FRAMES = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--style-steps", type=int, default=150)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    capture = load_capture(sample_capture_dir())
    started = time.perf_counter()
    if args.run_dir is not None:
        model, _ = load_model(args.run_dir / "nerf", device)
    else:
        trainer = Trainer(capture, preset("fast"), device)
        trainer.train()
        model = trainer.model()
    nerf_seconds = time.perf_counter() - started
    mesh = run_mesh_stage(model, capture, MeshSettings())
    backbone = load_backbone("vgg16")
    stylizer = TextureOptimizer(
        MethodContext.create(
            mesh.mesh,
            capture,
            None,
            backbone,
            Judge.load().to(device),
            make_rasterizer("auto", device),
            StylizeSettings(steps=args.style_steps),
            device,
        )
    )
    style = stylizer.stylize("strokes", BUILTIN_STYLES["strokes"]())
    result = {
        "device": str(device),
        "weights": backbone.provenance.to_dict(),
        "nerf_seconds": round(nerf_seconds, 1),
        "mesh": mesh.summary(),
        "mesh_heldout_psnr": _heldout_psnr(mesh.mesh, capture, device),
        "style": style.summary(),
        "raster_ms_per_frame_512": {
            name: _throughput(name, mesh.mesh, capture, device) for name in _backends(device)
        },
    }
    print(json.dumps(result, indent=2))
    print(f"\n{'stage':<34} {'seconds':>8}")
    for name, seconds in mesh.seconds.items():
        print(f"{'mesh: ' + name:<34} {seconds:>8.1f}")
    print(f"{'mesh held-out PSNR (dB)':<34} {result['mesh_heldout_psnr']:>8.2f}")
    print(f"{'style (' + str(args.style_steps) + ' steps, 256 px)':<34} {style.seconds:>8.1f}")
    for name, numbers in result["raster_ms_per_frame_512"].items():
        print(f"raster {name}: forward {numbers['forward']} ms, backward {numbers['backward']} ms")


def _backends(device: torch.device) -> list[str]:
    return (
        ["torch", "nvdiffrast"] if nvdiffrast_available() and device.type == "cuda" else ["torch"]
    )


def _throughput(name: str, mesh, capture, device: torch.device) -> dict[str, float]:
    rasterizer = make_rasterizer(name, device)
    tensors = MeshTensors.of(mesh, device)
    cameras = orbit_views(capture, FRAMES, 512, 60.0)
    texture = torch.tensor(mesh.texture, device=device, requires_grad=True)
    forward = backward = 0.0
    for camera in cameras:
        _sync(device)
        t0 = time.perf_counter()
        view = rasterize_view(rasterizer, tensors, camera)
        image = shade(rasterizer, view, tensors.faces, texture).image
        _sync(device)
        t1 = time.perf_counter()
        image.mean().backward()
        _sync(device)
        forward += t1 - t0
        backward += time.perf_counter() - t1
    return {
        "forward": round(forward / FRAMES * 1000, 1),
        "backward": round(backward / FRAMES * 1000, 1),
    }


def _heldout_psnr(mesh, capture, device: torch.device) -> float:
    rasterizer = make_rasterizer("auto", device)
    tensors = MeshTensors.of(mesh, device)
    texture = torch.tensor(mesh.texture, device=device)
    scores = [
        psnr(
            render(rasterizer, tensors, texture, frame.camera, supersample=4).image.cpu().numpy(),
            composite_white(frame.rgba),
        )
        for frame in capture.heldout
    ]
    return round(float(np.mean(scores)), 2)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
