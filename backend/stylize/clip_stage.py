"""A CLIP edit through the colour net and the CLIP mapper (the one-second route), as a
stage of a run, measured like the edit by optimization.

(The edit by optimization is the CLIP method, run by :class:`StyleStage` like any
other method.)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from backend.fast.apply import StyleApplier
from backend.fast.mapper_training import mapped_code, run_mapper
from backend.mesh.glb import write_glb
from backend.mesh.textured import TexturedMesh
from backend.methods.clip.edit import ClipEdit, ClipScore
from backend.methods.hybrid.method import shared_optimizer
from backend.stylize.stage import StyleStage


def run_clip_mapper(
    out: Path, stage: StyleStage, edit: ClipEdit, user_images: dict[str, np.ndarray]
) -> tuple[dict[str, object], TexturedMesh]:
    """The edit through the colour net: the mapper's code applied in one pass."""
    context = stage.context
    applier = StyleApplier.load(out, context.device)
    trained = run_mapper(out, applier, edit.clip, user_images)
    started = time.perf_counter()
    mapped = mapped_code(trained.mapper, edit.clip, edit.prompt, edit.exemplar)
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
    texture = torch.tensor(mesh.texture, device=context.device)
    measures = context.measures
    summary = {
        **trained.summary,
        "name": edit.name,
        "glb": glb.name,
        "apply_seconds": round(seconds, 3),
        "clip_seconds": round(mapped.seconds, 3),
        **ClipScore(shared_optimizer(context), edit).summary(texture),
        **measures.heldout.evaluate(texture, edit.exemplar).summary(),
        **measures.consistency(texture).summary(),
    }
    return summary, mesh
