"""Stage 3 benchmark: the colour net against per-style optimization on unseen styles.

    python benchmarks/colornet.py --run-dir OUT [--device auto] [--repeat 3] [--seed-reference]

``OUT`` is a folder written by ``python -m backend demo`` or ``run --colornet``. Reports
the training numbers and the held-out evaluation from its report.json, then times, on a
fresh load: loading the run, and applying each built-in style (the held-out one and the
training ones) with the texture baked, as the service and the add-on do. Prints one JSON
object and a table.

``--seed-reference`` also optimizes the held-out style twice per style (seeds 0 and 1,
the run's stage-2 settings) and reports the image RMSE between those two: how far the
per-style optimization lands from itself, the floor for the colour net's RMSE to it.
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
from backend.mesh.glb import read_glb
from backend.pipeline import stylize_settings
from backend.raster import make_rasterizer
from backend.style.builtin import BUILTIN_STYLES
from backend.style.vgg import FeatureExtractor, load_features
from backend.stylize.apply import StyleApplier
from backend.stylize.stage import HELDOUT_STYLE
from backend.stylize.texture import STYLE_LAYERS, Stylizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed-reference", action="store_true")
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
    if args.seed_reference:
        result["seed_reference"] = _seed_reference(args.run_dir, applier, device)
    print(json.dumps(result, indent=2))
    print(
        f"\n{'held-out style':<16} {'reduction':>10} {'optimized':>10} {'style gap':>10} "
        f"{'RMSE':>8} {'short':>7} {'long':>7}"
    )
    for h in colornet["heldout"]:
        print(
            f"{h['name']:<16} {h.get('style_loss_reduction_colornet', float('nan')):>10.1%} "
            f"{h.get('style_loss_reduction_optimized', float('nan')):>10.1%} "
            f"{h['style_gap']:>+10.1%} {h['rmse_to_optimized']:>8.3f} "
            f"{h['consistency_short_rmse']:>7.3f} {h['consistency_long_rmse']:>7.3f}"
        )
    print(f"\nload {load_seconds:.2f} s; apply (texture baked), seconds per style:")
    for name, seconds in apply_seconds.items():
        print(f"  {name:<10} {seconds:.3f}")
    if args.seed_reference:
        ref = result["seed_reference"]
        print(
            f"\n'{HELDOUT_STYLE}' optimized with seeds 0 and 1: RMSE between them "
            f"{ref['rmse_seed0_seed1']:.3f}; colour net to each "
            f"{ref['rmse_colornet_seed0']:.3f} / {ref['rmse_colornet_seed1']:.3f}"
        )


def _seed_reference(run_dir: Path, applier: StyleApplier, device: torch.device) -> dict[str, float]:
    """Two per-style optimizations of the held-out style, compared with each other and
    with the colour net, over the stylizer's evaluation views."""
    run = json.loads((run_dir / "run.json").read_text())
    capture = load_capture(Path(run["capture"]))
    mesh, _ = read_glb(run_dir / "mesh.glb")
    settings = stylize_settings(run)
    features, _ = load_features(download=False)
    extractor = FeatureExtractor(features, STYLE_LAYERS)
    rasterizer = make_rasterizer("auto", device)
    image = BUILTIN_STYLES[HELDOUT_STYLE]()
    textures = []
    for seed in (0, 1):
        stylizer = Stylizer(
            mesh, capture, extractor, rasterizer, replace(settings, seed=seed), device
        )
        textures.append(
            torch.tensor(
                stylizer.stylize(HELDOUT_STYLE, image, measure_consistency=False).mesh.texture,
                device=device,
            )
        )
    ours = torch.tensor(applier.apply(image).texture, device=device)
    views = stylizer.evaluation
    return {
        "rmse_seed0_seed1": round(stylizer.render_rmse(textures[0], textures[1], views), 4),
        "rmse_colornet_seed0": round(stylizer.render_rmse(ours, textures[0], views), 4),
        "rmse_colornet_seed1": round(stylizer.render_rmse(ours, textures[1], views), 4),
    }


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
