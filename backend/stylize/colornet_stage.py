"""Stage 3 as a stage of a run: the colour net trained on stage-2 results of the built-in
and the user's styles, saved, and measured on the style it never saw against a full
per-style optimization of that style."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from backend.fast.apply import StyleApplier
from backend.fast.colornet import ColorNetConfig
from backend.fast.colornet_io import SavedColorNet, save_colornet
from backend.fast.colornet_train import TrainingStyle, train_colornet
from backend.fast.styles import HELDOUT_STYLE, TRAINING_STYLES
from backend.mesh.glb import write_glb
from backend.mesh.textured import TexturedMesh
from backend.methods.hybrid.method import shared_optimizer
from backend.nerf.field import VoxelField
from backend.pretrained.networks import FeatureExtractor
from backend.style.builtin import BUILTIN_STYLES
from backend.style.encoder import STAT_LAYERS
from backend.stylize.colornet_eval import evaluate_heldout
from backend.stylize.stage import Report, StyleStage

# Where the built-in training styles' stage-2 results land in a run's folder.
TRAINING_STYLES_DIR = "colornet_styles"


def run_colornet_stage(
    stage: StyleStage,
    field: VoxelField,
    user_styles: list[tuple[str, np.ndarray, TexturedMesh]],
    config: ColorNetConfig,
    out: Path,
    report: Report,
    builtin_styles: tuple[str, ...] = TRAINING_STYLES,
    training_stage: StyleStage | None = None,
) -> tuple[dict[str, object], TexturedMesh]:
    """Train on the built-in and the user's styles, save, and measure on the held-out one.

    The built-in styles are optimized by ``training_stage`` (default: ``stage``), which
    may be cheaper: they only feed the colour net. The held-out style's reference
    optimization uses ``stage``, as a user's own style would. Returns the report section
    and the head under the held-out style (for the preview).
    """
    training_stage = training_stage or stage
    started = time.perf_counter()
    taken = {name for name, _, _ in user_styles}
    builtin = [n for n in builtin_styles if n not in taken]
    parts = len(builtin) + 2
    # A user style that happens to share the held-out style's name keeps its own codes.
    training = [
        TrainingStyle(f"user_{n}" if n == HELDOUT_STYLE else n, image, mesh.texture)
        for n, image, mesh in user_styles
    ]
    for index, name in enumerate(builtin):
        image = BUILTIN_STYLES[name]()
        mesh, _ = training_stage.run(
            name,
            image,
            out / TRAINING_STYLES_DIR / f"{name}.glb",
            out / TRAINING_STYLES_DIR / f"{name}.json",
            lambda done, text, i=index, n=name: report(
                (i + done) / parts, f"training style '{n}': {text}"
            ),
            evaluate=False,
        )
        training.append(TrainingStyle(name, image, mesh.texture))
    context = stage.context
    trained = train_colornet(
        context.mesh,
        context.capture,
        field,
        training,
        FeatureExtractor(context.backbone, STAT_LAYERS),
        context.rasterizer,
        config,
        stage.settings.colour_transfer,
        lambda done, total, loss: report(
            (len(builtin) + done / total) / parts, f"colour net: step {done}/{total}"
        ),
    )
    saved = SavedColorNet(
        trained.net, trained.codes, stage.settings.colour_transfer, context.backbone.provenance
    )
    save_colornet(saved, out, {"heldout": [HELDOUT_STYLE]})
    report((parts - 1) / parts, f"colour net: held-out style '{HELDOUT_STYLE}'")
    applier = StyleApplier.load(out, context.device)
    image = BUILTIN_STYLES[HELDOUT_STYLE]()
    heldout, applied = evaluate_heldout(applier, shared_optimizer(context), HELDOUT_STYLE, image)
    glb = out / f"colornet_{HELDOUT_STYLE}.glb"
    extras = {"style": HELDOUT_STYLE, "colornet": True, "weights": stage.weights_record()}
    write_glb(applied, glb, extras, stage.export)
    summary = {
        "seconds": round(time.perf_counter() - started, 2),
        "train_seconds": round(trained.seconds, 2),
        "final_loss": trained.final_loss,
        "training_styles": [s.name for s in training],
        "glb": glb.name,
        "heldout": [heldout.summary()],
    }
    return summary, applied
