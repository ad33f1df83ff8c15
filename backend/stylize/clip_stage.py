"""CLIP edits as stages of a run: by optimization (stage 2 with a CLIP term; the quality
route) and through the colour net with the CLIP mapper (the one-second route).

Like the other stages, each writes its artifact first and its record after it, so a
resumed run reads a finished edit back instead of optimizing it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from backend.files import write_json
from backend.mesh.glb import read_glb, write_glb
from backend.mesh.textured import TexturedMesh
from backend.pretrained.clip import Clip
from backend.style.builtin import BUILTIN_STYLES
from backend.stylize.apply import StyleApplier
from backend.stylize.clip_edit import SHAPE_BENDING_WEIGHT, ClipEdit, ClipScore, clip_edit
from backend.stylize.clip_mapper import (
    ClipMapper,
    MappedCode,
    MapperConfig,
    exemplar_code,
    load_mapper,
    mapper_pairs,
    prompt_code,
    save_mapper,
    train_mapper,
)
from backend.stylize.stage import HELDOUT_STYLE, Report, StyleStage, read_record


def run_clip_edit(
    stage: StyleStage, edit: ClipEdit, glb: Path, record: Path, report: Report
) -> tuple[TexturedMesh, dict[str, object]]:
    """The edited head and its report section (read back if finished). With vertex
    offsets on, the edit moves the shape too, under the normal-consistency penalty."""
    if stage.resume and record.is_file() and glb.is_file():
        return read_glb(glb)[0], read_record(record)
    if stage.settings.vertex_offsets:
        stage = stage.with_settings(replace(stage.settings, bending_weight=SHAPE_BENDING_WEIGHT))
    result = clip_edit(
        stage.stylizer,
        edit,
        lambda done, total, loss: report(done / total, f"step {done}/{total}"),
    )
    settings = {k: getattr(stage.settings, k) for k in stage.settings.__dataclass_fields__}
    extras = {
        "style": edit.name,
        "method": "clip",
        "clip": result.figures["clip"],
        "settings": settings,
        "weights": {**stage.weights_record(), "clip": edit.clip.provenance.to_dict()},
    }
    write_glb(result.result.mesh, glb, extras, stage.export)
    summary = {**result.summary(), "glb": glb.name}
    write_json(record, summary)
    return result.result.mesh, summary


@dataclass(frozen=True)
class MapperRun:
    """A run's mapper and, when it was trained now, how well it learned."""

    mapper: ClipMapper
    summary: dict[str, object]


def run_mapper(
    run_dir: Path,
    applier: StyleApplier,
    clip: Clip,
    user_images: dict[str, np.ndarray],
    config: MapperConfig | None = None,
) -> MapperRun:
    """The run's mapper for these CLIP weights: loaded, or trained on the built-in styles
    (but the held-out one, on which it is measured) and the user's, then saved."""
    loaded = load_mapper(run_dir, clip.provenance)
    if loaded is not None:
        return MapperRun(loaded, {"trained": False})
    config = config or MapperConfig()
    started = time.perf_counter()
    images = {n: BUILTIN_STYLES[n]() for n in BUILTIN_STYLES if n != HELDOUT_STYLE}
    images.update({f"user_{n}": image for n, image in user_images.items()})
    pairs = mapper_pairs(clip, applier, images, config.crops, config.seed)
    z_dim = applier.saved.net.config.z_dim
    mapper = train_mapper(pairs, z_dim, config)
    save_mapper(mapper, run_dir, clip.provenance, pairs.names)
    summary = {
        "trained": True,
        "seconds": round(time.perf_counter() - started, 2),
        "pairs": len(pairs.names),
        "styles": len(images),
        "heldout_relative_error": round(
            _relative_error(mapper, clip, applier, BUILTIN_STYLES[HELDOUT_STYLE](), pairs), 4
        ),
    }
    return MapperRun(mapper, summary)


def mapped_code(mapper: ClipMapper, clip: Clip, edit: ClipEdit) -> MappedCode:
    if edit.prompt is not None:
        return prompt_code(mapper, clip, edit.prompt)
    return exemplar_code(mapper, clip, edit.exemplar)


def run_clip_mapper(
    out: Path, stage: StyleStage, edit: ClipEdit, user_images: dict[str, np.ndarray]
) -> tuple[dict[str, object], TexturedMesh]:
    """The edit through the colour net: the mapper's code applied in one pass."""
    applier = StyleApplier.load(out, stage.device)
    trained = run_mapper(out, applier, edit.clip, user_images)
    started = time.perf_counter()
    mapped = mapped_code(trained.mapper, edit.clip, edit)
    mesh = applier.apply_code(mapped.code)
    seconds = time.perf_counter() - started
    glb = out / f"colornet_clip_{edit.name}.glb"
    extras = {
        "style": edit.name,
        "method": "clip-mapper",
        "colornet": True,
        "weights": {**applier.weights_record(), "clip": edit.clip.provenance.to_dict()},
    }
    write_glb(mesh, glb, extras, stage.export)
    texture = torch.tensor(mesh.texture, device=stage.device)
    stylizer = stage.stylizer
    summary = {
        **trained.summary,
        "name": edit.name,
        "glb": glb.name,
        "apply_seconds": round(seconds, 3),
        "clip_seconds": round(mapped.seconds, 3),
        **ClipScore(stylizer, edit).summary(texture),
        **stylizer.heldout.evaluate(texture, edit.exemplar).summary(),
        **stylizer.consistency(texture).summary(),
    }
    return summary, mesh


def _relative_error(mapper, clip, applier, image, pairs) -> float:
    """|mapper z - encoder z| of an image, relative to the training codes' spread."""
    target = applier.code(image).z.cpu()
    with torch.no_grad():
        embedding = clip.encode_image(image).cpu()
    z = mapper.code(embedding).z.cpu()
    codes = pairs.targets[:, : mapper.z_dim]
    spread = (codes - codes.mean(0)).norm(dim=-1).mean().clamp(min=1e-6)
    return float((z - target).norm() / spread)
