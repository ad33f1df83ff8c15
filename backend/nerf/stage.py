"""Stage 1 as a unit: train, evaluate on held-out views, save the field and previews."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backend.captures import Capture
from backend.errors import CheckpointError
from backend.files import write_json, write_png
from backend.nerf.checkpoint import load_model, save_model
from backend.nerf.config import NerfConfig
from backend.nerf.metrics import composite_white
from backend.nerf.model import NerfModel
from backend.nerf.trainer import Progress, Trainer, evaluate

RESULT = "result.json"


@dataclass(frozen=True)
class NerfResult:
    """The trained model and the numbers report.json carries under ``nerf``."""

    model: NerfModel
    psnr_heldout: float
    steps: int
    seconds: float
    eval_seconds: float

    def summary(self) -> dict[str, object]:
        return {
            "psnr_heldout": round(self.psnr_heldout, 3),
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
            "eval_seconds": round(self.eval_seconds, 2),
            "rows": self.model.field.grid.rows,
            "grid": list(self.model.field.geometry.dims),
        }


def run_nerf_stage(
    capture: Capture,
    config: NerfConfig,
    device: torch.device,
    out_dir: Path,
    progress: Progress | None = None,
) -> NerfResult:
    """Train on ``capture``, write ``out_dir/nerf/`` (field + held-out previews)."""
    trainer = Trainer(capture, config, device)
    trainer.train(progress=progress)
    model = trainer.model()
    started = time.perf_counter()
    score, images = evaluate(model, capture)
    eval_seconds = time.perf_counter() - started
    nerf_dir = out_dir / "nerf"
    save_model(model, trainer.config, nerf_dir)
    for frame, image in zip(capture.heldout, images, strict=True):
        target = composite_white(frame.rgba) if capture.has_alpha else frame.rgba[..., :3]
        write_png(nerf_dir / f"heldout_{Path(frame.name).name}.png", np.hstack([target, image]))
    result = NerfResult(model, score, trainer.step, trainer.seconds, eval_seconds)
    write_json(nerf_dir / RESULT, result.summary())
    return result


def load_nerf_result(out_dir: Path, device: torch.device) -> NerfResult | None:
    """The finished stage 1 in ``out_dir`` (to resume a run), or None if it did not finish.

    ``result.json`` is written after the checkpoint, so its presence means both are whole.
    """
    path = out_dir / "nerf" / RESULT
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
        model, _ = load_model(out_dir / "nerf", device)
        return NerfResult(
            model,
            float(summary["psnr_heldout"]),
            int(summary["steps"]),
            float(summary["seconds"]),
            float(summary["eval_seconds"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot resume from this NeRF stage ({exc})") from exc
