"""NeRF stage benchmark: held-out PSNR against training time on the sample capture.

    python benchmarks/nerf.py [--capture DIR] [--budgets 60,120,600] [--device auto]

Prints one JSON object (psnr_heldout, seconds, steps, device, resolution, budgets) and a
short table. Evaluation time is excluded from the training clock.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.nerf.config import NerfConfig, preset
from backend.nerf.trainer import Trainer, evaluate
from backend.sample import sample_capture_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--capture", default=None, help="capture folder (default: built-in)")
    parser.add_argument("--budgets", default="", help="seconds, comma separated")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a NerfConfig field (JSON value), e.g. distortion=0.1",
    )
    args = parser.parse_args()
    capture = load_capture(args.capture or sample_capture_dir())
    device = resolve_device(args.device)
    budgets = sorted(float(b) for b in args.budgets.split(",") if b)
    config = preset(args.preset)
    if args.steps:
        config = config.with_steps(args.steps)
    if args.set:
        overrides = dict(item.split("=", 1) for item in args.set)
        config = NerfConfig.from_dict(
            {**config.to_dict(), **{k: json.loads(v) for k, v in overrides.items()}}
        )
    trainer = Trainer(capture, config, device)
    rows = []
    for budget in budgets or [float("inf")]:
        while trainer.step < config.steps and trainer.seconds < budget:
            trainer.train(until_step=trainer.step + 25)
        started = time.perf_counter()
        score, _ = evaluate(trainer.model(), capture)
        rows.append(
            {
                "budget": budget,
                "seconds": round(trainer.seconds, 1),
                "steps": trainer.step,
                "psnr_heldout": round(score, 2),
                "eval_seconds": round(time.perf_counter() - started, 1),
            }
        )
    width, height = capture.resolution
    result = {
        "psnr_heldout": rows[-1]["psnr_heldout"],
        "seconds": rows[-1]["seconds"],
        "steps": rows[-1]["steps"],
        "device": _device_name(device),
        "resolution": [width, height],
        "frames": len(capture.train),
        "heldout": len(capture.heldout),
        "rows": trainer.field.grid.rows,
        "budgets": rows if budgets else [],
        "config": config.to_dict(),
    }
    print(json.dumps(result, indent=2))
    print(f"\n{'budget s':>9} {'trained s':>10} {'steps':>7} {'PSNR dB':>8}")
    for row in rows:
        print(f"{row['budget']:>9} {row['seconds']:>10} {row['steps']:>7} {row['psnr_heldout']:>8}")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


if __name__ == "__main__":
    main()
