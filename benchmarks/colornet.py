"""Stage 3 benchmark: the colour net against per-style optimization on unseen styles.

    python benchmarks/colornet.py --run-dir OUT [--heldout waves,plaid,...] [--device auto]
        [--repeat 3]

``OUT`` is a folder written by ``python -m backend demo`` or ``run --colornet``. For each
held-out style (built-in styles the colour net never trained on; default: all of them)
the benchmark applies the colour net and optimizes the style twice with stage 2 (the
run's settings, seeds 0 and 1), then reports:

- the judge's figures (AlexNet statistics and covariance on the held-out cameras,
  content LPIPS) of the colour net and of the seed-0 optimization, and the gaps: style
  gain in points, covariance ratio;
- ``rmse_to_optimized``: image RMSE between the colour net's renders and the seed-0
  optimization's, and ``seed_spread``: the RMSE between the two optimizations, which
  differ only in their random views. The target is ``rmse_to_optimized <= 1.25 x
  seed_spread``: a predictor cannot land closer to one optimization than another
  optimization does, by more than chance.

It also times loading the run and applying each built-in style with the texture baked,
as the service and the add-on do. Prints one JSON object and a table.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.fast.apply import StyleApplier
from backend.mesh.glb import read_glb
from backend.methods.base import MethodContext
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.pipeline import stylize_settings
from backend.pretrained.registry import load_backbone
from backend.raster import make_rasterizer
from backend.style.builtin import BUILTIN_STYLES
from backend.style.judge import Judge
from backend.stylize.colornet_eval import judge_gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--heldout", default=None, help="comma-separated built-in styles")
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
    unseen = [n for n in BUILTIN_STYLES if n not in colornet["training_styles"]]
    names = args.heldout.split(",") if args.heldout else unseen
    heldout = _heldout(args.run_dir, applier, names, device)
    result = {
        "device": str(device),
        "weights": report["weights"]["features"],
        "train_seconds": colornet["train_seconds"],
        "stage_seconds": colornet["seconds"],
        "training_styles": colornet["training_styles"],
        "heldout": heldout,
        "load_seconds": round(load_seconds, 2),
        "apply_seconds": apply_seconds,
    }
    print(json.dumps(result, indent=2))
    print(
        f"\n{'held-out style':<14} {'gain cn':>8} {'gain opt':>8} {'gap pts':>8} "
        f"{'cov cn':>7} {'cov opt':>7} {'lpips cn':>8} {'RMSE':>7} {'spread':>7} {'ratio':>6}"
    )
    for h in heldout:
        cn, opt = h["judge_colornet"], h["judge_optimized"]
        print(
            f"{h['name']:<14} {cn['judge_meanstd_gain']:>8.1%} {opt['judge_meanstd_gain']:>8.1%} "
            f"{h['gain_gap_points']:>8.1f} {cn['judge_cov_cosine_ratio']:>7.2f} "
            f"{opt['judge_cov_cosine_ratio']:>7.2f} {cn['content_lpips']:>8.3f} "
            f"{h['rmse_to_optimized']:>7.3f} {h['seed_spread']:>7.3f} {h['rmse_ratio']:>6.2f}"
        )
    print(f"\nload {load_seconds:.2f} s; apply (texture baked), seconds per style:")
    for name, seconds in apply_seconds.items():
        print(f"  {name:<10} {seconds:.3f}")


def _heldout(run_dir: Path, applier: StyleApplier, names: list[str], device) -> list[dict]:
    """Judge figures, RMSE to the optimization and the seed spread per held-out style."""
    run = json.loads((run_dir / "run.json").read_text())
    capture = load_capture(Path(run["capture"]))
    mesh, _ = read_glb(run_dir / "mesh.glb")
    settings = stylize_settings(run)
    features = applier.saved.features
    backbone = load_backbone(features.network, features.weights)
    judge = Judge.load().to(device)
    rasterizer = make_rasterizer("auto", device)
    stylizers = [
        TextureOptimizer(
            MethodContext.create(
                mesh, capture, None, backbone, judge, rasterizer, replace(settings, seed=s), device
            )
        )
        for s in (0, 1)
    ]
    out = []
    for name in names:
        image = BUILTIN_STYLES[name]()
        optimized = [
            torch.tensor(s.stylize(name, image, evaluate=False).mesh.texture, device=device)
            for s in stylizers
        ]
        ours = torch.tensor(applier.apply(image).texture, device=device)
        first = stylizers[0]
        views = first.evaluation
        cn = first.heldout.evaluate(ours, image).summary()
        opt = first.heldout.evaluate(optimized[0], image).summary()
        rmse = first.render_rmse(ours, optimized[0], views)
        spread = first.render_rmse(optimized[0], optimized[1], views)
        gain_gap, cov_gap = judge_gaps(cn, opt)
        out.append(
            {
                "name": name,
                "judge_colornet": cn,
                "judge_optimized": opt,
                "gain_gap_points": gain_gap,
                "cov_ratio_gap": cov_gap,
                "rmse_to_optimized": round(rmse, 4),
                "seed_spread": round(spread, 4),
                "rmse_ratio": round(rmse / max(spread, 1e-9), 3),
            }
        )
    return out


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
