"""A capture without alpha or masks: held-out PSNR on the head's pixels, and time.

    python benchmarks/opaque.py --work DIR [--res 128] [--json FILE]

Blender renders the sample head in its textured room (``capture-synth --background
textured``, 56 + 8 views, kept in ``DIR/room`` and reused), which also writes the held-out
views' true coverage to ``gt_alpha/test/`` (never read by training). The NeRF stage runs
with the ``fast`` preset (training and the held-out renders timed together, as the
issue's 3-minute target counts them); PSNR is taken over the pixels the head covers
(true alpha over one half) and over the whole image.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from backend.captures import load_capture
from backend.captures.synth import SAMPLE_HEAD, SynthRequest, render_capture
from backend.files import write_json
from backend.nerf.config import preset
from backend.nerf.stage import run_nerf_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    room = args.work / f"room_{args.res}"
    if not (room / "transforms_test.json").is_file():
        render_capture(SynthRequest(SAMPLE_HEAD, room, 56, 8, args.res, background="textured"))
    capture = load_capture(room)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = run_nerf_stage(capture, preset("fast"), torch.device("cpu"), Path(out))
    seconds = time.perf_counter() - started
    head, whole = [], []
    for index, frame in enumerate(capture.heldout):
        truth = np.asarray(Image.open(room / "gt_alpha" / "test" / f"r_{index}.png"))
        error = ((result.model.render(frame.camera) - frame.rgba[..., :3]) ** 2).mean(axis=-1)
        head.append(-10.0 * np.log10(error[truth[..., 3] > 127].mean()))
        whole.append(-10.0 * np.log10(error.mean()))
    summary = {
        "res": args.res,
        "psnr_head": round(float(np.mean(head)), 2),
        "psnr_head_per_view": [round(float(p), 2) for p in head],
        "psnr_whole": round(float(np.mean(whole)), 2),
        "seconds": round(seconds, 1),
        "grid": list(result.model.field.geometry.dims),
        "rows": result.model.field.grid.rows,
    }
    print(json.dumps(summary, indent=2))
    if args.json is not None:
        write_json(args.json, summary)


if __name__ == "__main__":
    main()
