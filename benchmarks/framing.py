"""Heads that cross the frame: what it costs the NeRF, apart from what closer cameras cost.

    python benchmarks/framing.py --work DIR [--share 0.7] [--framing 0.7] [--json FILE]

Three captures of the sample head, each trained with the ``fast`` preset:

- ``loose``: the sample capture (128 px, the head inside every frame);
- ``cut``: the same views cut to their central ``--share`` (``backend.captures.crop``):
  the same cameras and pixels, the head leaving every held-out frame;
- ``tight``: rendered by Blender with the cameras moved in (``capture-synth --framing``),
  the head leaving the frame and covering more pixels (kept in ``DIR/tight``).

Held-out PSNR on the whole image and on the head's pixels (where the truth or the field
is not transparent: a white background is free PSNR, and a tighter frame has less of
it), the grid each field got, and training seconds. The loose field is also scored on the
cut capture's views: the cut field should match it there. Prints one JSON object (also
written to ``--json``) and a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from backend.captures import Capture, load_capture
from backend.captures.crop import write_cropped
from backend.captures.synth import SAMPLE_HEAD, SynthRequest, render_capture
from backend.files import write_json
from backend.nerf.config import preset
from backend.nerf.metrics import composite_white
from backend.nerf.model import NerfModel
from backend.nerf.trainer import Trainer
from backend.sample import sample_capture_dir

CPU = torch.device("cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.7)
    parser.add_argument("--framing", type=float, default=0.7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    loose = load_capture(sample_capture_dir())
    cut = load_capture(write_cropped(loose, args.work / "cut", args.share))
    tight = load_capture(_tight(args.work / "tight", args.framing))
    rows, models = {}, {}
    for name, capture in (("loose", loose), ("cut", cut), ("tight", tight)):
        models[name], rows[name] = _train(capture)
        rows[name].update(_scores(models[name], capture))
        print(name, rows[name], flush=True)
    rows["loose on cut views"] = _scores(models["loose"], cut)
    result = {"share": args.share, "framing": args.framing, "runs": rows}
    print(json.dumps(result, indent=2))
    if args.json is not None:
        write_json(args.json, result)
    print("| capture | whole image dB | head pixels dB | head share | grid | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        grid = "x".join(str(d) for d in row.get("grid", [])) or "-"
        print(
            f"| {name} | {row['psnr']:.2f} | {row['psnr_head']:.2f} | "
            f"{row['head_share']:.2f} | {grid} | {row.get('seconds', '-')} |"
        )


def _tight(out: Path, framing: float) -> Path:
    """The tightly framed render, reused when it exists."""
    if not (out / "transforms_test.json").is_file():
        render_capture(SynthRequest(SAMPLE_HEAD, out, 56, 8, 128, framing=framing))
    return out


def _train(capture: Capture) -> tuple[NerfModel, dict[str, object]]:
    started = time.perf_counter()
    trainer = Trainer(capture, preset("fast"), CPU)
    trainer.train()
    seconds = round(time.perf_counter() - started, 1)
    return trainer.model(), {"grid": list(trainer.field.geometry.dims), "seconds": seconds}


def _scores(model: NerfModel, capture: Capture) -> dict[str, float]:
    """Mean held-out PSNR over the whole image and over the head's pixels."""
    whole, head, share = [], [], []
    for frame in capture.heldout:
        rendering = model.render_all(frame.camera)
        error = ((rendering.rgb - composite_white(frame.rgba)) ** 2).mean(axis=-1)
        mask = (frame.rgba[..., 3] > 0.0) | (rendering.opacity > 0.01)
        whole.append(-10.0 * np.log10(error.mean()))
        head.append(-10.0 * np.log10(error[mask].mean()))
        share.append(mask.mean())
    return {
        "psnr": round(float(np.mean(whole)), 2),
        "psnr_head": round(float(np.mean(head)), 2),
        "head_share": round(float(np.mean(share)), 3),
    }


if __name__ == "__main__":
    main()
