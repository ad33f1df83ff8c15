"""The whole job: capture -> NeRF -> mesh -> one stylized mesh per style, with a report.

Stages talk through their result types only. Every artifact lands in the output folder
through atomic writes, and report.json (keys in DESIGN.md) is written last, so a report
on disk always describes files that exist.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.files import write_json, write_png
from backend.mesh.glb import write_glb
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.nerf.config import preset as nerf_preset
from backend.nerf.metrics import composite_white
from backend.nerf.stage import run_nerf_stage
from backend.raster import make_rasterizer
from backend.style.images import read_style_image
from backend.style.vgg import FeatureExtractor, load_features
from backend.stylize.texture import STYLE_LAYERS, Stylizer, StylizeSettings
from backend.stylize.views import MeshTensors, render

PRESET_STAGE2 = {
    "fast": (MeshSettings(), StylizeSettings()),
    "quality": (MeshSettings(face_budget=100_000), StylizeSettings(steps=400, pool_views=48)),
}


@dataclass(frozen=True)
class Style:
    """A style to apply: its name (file names, reports) and its image (H, W, 3)."""

    name: str
    image: np.ndarray


@dataclass(frozen=True)
class RunRequest:
    capture: Path
    styles: list[Style]
    out: Path
    preset: str = "fast"
    device: str = "auto"
    raster: str = "auto"
    steps: int | None = None
    max_side: int = 800
    download_weights: bool = True
    style_steps: int | None = None


def style_from_file(path: Path) -> Style:
    return Style(safe_name(Path(path).stem), read_style_image(path))


def safe_name(text: str) -> str:
    """A file-name-safe style name: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "style"


def unique_names(styles: list[Style]) -> list[Style]:
    seen: dict[str, int] = {}
    out = []
    for style in styles:
        count = seen.get(style.name, 0)
        seen[style.name] = count + 1
        out.append(style if count == 0 else Style(f"{style.name}_{count + 1}", style.image))
    return out


def run_pipeline(request: RunRequest) -> dict[str, object]:
    started = time.perf_counter()
    device = resolve_device(request.device)
    config = nerf_preset(request.preset)
    if request.steps is not None:
        config = config.with_steps(request.steps)
    mesh_settings, style_settings = PRESET_STAGE2[request.preset]
    if request.style_steps is not None:
        style_settings = replace(style_settings, steps=request.style_steps)
    capture = load_capture(request.capture, max_side=request.max_side)
    request.out.mkdir(parents=True, exist_ok=True)
    print(f"stage 1/3: NeRF on {len(capture.train)} views", flush=True)
    nerf = run_nerf_stage(capture, config, device, request.out)
    print("stage 2/3: mesh", flush=True)
    mesh = run_mesh_stage(nerf.model, capture, mesh_settings)
    write_glb(mesh.mesh, request.out / "mesh.glb", {"stage": "mesh"})
    features, weights = load_features(download=request.download_weights)
    rasterizer = make_rasterizer(request.raster, device)
    stylizer = Stylizer(
        mesh.mesh,
        capture,
        FeatureExtractor(features, STYLE_LAYERS),
        rasterizer,
        style_settings,
        device,
    )
    results = []
    for index, style in enumerate(unique_names(request.styles), start=1):
        print(f"stage 3/3: style {index}/{len(request.styles)} '{style.name}'", flush=True)
        result = stylizer.stylize(style.name, style.image)
        glb = request.out / f"stylized_{style.name}.glb"
        write_glb(
            result.mesh,
            glb,
            {
                "style": style.name,
                "settings": _settings(style_settings),
                "weights": {"vgg19": weights.kind},
            },
        )
        results.append((result, glb))
    _write_preview(
        request.out / "preview.png",
        capture,
        nerf.model,
        mesh.mesh,
        [r.mesh for r, _ in results],
        rasterizer,
        device,
    )
    report = {
        "device": str(device),
        "raster_backend": rasterizer.name,
        "weights": {"vgg19": weights.kind, "clip": "unused"},
        "capture": capture.summary(),
        "nerf": nerf.summary(),
        "mesh": mesh.summary(),
        "styles": [{**r.summary(), "glb": glb.name} for r, glb in results],
        "seconds_total": round(time.perf_counter() - started, 2),
    }
    write_json(request.out / "report.json", report)
    return report


def _settings(settings: StylizeSettings) -> dict[str, object]:
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}


def _write_preview(path, capture, model, mesh, styled, rasterizer, device) -> None:
    """Rows: capture, NeRF, mesh, then each style; columns: up to three held-out views."""
    frames = (capture.heldout or capture.train)[:3]
    tensors = MeshTensors.of(mesh, device)
    rows = [[composite_white(f.rgba) for f in frames], [model.render(f.camera) for f in frames]]
    for textured in [mesh, *styled]:
        texture = torch.tensor(textured.texture, device=device)
        rows.append(
            [render(rasterizer, tensors, texture, f.camera).image.cpu().numpy() for f in frames]
        )
    write_png(path, np.vstack([np.hstack(r) for r in rows]))
