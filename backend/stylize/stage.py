"""Stages 2b and 3 as units: one stylized mesh per style, and the colour net.

Both write each artifact first and its record (the report section) after it, so a
resumed run reads finished styles back instead of optimizing them again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backend.captures import Capture
from backend.errors import CheckpointError
from backend.files import write_gif, write_json
from backend.mesh.glb import GltfExport, read_glb, write_glb
from backend.mesh.textured import TexturedMesh
from backend.methods.base import Method, MethodContext
from backend.methods.choice import HYBRID, build_method
from backend.nerf.field import VoxelField
from backend.nerf.model import NerfModel
from backend.pretrained.networks import Backbone, FeatureExtractor
from backend.style.builtin import BUILTIN_STYLES
from backend.style.encoder import STAT_LAYERS
from backend.style.judge import Judge
from backend.stylize.apply import StyleApplier
from backend.stylize.colornet import ColorNetConfig
from backend.stylize.colornet_eval import evaluate_heldout
from backend.stylize.colornet_io import SavedColorNet, save_colornet
from backend.stylize.colornet_train import TrainingStyle, train_colornet
from backend.stylize.texture import Stylizer, StylizeSettings

# The built-in styles the colour net always learns from, the four more it learns from
# when time allows (each costs one stage-2 optimization: about 100 s on two CPU cores;
# on the sample head they took the held-out RMSE from 0.131 to 0.114), and the one it
# never sees, on which every run measures how well it generalizes.
TRAINING_STYLES = ("strokes", "stipple", "mosaic", "ink")
EXTRA_TRAINING_STYLES = ("plaid", "shards", "hatch", "halftone")
HELDOUT_STYLE = "waves"
TRAINING_STYLES_DIR = "colornet_styles"

Report = Callable[[float, str], None]


def weights_record(backbone: Backbone, judge: Judge) -> dict[str, object]:
    """report.json's and the GLB extras' ``weights``: the feature network and the judge,
    each with its weights and their source; ``vgg19`` says whether VGG19 was used."""
    features = backbone.provenance
    return {
        "features": features.to_dict(),
        "judge": judge.provenance.to_dict(),
        "vgg19": features.weights if features.network == "vgg19" else "unused",
    }


def read_record(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot resume from this stage record ({exc})") from exc


@dataclass
class StyleStage:
    """Stage 2 of one run: each style through the run's ``method`` (hybrid: the texture
    optimization), sharing one :class:`Stylizer` built on demand, whose judge and
    consistency arc measure every method."""

    mesh: TexturedMesh
    capture: Capture
    backbone: Backbone
    judge: Judge
    rasterizer: object
    settings: StylizeSettings
    device: torch.device
    resume: bool
    export: GltfExport = dataclasses.field(default_factory=GltfExport)
    method: str = HYBRID
    nerf: NerfModel | None = None
    download: bool = True
    _stylizer: Stylizer | None = None
    _method: Method | None = None

    def weights_record(self) -> dict[str, object]:
        """Which networks and weights made the results (``vgg19``: for old readers)."""
        return weights_record(self.backbone, self.judge)

    def with_settings(self, settings: StylizeSettings) -> StyleStage:
        """The same run's hybrid stage with other stage-2 settings (and its own
        stylizer): the colour net learns from textures the hybrid method optimized."""
        return dataclasses.replace(
            self, settings=settings, method=HYBRID, _stylizer=None, _method=None
        )

    @property
    def runner(self) -> Method:
        """The run's method on this stage's head (built on first use)."""
        if self._method is None:
            context = MethodContext(
                self.mesh, self.capture, self.nerf, self.stylizer, self.device, self.download
            )
            self._method = build_method(self.method, context)
        return self._method

    @property
    def stylizer(self) -> Stylizer:
        if self._stylizer is None:
            self._stylizer = Stylizer(
                self.mesh,
                self.capture,
                self.backbone,
                self.judge,
                self.rasterizer,
                self.settings,
                self.device,
            )
        return self._stylizer

    def run(
        self,
        name: str,
        image: np.ndarray,
        glb: Path,
        record: Path,
        report: Report,
        evaluate: bool = True,
    ) -> tuple[TexturedMesh, dict[str, object]]:
        """The stylized mesh of one style and its report section (read back if finished)."""
        if self.resume and record.is_file() and glb.is_file():
            return read_glb(glb)[0], read_record(record)
        result = self.runner.stylize(
            name,
            image,
            lambda done, total, loss: report(done / total, f"step {done}/{total}"),
            evaluate,
        )
        settings = {k: getattr(self.settings, k) for k in self.settings.__dataclass_fields__}
        extras = {
            "style": name,
            "method": self.method,
            "settings": settings,
            "weights": self.weights_record(),
        }
        write_glb(result.mesh, glb, extras, self.export)
        summary = {**result.summary(), "glb": glb.name}
        frames = getattr(result, "turntable", None)
        if frames:
            gif = glb.with_name(f"turntable_{name}.gif")
            write_gif(gif, frames)
            summary["turntable"] = gif.name
        write_json(record, summary)
        return result.mesh, summary


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
    trained = train_colornet(
        stage.mesh,
        stage.capture,
        field,
        training,
        FeatureExtractor(stage.backbone, STAT_LAYERS),
        stage.rasterizer,
        config,
        stage.settings.colour_transfer,
        lambda done, total, loss: report(
            (len(builtin) + done / total) / parts, f"colour net: step {done}/{total}"
        ),
    )
    saved = SavedColorNet(
        trained.net, trained.codes, stage.settings.colour_transfer, stage.backbone.provenance
    )
    save_colornet(saved, out, {"heldout": [HELDOUT_STYLE]})
    report((parts - 1) / parts, f"colour net: held-out style '{HELDOUT_STYLE}'")
    applier = StyleApplier.load(out, stage.device)
    image = BUILTIN_STYLES[HELDOUT_STYLE]()
    heldout, applied = evaluate_heldout(applier, stage.stylizer, HELDOUT_STYLE, image)
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
