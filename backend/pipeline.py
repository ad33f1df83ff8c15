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
from PIL import Image

from backend.captures import Capture, load_capture
from backend.captures.from_photos import PhotosRequest, capture_from_photos
from backend.captures.photos import is_photo_folder, read_photo_folder
from backend.device import resolve_device
from backend.errors import BackendError
from backend.fast.colornet import ColorNetConfig
from backend.fast.styles import EXTRA_TRAINING_STYLES, TRAINING_STYLES
from backend.files import write_json, write_png
from backend.mesh.glb import (
    FACE_BUDGETS,
    GLTF_AXES,
    TEXTURE_SIZES,
    GltfExport,
    read_glb,
    write_glb,
)
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.methods.base import MethodContext
from backend.methods.clip.edit import ClipEdit, edit_name
from backend.methods.clip.method import ClipMethod
from backend.methods.hybrid.settings import StylizeSettings
from backend.methods.registry import HYBRID, check_method
from backend.nerf.config import preset as nerf_preset
from backend.nerf.metrics import composite_white
from backend.nerf.stage import RESULT as NERF_RECORD
from backend.nerf.stage import NerfResult, load_nerf_result, run_nerf_stage
from backend.pretrained.clip import Clip, load_clip
from backend.pretrained.networks import IMAGENET, Backbone
from backend.pretrained.registry import load_backbone
from backend.progress import Progress, ProgressSink, RunPlan
from backend.raster import make_rasterizer
from backend.style.clip_loss import check_prompt
from backend.style.images import read_style_image
from backend.style.judge import Judge
from backend.stylize.clip_stage import run_clip_mapper
from backend.stylize.colornet_stage import TRAINING_STYLES_DIR, run_colornet_stage
from backend.stylize.stage import StyleStage, read_record, weights_record
from backend.views.judging import JUDGE_SUPERSAMPLE, judge_cameras
from backend.views.render import MeshTensors, render

__all__ = ["Progress", "RunRequest", "Style", "run_pipeline", "style_from_file"]

# Stage records (each stage's report section), written after the stage's artifacts, so
# that their presence marks the stage as finished when a run resumes.
STAGES = "stages"
# Where a run given a folder of photos writes the capture estimated from them.
PHOTO_CAPTURE = "capture"

PRESET_COLORNET = {"fast": ColorNetConfig(), "quality": ColorNetConfig(steps=3000)}
PRESET_TRAINING_STYLES = {
    "fast": TRAINING_STYLES,
    "quality": TRAINING_STYLES + EXTRA_TRAINING_STYLES,
}

# What a run.json written before a setting existed meant by leaving it out.
OLDER_RECORDS: dict[str, object] = {
    "material": "lit",
    "texture_size": None,
    "face_budget": None,
    "prompt": None,
    "exemplar": None,
    "clip_weights": None,
    "method": HYBRID,
}

# The built-in styles that only feed the colour net are optimized more cheaply in the fast
# preset: at 60 steps and 160 px renders instead of 150 and 256, the colour net's figures
# on the held-out style stayed the same on the sample head (judge +8.6% / x1.95 /
# content LPIPS 0.39 against +8.7% / x1.94 / 0.39, RMSE to the optimization 0.446 both;
# docs/BENCHMARKS.md) while its three training styles took 42 s instead of 147 s.
PRESET_TRAINING_STAGE2: dict[str, dict[str, int]] = {
    "fast": {"steps": 60, "render_size": 160},
    "quality": {},
}

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
    """One run of the pipeline. ``resume`` continues a run already in ``out``.

    ``features`` is the style losses' network (``vgg16``, or ``vgg19`` where torchvision's
    checkpoint is at hand) and ``weights`` its weights: ``imagenet``, or ``random`` only
    when a user asks for it to debug; nothing falls back to it. ``material``,
    ``texture_size`` and ``face_budget`` are the export choices (None: the preset's).
    ``prompt`` or ``exemplar`` adds a CLIP edit, scored by the CLIP in ``clip_weights``
    (None: transformers' cache).
    """

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
    colornet: bool = False
    colornet_steps: int | None = None
    vertex_offsets: bool = False
    features: str = "vgg16"
    weights: str = IMAGENET
    material: str = "lit"
    texture_size: int | None = None
    face_budget: int | None = None
    prompt: str | None = None
    exemplar: Style | None = None
    clip_weights: Path | None = None
    method: str = HYBRID

    def __post_init__(self) -> None:
        GltfExport(self.material)
        check_method(self.method)
        if self.prompt is not None and self.exemplar is not None:
            raise BackendError("give a prompt or an exemplar image, not both")
        if self.prompt is not None:
            check_prompt(self.prompt)
        if self.texture_size is not None and self.texture_size not in TEXTURE_SIZES:
            sizes = ", ".join(map(str, TEXTURE_SIZES))
            raise BackendError(f"texture size must be one of {sizes}, got {self.texture_size}")
        low, high = FACE_BUDGETS
        if self.face_budget is not None and not low <= self.face_budget <= high:
            raise BackendError(f"face budget must be {low} to {high}, got {self.face_budget}")

    @property
    def wants_clip(self) -> bool:
        return self.prompt is not None or self.exemplar is not None

    def export_record(self) -> dict[str, object]:
        """report.json's ``export``: how the GLBs were written."""
        settings = mesh_settings(self.record())
        return {
            "material": self.material,
            "texture_size": settings.texture_size,
            "face_budget": settings.face_budget,
            **{k: v for k, v in GLTF_AXES.items() if k != "from_capture"},
        }

    def record(self) -> dict[str, object]:
        """What decides the stages' outputs; a resumed run must match it."""
        return {
            "capture": str(Path(self.capture).resolve()),
            "preset": self.preset,
            "steps": self.steps,
            "max_side": self.max_side,
            "style_steps": self.style_steps,
            "colour_transfer": self.colour_transfer,
            "vertex_offsets": self.vertex_offsets,
            "features": self.features,
            "weights": self.weights,
            "material": self.material,
            "texture_size": self.texture_size,
            "face_budget": self.face_budget,
            "prompt": self.prompt,
            "exemplar": self.exemplar.name if self.exemplar is not None else None,
            "clip_weights": str(self.clip_weights) if self.clip_weights is not None else None,
            "method": self.method,
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
    photos = is_photo_folder(Path(request.capture))
    capture = _checked_input(request, photos)
    backbone, judge = load_networks(request, device)
    clip = _load_clip(request, device)
    styles = unique_names(request.styles)
    stages = [
        *(["cameras"] if photos else []),
        "nerf",
        "mesh",
        "stylize",
        *(["clip"] if clip is not None else []),
        *(["colornet"] if request.colornet else []),
        "report",
    ]
    plan = RunPlan(stages, progress)
    request.out.mkdir(parents=True, exist_ok=True)
    _check_record(request)
    if capture is None:
        capture = load_capture(_cameras(request, plan), max_side=request.max_side)
    nerf = _nerf(request, capture, device, plan)
    mesh, mesh_summary = _mesh(request, capture, nerf, plan)
    stage = _style_stage(request, capture, mesh, nerf, backbone, judge, clip, device)
    styled = _stylize(request, styles, stage, plan)
    report = {
        "device": str(device),
        "raster_backend": stage.context.rasterizer.name,
        "export": request.export_record(),
        "weights": {
            **weights_record(backbone, judge),
            "clip": clip.provenance.to_dict() if clip is not None else "unused",
        },
        "capture": capture.summary(),
        "nerf": nerf.summary(),
        "mesh": mesh_summary,
        "styles": [summary for _, summary in styled],
    }
    previews = [m for m, _ in styled]
    edit = _clip_request(request, clip)
    if edit is not None:
        edited, summary = _clip_edit(request, stage, edit, plan)
        report["styles"].append(summary)
        previews.append(edited)
    if request.colornet:
        user = [(s.name, s.image, m) for s, (m, _) in zip(styles, styled, strict=True)]
        report["colornet"], applied = _colornet(request, stage, nerf, user, plan)
        previews.append(applied)
        if edit is not None:
            images = {s.name: s.image for s in styles}
            report["clip_mapper"], mapped = _clip_mapper(request, stage, edit, images, plan)
            previews.append(mapped)
    plan.report("report", 0.0, "writing the preview and the report")
    _write_preview(
        request.out / "preview.png",
        capture,
        nerf.model,
        mesh,
        previews,
        stage.context.rasterizer,
        device,
    )
    report["seconds_total"] = round(time.perf_counter() - started, 2)
    write_json(request.out / "report.json", report)
    plan.report("report", 1.0, "done")
    return report


def _checked_input(request: RunRequest, photos: bool) -> Capture | None:
    """The capture, loaded and checked before anything is written; for a folder of
    photos only the photos are checked here (None: their cameras come first)."""
    if photos:
        read_photo_folder(Path(request.capture))
        return None
    return load_capture(request.capture, max_side=request.max_side)


def _cameras(request: RunRequest, plan: RunPlan) -> Path:
    """The capture folder estimated from the photos (by capture-from-photos) in the run's
    output folder, or the one an earlier run estimated when resuming."""
    folder = request.out / PHOTO_CAPTURE
    if request.resume and (folder / "transforms.json").is_file():
        plan.report("cameras", 1.0, "cameras: already estimated")
        return folder
    message = f"cameras: estimating them from the photos in {request.capture} (COLMAP)"
    print(message, flush=True)
    plan.report("cameras", 0.0, message)
    return capture_from_photos(
        PhotosRequest(Path(request.capture), folder, overwrite=True),
        lambda p: plan.report("cameras", p.fraction, f"cameras: {p.message}"),
    )


def _load_clip(request: RunRequest, device: torch.device) -> Clip | None:
    """CLIP, when the run edits by prompt or exemplar: loaded before anything is written,
    so that without weights a run stops at once with the way to get them."""
    if not request.wants_clip:
        return None
    return load_clip(request.clip_weights, request.download_weights).to(device)


def _clip_request(request: RunRequest, clip: Clip | None) -> ClipEdit | None:
    if clip is None:
        return None
    exemplar = request.exemplar.image if request.exemplar is not None else None
    name = edit_name(request.prompt, request.exemplar.name if request.exemplar else None)
    return ClipEdit(name, clip, request.prompt, exemplar)


def _clip_edit(request: RunRequest, stage: StyleStage, edit: ClipEdit, plan: RunPlan):
    """The edit by optimization: the CLIP method, towards the prompt or the exemplar."""
    message = f"CLIP edit '{edit.name}'"
    print(message, flush=True)
    plan.report("clip", 0.0, message)
    target = edit.prompt if edit.prompt is not None else edit.exemplar
    return stage.with_method(ClipMethod.name).run(
        edit.name,
        target,
        request.out / f"stylized_clip_{edit.name}.glb",
        request.out / STAGES / f"clip_{edit.name}.json",
        lambda done, text: plan.report("clip", done, f"{message}: {text}"),
    )


def _clip_mapper(request: RunRequest, stage: StyleStage, edit: ClipEdit, images, plan: RunPlan):
    """The edit through the colour net and the CLIP mapper (trained now if the run has
    none for these weights)."""
    plan.report("colornet", 0.95, f"colour net: CLIP mapper for '{edit.name}'")
    return run_clip_mapper(request.out, stage, edit, images)


def _check_record(request: RunRequest) -> None:
    """Write run.json; when resuming, refuse an ``out`` made with other settings, and
    otherwise forget the stages an earlier run finished there."""
    path = request.out / "run.json"
    record = request.record()
    if request.resume and path.is_file():
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BackendError(f"{path}: cannot read the earlier run's settings ({exc})") from exc
        changed = sorted(k for k in record if previous.get(k, OLDER_RECORDS.get(k)) != record[k])
        if changed:
            raise BackendError(
                f"{request.out} holds a run with other settings ({', '.join(changed)}); "
                "resume it with the same settings or choose another output folder"
            )
    else:
        _forget_finished_stages(request.out)
    write_json(path, record)


def _forget_finished_stages(out: Path) -> None:
    """A fresh run into a used folder: earlier stage records must not mark its stages done."""
    records = [*(out / STAGES).glob("*.json"), *(out / TRAINING_STYLES_DIR).glob("*.json")]
    for record in [*records, out / "nerf" / NERF_RECORD]:
        record.unlink(missing_ok=True)


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
        return read_glb(request.out / "mesh.glb")[0], read_record(record)
    print("stage 2/3: mesh", flush=True)
    plan.report("mesh", 0.0, "stage 2/3: mesh")
    settings = mesh_settings(request.record())
    result = run_mesh_stage(
        nerf.model,
        capture,
        settings,
        lambda done, name: plan.report("mesh", done, f"stage 2/3: mesh ({name} done)"),
    )
    write_glb(result.mesh, request.out / "mesh.glb", {"stage": "mesh"}, gltf_export(request))
    write_json(record, result.summary())
    return result.mesh, result.summary()


def mesh_settings(record: dict[str, object]) -> MeshSettings:
    """The mesh stage's settings for a run: the preset's, with the export choices."""
    settings = PRESET_STAGE2[str(record["preset"])][0]
    if record.get("texture_size") is not None:
        settings = replace(settings, texture_size=int(record["texture_size"]))
    if record.get("face_budget") is not None:
        settings = replace(settings, face_budget=int(record["face_budget"]))
    return settings


def gltf_export(request: RunRequest) -> GltfExport:
    return GltfExport(request.material)


def stylize_settings(record: dict[str, object]) -> StylizeSettings:
    """Stage 2's settings for a run, from its :meth:`RunRequest.record` (run.json)."""
    settings = replace(
        PRESET_STAGE2[str(record["preset"])][1],
        colour_transfer=bool(record["colour_transfer"]),
        vertex_offsets=bool(record["vertex_offsets"]),
    )
    if record["style_steps"] is not None:
        settings = replace(settings, steps=int(record["style_steps"]))
    return settings


def load_networks(request: RunRequest, device: torch.device) -> tuple[Backbone, Judge]:
    """The feature network and the judge, loaded (and fetched, where allowed) before
    anything is written: without them a run stops at once with the way to get them."""
    backbone = load_backbone(request.features, request.weights, request.download_weights)
    return backbone.to(device), Judge.load(request.download_weights).to(device)


def _style_stage(
    request: RunRequest, capture, mesh, nerf, backbone, judge, clip, device
) -> StyleStage:
    context = MethodContext.create(
        mesh,
        capture,
        nerf.model,
        backbone,
        judge,
        make_rasterizer(request.raster, device),
        stylize_settings(request.record()),
        device,
        request.download_weights,
        clip,
    )
    return StyleStage(context, request.resume, gltf_export(request), request.method)


def _stylize(request: RunRequest, styles: list[Style], stage: StyleStage, plan: RunPlan):
    """One stylized GLB per style; finished ones are read back when resuming."""
    out = []
    for index, style in enumerate(styles):
        message = f"stage 3/3: style {index + 1}/{len(styles)} '{style.name}'"
        print(message, flush=True)
        plan.report("stylize", index / len(styles), message)
        out.append(
            stage.run(
                style.name,
                style.image,
                request.out / f"stylized_{style.name}.glb",
                request.out / STAGES / f"style_{style.name}.json",
                lambda done, text, i=index, m=message: plan.report(
                    "stylize", (i + done) / len(styles), f"{m}: {text}"
                ),
            )
        )
    return out


def _colornet(request: RunRequest, stage: StyleStage, nerf: NerfResult, user, plan: RunPlan):
    """The colour net's report section and the head under the held-out style."""
    record = request.out / STAGES / "colornet.json"
    if request.resume and record.is_file() and (request.out / "colornet.json").is_file():
        summary = read_record(record)
        return summary, read_glb(request.out / str(summary["glb"]))[0]
    print("colour net: training styles, training, held-out evaluation", flush=True)
    summary, applied = run_colornet_stage(
        stage,
        nerf.model.field,
        user,
        _colornet_config(request),
        request.out,
        lambda done, text: plan.report("colornet", done, f"colour net: {text}"),
        PRESET_TRAINING_STYLES[request.preset],
        stage.with_settings(_training_settings(stage.settings, request.preset)),
    )
    write_json(record, summary)
    return summary, applied


def _training_settings(settings: StylizeSettings, preset: str) -> StylizeSettings:
    """Stage 2 for the built-in training styles: the preset's cheaper settings, never more
    steps than the user's own styles get."""
    cheaper = PRESET_TRAINING_STAGE2[preset]
    steps = min(settings.steps, cheaper.get("steps", settings.steps))
    return replace(settings, **{**cheaper, "steps": steps})


def _colornet_config(request: RunRequest) -> ColorNetConfig:
    config = PRESET_COLORNET[request.preset]
    if request.colornet_steps is not None:
        config = replace(config, steps=request.colornet_steps)
    return config


def _write_preview(path, capture, model, mesh, styled, rasterizer, device) -> None:
    """Rows: capture, NeRF, mesh, then each style; columns: up to three held-out views,
    each at ``JUDGE_SIZE`` px (the judge's renders: big enough to see strokes and a face).
    The field is rendered at the capture's own size and resized like the photo above it:
    it holds no finer detail than it was trained on, and a half-trained field's fog made
    a render at the judge's size cost seconds per view.
    """
    frames = (capture.heldout or capture.train[::8])[:3]
    cameras = judge_cameras(capture)[:3]
    tensors = MeshTensors.of(mesh, device)
    pairs = list(zip(frames, cameras, strict=True))
    rows = [
        [_resized(composite_white(f.rgba), c) for f, c in pairs],
        [_resized(model.render(f.camera), c) for f, c in pairs],
    ]
    for textured in [mesh, *styled]:
        texture = torch.tensor(textured.texture, device=device)
        rows.append(
            [
                render(rasterizer, tensors, texture, c, JUDGE_SUPERSAMPLE).image.cpu().numpy()
                for c in cameras
            ]
        )
    write_png(path, np.vstack([np.hstack(r) for r in rows]))


def _resized(image: np.ndarray, camera) -> np.ndarray:
    """A capture image resampled (bicubic) to ``camera``'s size."""
    k = camera.intrinsics
    pixels = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(pixels.resize((k.width, k.height), Image.BICUBIC), np.float32) / 255.0
