"""The whole job: capture -> NeRF -> mesh -> one stylized mesh per style, with a report.

Stages talk through their result types only. Every artifact lands in the output folder
through atomic writes, and report.json (keys in DESIGN.md) is written last, so a report
on disk always describes files that exist.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.errors import BackendError, CheckpointError
from backend.files import write_json, write_png
from backend.mesh.glb import read_glb, write_glb
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.nerf.config import preset as nerf_preset
from backend.nerf.metrics import composite_white
from backend.nerf.stage import NerfResult, load_nerf_result, run_nerf_stage
from backend.progress import Progress, ProgressSink, RunPlan
from backend.raster import make_rasterizer
from backend.style.images import read_style_image
from backend.style.vgg import FeatureExtractor, load_features
from backend.stylize.texture import STYLE_LAYERS, Stylizer, StylizeSettings
from backend.stylize.views import MeshTensors, render

__all__ = ["Progress", "RunRequest", "Style", "run_pipeline", "style_from_file"]

# Stage records (each stage's report section), written after the stage's artifacts, so
# that their presence marks the stage as finished when a run resumes.
STAGES = "stages"

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
    """One run of the pipeline. ``resume`` continues a run already in ``out``."""

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
    colour_transfer: bool = True
    resume: bool = False

    def record(self) -> dict[str, object]:
        """What decides the stages' outputs; a resumed run must match it."""
        return {
            "capture": str(Path(self.capture).resolve()),
            "preset": self.preset,
            "steps": self.steps,
            "max_side": self.max_side,
            "style_steps": self.style_steps,
            "colour_transfer": self.colour_transfer,
        }


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


def run_pipeline(request: RunRequest, progress: ProgressSink | None = None) -> dict[str, object]:
    """Run every stage (skipping finished ones when resuming) and write report.json last."""
    started = time.perf_counter()
    device = resolve_device(request.device)
    capture = load_capture(request.capture, max_side=request.max_side)
    styles = unique_names(request.styles)
    plan = RunPlan(["nerf", "mesh", "stylize", "report"], progress)
    request.out.mkdir(parents=True, exist_ok=True)
    _check_record(request)
    nerf = _nerf(request, capture, device, plan)
    mesh, mesh_summary = _mesh(request, capture, nerf, plan)
    rasterizer = make_rasterizer(request.raster, device)
    weights, styled = _stylize(request, styles, capture, mesh, rasterizer, device, plan)
    plan.report("report", 0.0, "writing the preview and the report")
    _write_preview(
        request.out / "preview.png",
        capture,
        nerf.model,
        mesh,
        [m for m, _ in styled],
        rasterizer,
        device,
    )
    report = {
        "device": str(device),
        "raster_backend": rasterizer.name,
        "weights": {"vgg19": weights, "clip": "unused"},
        "capture": capture.summary(),
        "nerf": nerf.summary(),
        "mesh": mesh_summary,
        "styles": [summary for _, summary in styled],
        "seconds_total": round(time.perf_counter() - started, 2),
    }
    write_json(request.out / "report.json", report)
    plan.report("report", 1.0, "done")
    return report


def _check_record(request: RunRequest) -> None:
    """Write run.json; when resuming, refuse an ``out`` made with other settings."""
    path = request.out / "run.json"
    record = request.record()
    if request.resume and path.is_file():
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BackendError(f"{path}: cannot read the earlier run's settings ({exc})") from exc
        changed = sorted(k for k in record if previous.get(k) != record[k])
        if changed:
            raise BackendError(
                f"{request.out} holds a run with other settings ({', '.join(changed)}); "
                "resume it with the same settings or choose another output folder"
            )
    write_json(path, record)


def _nerf(request: RunRequest, capture, device, plan: RunPlan) -> NerfResult:
    if request.resume and (done := load_nerf_result(request.out, device)) is not None:
        plan.report("nerf", 1.0, "stage 1/3: NeRF already trained")
        return done
    config = nerf_preset(request.preset)
    if request.steps is not None:
        config = config.with_steps(request.steps)
    message = f"stage 1/3: NeRF on {len(capture.train)} views"
    print(message, flush=True)

    def step(done: int, total: int, psnr: float) -> None:
        plan.report("nerf", 0.9 * done / total, f"{message}: step {done}/{total}, {psnr:.1f} dB")

    plan.report("nerf", 0.0, message)
    return run_nerf_stage(capture, config, device, request.out, progress=step)


def _mesh(request: RunRequest, capture, nerf: NerfResult, plan: RunPlan):
    """The textured head and its report section, from ``mesh.glb`` when resuming."""
    record = request.out / STAGES / "mesh.json"
    if request.resume and record.is_file() and (request.out / "mesh.glb").is_file():
        plan.report("mesh", 1.0, "stage 2/3: mesh already extracted")
        return read_glb(request.out / "mesh.glb")[0], _read_record(record)
    print("stage 2/3: mesh", flush=True)
    settings = PRESET_STAGE2[request.preset][0]
    result = run_mesh_stage(
        nerf.model,
        capture,
        settings,
        lambda done, name: plan.report("mesh", done, f"stage 2/3: mesh ({name} done)"),
    )
    write_glb(result.mesh, request.out / "mesh.glb", {"stage": "mesh"})
    write_json(record, result.summary())
    return result.mesh, result.summary()


def _stylize(request: RunRequest, styles, capture, mesh, rasterizer, device, plan: RunPlan):
    """One stylized GLB per style; finished ones are read back when resuming."""
    settings = replace(PRESET_STAGE2[request.preset][1], colour_transfer=request.colour_transfer)
    if request.style_steps is not None:
        settings = replace(settings, steps=request.style_steps)
    features, weights = load_features(download=request.download_weights)
    stylizer: Stylizer | None = None
    out = []
    for index, style in enumerate(styles):
        message = f"stage 3/3: style {index + 1}/{len(styles)} '{style.name}'"
        glb = request.out / f"stylized_{style.name}.glb"
        record = request.out / STAGES / f"style_{style.name}.json"
        if request.resume and record.is_file() and glb.is_file():
            out.append((read_glb(glb)[0], _read_record(record)))
            continue
        print(message, flush=True)
        plan.report("stylize", index / len(styles), message)
        if stylizer is None:
            extractor = FeatureExtractor(features, STYLE_LAYERS)
            stylizer = Stylizer(mesh, capture, extractor, rasterizer, settings, device)

        def step(done: int, total: int, loss: float, index=index, message=message) -> None:
            fraction = (index + done / total) / len(styles)
            plan.report("stylize", fraction, f"{message}: step {done}/{total}")

        result = stylizer.stylize(style.name, style.image, step)
        extras = {
            "style": style.name,
            "settings": _settings(settings),
            "weights": {"vgg19": weights.kind},
        }
        write_glb(result.mesh, glb, extras)
        summary = {**result.summary(), "glb": glb.name}
        write_json(record, summary)
        out.append((result.mesh, summary))
    return weights.kind, out


def _read_record(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot resume from this stage record ({exc})") from exc


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
