"""Cost curves: time and peak memory of each stage as the work grows.

    python benchmarks/scale.py --work DIR [--resolutions 128,256,512] [--views 32,64,128]
        [--render-sizes 128,256,512] [--faces 5000,20000,80000] [--nerf-steps 600]
        [--style-steps 30]

Renders one capture of the sample head with Blender at the largest resolution and view
count into ``DIR/base`` (once; later runs reuse it), and derives the smaller captures
from it by resizing and by taking every k-th view, so that every point sees the same
head and cameras. Then, each in its own process so that its peak memory is its own:

- stages 1 and 2a (NeRF, mesh) against resolution (at the middle view count) and against
  view count (at the middle resolution), and at the largest of both (the memory target):
  loading, ray set-up, training, evaluation and the mesh stage, seconds each, and the
  process's peak resident memory;
- stage 2b (stylization) on the middle capture's NeRF against render size and face count:
  set-up (rasterizing the view pool) and seconds per optimization step.

Prints one JSON object and tables, with the exponent of each cost against the work it
scales with (pixels, views, rendered pixels, faces): about 1 means linear, 2 quadratic.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
HEAD = ROOT / "meshes" / "head.glb"
HELDOUT = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--resolutions", default="128,256,512")
    parser.add_argument("--views", default="32,64,128")
    parser.add_argument("--render-sizes", default="128,256,512")
    parser.add_argument("--faces", default="5000,20000,80000")
    parser.add_argument("--nerf-steps", type=int, default=600)
    parser.add_argument("--style-steps", type=int, default=30)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child)))
        return
    resolutions = _numbers(args.resolutions)
    views = _numbers(args.views)
    base = _base_capture(args.work, max(resolutions), max(views))
    middle_res, middle_views = resolutions[len(resolutions) // 2], views[len(views) // 2]
    points = [(r, middle_views) for r in resolutions]
    points += [(middle_res, v) for v in views if v != middle_views]
    points.append((max(resolutions), max(views)))
    nerf_rows = []
    for res, count in points:
        capture = _derived(base, args.work, res, count, max(views))
        run = args.work / f"run_{res}_{count}"
        row = _run_child(["nerf", str(capture), str(run), str(args.nerf_steps)])
        nerf_rows.append({"resolution": res, "views": count, **row})
    middle_run = args.work / f"run_{middle_res}_{middle_views}"
    middle_capture = _derived(base, args.work, middle_res, middle_views, max(views))
    style_rows = []
    for size in _numbers(args.render_sizes):
        for faces in _numbers(args.faces):
            child = ["stylize", str(middle_capture), str(middle_run), str(size), str(faces)]
            row = _run_child([*child, str(args.style_steps)])
            style_rows.append({"render_size": size, "face_budget": faces, **row})
    result = {
        "nerf_and_mesh": nerf_rows,
        "stylize": style_rows,
        "exponents": _exponents(nerf_rows, style_rows, middle_res, middle_views),
        "nerf_steps": args.nerf_steps,
        "style_steps": args.style_steps,
    }
    print(json.dumps(result, indent=2))
    _print_tables(result)


def _numbers(text: str) -> list[int]:
    return sorted(int(x) for x in text.split(",") if x)


def _base_capture(work: Path, resolution: int, views: int) -> Path:
    """The largest capture, rendered once by Blender."""
    from backend.captures.synth import SynthRequest, render_capture

    base = work / "base"
    if not (base / "transforms_train.json").is_file():
        started = time.perf_counter()
        render_capture(SynthRequest(HEAD, base, views, HELDOUT, resolution))
        print(f"rendered {base} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return base


def _derived(base: Path, work: Path, resolution: int, views: int, all_views: int) -> Path:
    """A capture with every (all_views // views)-th training view, resized; the held-out
    views resized. Angles (camera_angle_x) do not change with the image size."""
    out = work / f"capture_{resolution}_{views}"
    if (out / "transforms_test.json").is_file():
        return out
    for split in ("train", "test"):
        source = base / f"transforms_{split}.json"
        if not source.is_file():
            continue
        meta = json.loads(source.read_text())
        frames = meta["frames"]
        if split == "train":
            frames = frames[:: max(1, all_views // views)][:views]
        for frame in frames:
            _resized(base, out, frame["file_path"], resolution)
        (out / source.name).write_text(json.dumps({**meta, "frames": frames}, indent=1))
    if (base / "gt_mesh.ply").is_file():
        shutil.copy(base / "gt_mesh.ply", out / "gt_mesh.ply")
    return out


def _resized(base: Path, out: Path, file_path: str, resolution: int) -> None:
    relative = file_path if file_path.endswith(".png") else f"{file_path}.png"
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(base / relative) as image:
        resample = Image.Resampling.LANCZOS
        image.resize((resolution, resolution), resample).save(target)


def _run_child(args: list[str]) -> dict[str, object]:
    command = [sys.executable, __file__, "--work", ".", "--child", *args]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    print(f"{' '.join(args)}: {done.stdout.strip()}", file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _child(args: list[str]) -> dict[str, object]:
    if args[0] == "nerf":
        return _nerf_child(Path(args[1]), Path(args[2]), int(args[3]))
    return _stylize_child(Path(args[1]), Path(args[2]), int(args[3]), int(args[4]), int(args[5]))


def _nerf_child(capture_dir: Path, run: Path, steps: int) -> dict[str, object]:
    import torch

    from backend.captures import load_capture
    from backend.mesh.stage import MeshSettings, run_mesh_stage
    from backend.nerf.checkpoint import save_model
    from backend.nerf.config import preset
    from backend.nerf.trainer import Trainer, evaluate

    device = torch.device("cpu")
    clock = _Clock()
    capture = load_capture(capture_dir)
    clock.lap("load")
    config = preset("fast").with_steps(steps)
    trainer = Trainer(capture, config, device)
    clock.lap("setup")
    trainer.train()
    clock.lap("train")
    model = trainer.model()
    psnr, _ = evaluate(model, capture)
    clock.lap("evaluate")
    peak_nerf = _peak_mb()
    save_model(model, config, run / "nerf")
    run_mesh_stage(model, capture, MeshSettings())
    clock.lap("mesh")
    return {
        "seconds": clock.seconds,
        "ms_per_step": round(1000 * clock.seconds["train"] / steps, 1),
        "pixels": len(trainer.rays),
        "psnr_heldout": round(psnr, 2),
        "peak_mb_nerf": peak_nerf,
        "peak_mb": _peak_mb(),
    }


def _stylize_child(
    capture_dir: Path, run: Path, size: int, faces: int, steps: int
) -> dict[str, object]:
    import torch

    from backend.captures import load_capture
    from backend.mesh.stage import MeshSettings, run_mesh_stage
    from backend.methods.base import MethodContext
    from backend.methods.hybrid.optimizer import TextureOptimizer
    from backend.methods.hybrid.settings import StylizeSettings
    from backend.nerf.checkpoint import load_model
    from backend.pipeline import RunRequest, load_networks
    from backend.raster import make_rasterizer
    from backend.style.builtin import BUILTIN_STYLES

    device = torch.device("cpu")
    capture = load_capture(capture_dir)
    model, _ = load_model(run / "nerf", device)
    mesh = run_mesh_stage(model, capture, MeshSettings(face_budget=faces)).mesh
    backbone, judge = load_networks(RunRequest(Path(), [], Path()), device)
    before = _peak_mb()
    clock = _Clock()
    settings = replace(StylizeSettings(), render_size=size, steps=steps)
    stylizer = TextureOptimizer(
        MethodContext.create(
            mesh, capture, None, backbone, judge, make_rasterizer("torch", device), settings, device
        )
    )
    clock.lap("setup")
    stylizer.stylize("strokes", BUILTIN_STYLES["strokes"](), evaluate=False)
    clock.lap("optimize")
    return {
        "faces": len(mesh.faces),
        "seconds": clock.seconds,
        "ms_per_step": round(1000 * clock.seconds["optimize"] / steps, 1),
        "peak_mb_before": before,
        "peak_mb": _peak_mb(),
    }


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 2)
        self._last = now


def _slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares exponent of y against x on log-log axes."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pairs) < 2:
        return None
    lx, ly = np.array(pairs).T
    return round(float(np.polyfit(lx, ly, 1)[0]), 2)


def _exponents(nerf_rows, style_rows, middle_res, middle_views) -> dict[str, object]:
    by_res = [r for r in nerf_rows if r["views"] == middle_views]
    by_views = [r for r in nerf_rows if r["resolution"] == middle_res]
    if len(by_res) < 2 or len(by_views) < 2:
        return {}
    out: dict[str, object] = {}
    for label, rows, work in (
        ("vs_pixels_per_view", by_res, lambda r: r["resolution"] ** 2),
        ("vs_views", by_views, lambda r: r["views"]),
    ):
        xs = [work(r) for r in rows]
        out[label] = {
            **{k: _slope(xs, [r["seconds"][k] for r in rows]) for k in rows[0]["seconds"]},
            "peak_mb": _slope(xs, [r["peak_mb"] for r in rows]),
        }
    for label, key, work in (
        ("stylize_vs_render_pixels", "face_budget", lambda r: r["render_size"] ** 2),
        ("stylize_vs_faces", "render_size", lambda r: r["faces"]),
    ):
        middle = sorted({r[key] for r in style_rows})[len({r[key] for r in style_rows}) // 2]
        rows = [r for r in style_rows if r[key] == middle]
        xs = [work(r) for r in rows]
        out[label] = {
            "setup": _slope(xs, [r["seconds"]["setup"] for r in rows]),
            "ms_per_step": _slope(xs, [r["ms_per_step"] for r in rows]),
        }
    return out


def _print_tables(result: dict[str, object]) -> None:
    print(
        "\n| px | views | load s | setup s | train s | ms/step | eval s | mesh s | dB | peak MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in result["nerf_and_mesh"]:
        s = r["seconds"]
        print(
            f"| {r['resolution']} | {r['views']} | {s['load']} | {s['setup']} | {s['train']} "
            f"| {r['ms_per_step']} | {s['evaluate']} | {s['mesh']} | {r['psnr_heldout']} "
            f"| {r['peak_mb']} |"
        )
    print("\n| render px | faces | setup s | ms/step | peak MB |")
    print("| --- | --- | --- | --- | --- |")
    for r in result["stylize"]:
        print(
            f"| {r['render_size']} | {r['faces']} | {r['seconds']['setup']} "
            f"| {r['ms_per_step']} | {r['peak_mb']} |"
        )
    print("\nexponents:", json.dumps(result["exponents"]))


if __name__ == "__main__":
    main()
