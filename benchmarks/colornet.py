"""Stage 3 benchmark: the colour net against per-style optimization on unseen styles.

    python benchmarks/colornet.py --run-dir OUT [--device auto] [--repeat 3]

``OUT`` is a folder written by ``python -m backend demo`` or ``run --colornet``. Reports
the training numbers and the held-out evaluation from its report.json, then times, on a
fresh load: loading the run, and applying each built-in style (the held-out one and the
training ones) with the texture baked, as the service and the add-on do. Prints one JSON
object and a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from backend.device import resolve_device
from backend.style.builtin import BUILTIN_STYLES
from backend.stylize.apply import StyleApplier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    report = json.loads((args.run_dir / "report.json").read_text())
    colornet = report["colornet"]
    started = time.perf_counter()
    applier = StyleApplier.load(args.run_dir, device)
    load_seconds = time.perf_counter() - started
    apply_seconds = {name: _time_apply(applier, name, args.repeat) for name in BUILTIN_STYLES}
    result = {
        "device": str(device),
        "weights": report["weights"]["vgg19"],
        "train_seconds": colornet["train_seconds"],
        "stage_seconds": colornet["seconds"],
        "training_styles": colornet["training_styles"],
        "heldout": colornet["heldout"],
        "load_seconds": round(load_seconds, 2),
        "apply_seconds": apply_seconds,
        "texture": list(applier.mesh.texture.shape[:2]),
    }
    print(json.dumps(result, indent=2))
    print(f"\n{'held-out style':<16} {'style gap':>10} {'RMSE':>8} {'short':>7} {'long':>7}")
    for h in colornet["heldout"]:
        print(
            f"{h['name']:<16} {h['style_gap']:>+10.1%} {h['rmse_to_optimized']:>8.3f} "
            f"{h['consistency_short_rmse']:>7.3f} {h['consistency_long_rmse']:>7.3f}"
        )
    print(f"\nload {load_seconds:.2f} s; apply (texture baked), seconds per style:")
    for name, seconds in apply_seconds.items():
        print(f"  {name:<10} {seconds:.3f}")


def _time_apply(applier: StyleApplier, name: str, repeat: int) -> float:
    image = BUILTIN_STYLES[name]()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        texture = applier.apply(image).texture
        if applier.model.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    assert np.isfinite(texture).all()
    return round(float(np.median(times)), 3)


if __name__ == "__main__":
    main()
