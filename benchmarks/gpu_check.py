"""The one prepared run for a lent CUDA machine: install, compile, compare, time, one JSON.

    python3 benchmarks/gpu_check.py --out DIR [--capture DIR] [--wheels DIR] [--dry-run]

A GPU is lent to some tasks by chance, 15 minutes in all, on a machine with Python 3.12
and torch but no network. This script spends those minutes measuring instead of setting
up. Steps, each timed and recorded even when an earlier one failed:

1. ``environment``: Python, torch, the GPU, nvcc;
2. ``wheels``: the project's missing dependencies from ``--wheels`` (downloaded here
   beforehand: README, "A lent GPU") into a private folder on the import path;
3. ``imports``: every module the pipeline needs;
4. ``nvdiffrast``: its first use, which compiles its CUDA plugin;
5. ``parity``: nvdiffrast against the PyTorch rasterizer on the sample head at 512 px
   (the CUDA test's tolerance: the same triangle on 99.5% of pixels, attributes within
   1e-3), with each one's time;
6. ``nerf_budget``: held-out PSNR after 30 s of training on ``--capture`` (a 512 px
   capture rendered here beforehand; default the 128 px sample capture);
7. ``pipeline``: ``python -m backend run --colornet`` with one style on that capture,
   its per-stage seconds from report.json (random feature weights: the ImageNet weights
   do not travel, and speed does not depend on their values);
8. ``apply_style``: the median time of five colour-net applications after a warm-up
   (one on a dry run, which only shows the step works).

``DIR/gpu_check.json`` is rewritten after every step, so a run cut short still reports.
``--dry-run`` runs the same steps on the CPU at toy sizes (no nvdiffrast: the PyTorch
backend stands in for it), so that CI proves the script works.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIPELINE_MODULES = (
    "numpy",
    "torch",
    "scipy",
    "trimesh",
    "mcubes",
    "xatlas",
    "fast_simplification",
    "safetensors",
    "PIL",
    "fastapi",
    "backend.cli",
)


@dataclass(frozen=True)
class Plan:
    """Sizes of the run: the real one on CUDA, or toy ones on the CPU for ``--dry-run``."""

    device: str
    raster: str
    parity_resolution: int
    nerf_budget_s: float
    run_args: tuple[str, ...]
    apply_repeats: int

    @classmethod
    def of(cls, dry_run: bool) -> Plan:
        if dry_run:
            toy = ("--steps", "20", "--max-side", "32", "--style-steps", "1")
            args = (*toy, "--colornet-steps", "2", "--faces", "2000")
            return cls("cpu", "torch", 64, 2.0, args, apply_repeats=1)
        return cls("cuda", "nvdiffrast", 512, 30.0, (), apply_repeats=5)


@dataclass
class Report:
    """Steps so far, written to ``path`` after each one."""

    path: Path
    dry_run: bool
    steps: dict[str, dict] = field(default_factory=dict)

    def run(self, name: str, step: Callable[[], dict]) -> dict | None:
        started = time.perf_counter()
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            result = step()
            record = {"ok": True, **result}
        except Exception as error:  # one broken step must not lose the others' figures
            result = None
            record = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            record["trace"] = traceback.format_exc(limit=4)
        record["seconds"] = round(time.perf_counter() - started, 3)
        self.steps[name] = record
        self.path.write_text(json.dumps(self.to_dict(), indent=2))
        print(f"[gpu_check] {name}: {'ok' if record['ok'] else record['error']}", flush=True)
        return result

    def to_dict(self) -> dict:
        return {"dry_run": self.dry_run, "date": time.strftime("%Y-%m-%d"), "steps": self.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--capture", type=Path, default=REPO / "meshes" / "sample_capture")
    parser.add_argument("--wheels", type=Path, default=None)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    plan = Plan.of(args.dry_run)
    report = Report(args.out / "gpu_check.json", args.dry_run)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)
    report.run("environment", _environment)
    if args.wheels is not None:
        report.run("wheels", lambda: _install_wheels(args.wheels, env))
    if report.run("imports", _imports) is None:
        sys.exit(1)
    report.run("nvdiffrast", lambda: _nvdiffrast(plan))
    report.run("parity", lambda: _parity(plan))
    report.run("nerf_budget", lambda: _nerf_budget(plan, args.capture, env))
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        work = Path(folder)
        if report.run("pipeline", lambda: _pipeline(plan, args.capture, work, env)) is not None:
            report.run("apply_style", lambda: _apply_style(plan, work / "run"))
    failed = [name for name, step in report.steps.items() if not step["ok"]]
    print(json.dumps(report.to_dict(), indent=2))
    sys.exit(1 if failed else 0)


def _environment() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cpu_count": os.cpu_count(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["torch_cuda"] = torch.version.cuda
    try:
        nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True, check=False)
        info["nvcc"] = nvcc.stdout.strip().splitlines()[-1] if nvcc.stdout else None
    except FileNotFoundError:
        info["nvcc"] = None
    return info


def _install_wheels(wheels: Path, env: dict[str, str]) -> dict:
    """pip install the wheels (no index, no dependencies) into a folder put first on the
    import path of this process and of the commands it starts."""
    files = sorted(str(p) for p in wheels.glob("*.whl"))
    if not files:
        raise FileNotFoundError(f"no wheels in {wheels}")
    site = Path(tempfile.gettempdir()) / "gpu_check_site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    subprocess.run([*pip, "--no-compile", "--upgrade", "--target", str(site), *files], check=True)
    sys.path.insert(0, str(site))
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    return {"installed": [Path(f).name for f in files]}


def _imports() -> dict:
    import importlib

    sys.path.insert(0, str(REPO))
    versions = {}
    for name in PIPELINE_MODULES:
        module = importlib.import_module(name)
        versions[name] = getattr(module, "__version__", "")
    return {"versions": versions}


def _nvdiffrast(plan: Plan) -> dict:
    """First use of nvdiffrast (the plugin compiles) and one small rasterization."""
    import torch

    from backend.raster import make_rasterizer

    if plan.raster != "nvdiffrast":
        return {"skipped": "dry run: the PyTorch backend stands in"}
    device = torch.device("cuda")
    rasterizer = make_rasterizer("nvdiffrast", device)
    pos = torch.tensor([[[-0.5, -0.5, 0.0, 1.0], [0.5, -0.5, 0.0, 1.0], [0.0, 0.5, 0.0, 1.0]]])
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32, device=device)
    rast = rasterizer.rasterize(pos.to(device), tri, (64, 64))
    torch.cuda.synchronize()
    return {"covered_pixels": int((rast[..., 3] > 0).sum())}


def _parity(plan: Plan) -> dict:
    import torch
    import trimesh

    from backend.captures.synth import SAMPLE_HEAD
    from backend.raster import make_rasterizer
    from backend.raster.parity import compare

    device = torch.device(plan.device)
    mesh = trimesh.load(SAMPLE_HEAD, force="mesh")
    reference = make_rasterizer("torch", device)
    candidate = make_rasterizer(plan.raster, device)
    parity = compare(reference, candidate, mesh, device, plan.parity_resolution)
    agree = parity.same_triangle > 0.995 and parity.max_attribute_error < 1e-3
    return {**parity.to_dict(), "within_tolerance": agree}


def _nerf_budget(plan: Plan, capture: Path, env: dict[str, str]) -> dict:
    command = [sys.executable, str(REPO / "benchmarks" / "nerf.py"), "--capture", str(capture)]
    command += ["--budgets", str(plan.nerf_budget_s), "--device", plan.device]
    if plan.device == "cpu":
        command += ["--steps", "20"]
    result = json.JSONDecoder().raw_decode(_output(command, env))[0]
    return {k: result[k] for k in ("psnr_heldout", "seconds", "steps", "device", "resolution")}


def _pipeline(plan: Plan, capture: Path, work: Path, env: dict[str, str]) -> dict:
    """One full run with one style and the colour net; stage seconds from report.json."""
    sys.path.insert(0, str(REPO))
    from backend.files import write_png
    from backend.style.builtin import BUILTIN_STYLES

    style = work / "strokes.png"
    write_png(style, BUILTIN_STYLES["strokes"]())
    command = [sys.executable, "-m", "backend", "run", str(capture), "--out", str(work / "run")]
    command += ["--style", str(style), "--colornet", "--device", plan.device]
    command += ["--raster", plan.raster, "--weights", "random", *plan.run_args]
    started = time.perf_counter()
    _output(command, env)
    wall = time.perf_counter() - started
    report = json.loads((work / "run" / "report.json").read_text())
    return {
        "wall_seconds": round(wall, 2),
        "nerf": {k: report["nerf"][k] for k in ("psnr_heldout", "steps", "seconds")},
        "mesh_seconds": report["mesh"]["seconds"],
        "style_seconds": [s.get("seconds") for s in report["styles"]],
        "colornet_seconds": report["colornet"].get("seconds"),
        "raster_backend": report["raster_backend"],
        "device": report["device"],
    }


def _output(command: list[str], env: dict[str, str]) -> str:
    """The command's standard output; its last error lines in the exception if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=REPO)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise RuntimeError(f"{' '.join(command[1:4])} exited {done.returncode}: {tail}")
    return done.stdout


def _apply_style(plan: Plan, run: Path) -> dict:
    import numpy as np
    import torch

    from backend.fast.apply import StyleApplier
    from backend.style.builtin import BUILTIN_STYLES

    device = torch.device(plan.device)
    applier = StyleApplier.load(run, device)
    image = BUILTIN_STYLES["painting"]()
    applier.apply(image)
    times = []
    for _ in range(plan.apply_repeats):
        started = time.perf_counter()
        applier.apply(image)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return {"median_seconds": round(float(np.median(times)), 4)}


if __name__ == "__main__":
    main()
