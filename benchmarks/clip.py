"""CLIP edits benchmark: the issue's time targets, and what a CLIP measures of each edit.

    python benchmarks/clip.py --run-dir OUT --work DIR [--clip-weights DIR] [--steps N]
        [--prompt TEXT] [--device auto] [--repeat 3]

``OUT`` is a run folder with a colour net (``python -m backend demo``). CLIP's published
weights cannot be had on the machines this was written on, so unless ``--clip-weights``
names real ones the benchmark uses two stand-ins, both saved in the standard checkpoint
layout under ``--work`` and loaded through the product's own loader:

- ``vit-b-32-random``: the published ViT-B/32 architecture (transformers' default
  ``CLIPConfig``) with seeded random weights. Its times are the real architecture's; what
  it says about looks means nothing.
- ``tiny``: the tests' tiny CLIP.

For each CLIP:

- mapper route: loading CLIP, training the run's mapper (once per run and CLIP: the
  benchmark replaces ``OUT/clip_mapper.*`` to time it), then a
  prompt to a stylized head with the texture baked (text encoding, mapper, the colour
  net over every texel), ``--repeat`` times; target <= 10 s on CPU.
- optimization route: the prompt optimized at the run's stage-2 settings (256 px, 150
  steps by default): seconds (target <= 3 min on CPU), the CLIP loss and similarity
  before and after, the judge's content LPIPS and consistency beside the unedited head's.

Prints one JSON object and a table.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.fast.apply import StyleApplier
from backend.fast.mapper_training import mapped_code, run_mapper
from backend.mesh.glb import read_glb
from backend.methods.base import MethodContext
from backend.methods.clip.edit import ClipEdit, clip_edit, edit_name
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.pipeline import stylize_settings
from backend.pretrained.clip import load_clip
from backend.pretrained.clip_tiny import save_tiny_clip
from backend.pretrained.registry import load_backbone
from backend.raster import make_rasterizer
from backend.style.judge import Judge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="folder for the stand-ins")
    parser.add_argument("--clip-weights", type=Path, default=None)
    parser.add_argument("--prompt", default="a bronze statue")
    parser.add_argument("--steps", type=int, default=None, help="stage-2 steps (run's default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    results = [
        _measure(name, folder, args, device)
        for name, folder in _clips(args.work, args.clip_weights)
    ]
    print(json.dumps({"device": str(device), "prompt": args.prompt, "clips": results}, indent=2))
    print(
        f"\n{'CLIP':<16} {'load s':>6} {'mapper s':>8} {'apply s':>7} {'optim s':>7} "
        f"{'loss':>13} {'similarity':>15} {'LPIPS':>6} {'cons.':>13} {'unedited':>13}"
    )
    for r in results:
        o = r["optimization"]
        print(
            f"{r['clip']:<16} {r['load_seconds']:>6.1f} {r['mapper']['seconds']:>8.1f} "
            f"{r['apply_seconds']:>7.2f} {o['seconds']:>7.1f} "
            f"{o['clip_loss_before']:>6.3f}>{o['clip_loss_after']:<6.3f} "
            f"{o['clip_similarity_before']:>7.3f}>{o['clip_similarity_after']:<7.3f} "
            f"{o['content_lpips']:>6.3f} {o['consistency_short_rmse']:>6.3f}/"
            f"{o['consistency_long_rmse']:<6.3f} {o['consistency_short_rmse_unstylized']:>6.3f}/"
            f"{o['consistency_long_rmse_unstylized']:<6.3f}"
        )


def _clips(work: Path, real: Path | None) -> list[tuple[str, Path]]:
    """The CLIPs to measure: real weights if given, else the two stand-ins."""
    if real is not None:
        return [("given", real)]
    from transformers import CLIPConfig, CLIPModel

    full = work / "vit-b-32-random"
    if not (full / "config.json").is_file():
        tiny = save_tiny_clip(work / "tokenizer-donor")
        torch.manual_seed(0)
        CLIPModel(CLIPConfig()).save_pretrained(full)
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
            (full / name).write_bytes((tiny / name).read_bytes())
    return [("vit-b-32-random", full), ("tiny", save_tiny_clip(work / "tiny"))]


def _measure(name: str, folder: Path, args, device) -> dict:
    started = time.perf_counter()
    clip = load_clip(folder, download=False).to(device)
    load_seconds = time.perf_counter() - started
    for stale in ("clip_mapper.json", "clip_mapper.safetensors"):
        (args.run_dir / stale).unlink(missing_ok=True)
    applier = StyleApplier.load(args.run_dir, device)
    mapper = run_mapper(args.run_dir, applier, clip, {})
    edit = ClipEdit(edit_name(args.prompt, None), clip, prompt=args.prompt)
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        applier.apply_code(mapped_code(mapper.mapper, clip, edit.prompt, edit.exemplar).code)
        times.append(time.perf_counter() - started)
    optimization = clip_edit(_stylizer(args, device), edit).summary()
    return {
        "clip": name,
        "provenance": clip.provenance.to_dict(),
        "load_seconds": round(load_seconds, 2),
        "mapper": mapper.summary,
        "apply_seconds": round(min(times), 3),
        "optimization": optimization,
    }


def _stylizer(args, device) -> TextureOptimizer:
    run = json.loads((args.run_dir / "run.json").read_text())
    settings = stylize_settings(run)
    if args.steps is not None:
        settings = replace(settings, steps=args.steps)
    mesh, _ = read_glb(args.run_dir / "mesh.glb")
    return TextureOptimizer(
        MethodContext.create(
            mesh,
            load_capture(Path(run["capture"])),
            None,
            load_backbone(run["features"], run["weights"]),
            Judge.load().to(device),
            make_rasterizer("auto", device),
            settings,
            device,
        )
    )


if __name__ == "__main__":
    main()
