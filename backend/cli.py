"""Command line: ``python -m backend <command>``.

Every command that runs stages writes ``OUT/report.json`` (keys in DESIGN.md). Problems
with the input print one clear line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from backend.captures import load_capture
from backend.captures.synth import SAMPLE_HEAD, SynthRequest, render_capture
from backend.device import DEVICE_CHOICES, resolve_device
from backend.errors import BackendError
from backend.files import write_json
from backend.nerf.config import PRESETS, preset
from backend.nerf.stage import run_nerf_stage
from backend.sample import sample_capture_dir


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    nerf = commands.add_parser("nerf", help="train the NeRF stage on a capture")
    nerf.add_argument("capture", type=Path)
    _add_run_options(nerf)
    nerf.set_defaults(handler=_nerf)

    demo = commands.add_parser("demo", help="run the pipeline on the built-in sample capture")
    _add_run_options(demo)
    demo.set_defaults(handler=_demo)

    synth = commands.add_parser("capture-synth", help="render a capture of a mesh with Blender")
    synth.add_argument("--mesh", type=Path, default=SAMPLE_HEAD)
    synth.add_argument("--views", type=int, default=56)
    synth.add_argument("--heldout", type=int, default=8)
    synth.add_argument("--res", type=int, default=128)
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--blender", type=Path, default=None, help="Blender executable")
    synth.set_defaults(handler=_capture_synth)
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--steps", type=int, default=None, help="override training steps")
    parser.add_argument(
        "--max-side", type=int, default=800, help="downscale images whose long side is larger"
    )


def _nerf(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    device = resolve_device(args.device)
    config = preset(args.preset)
    if args.steps is not None:
        if args.steps < 1:
            raise BackendError(f"--steps must be at least 1, got {args.steps}")
        config = config.with_steps(args.steps)
    print(f"loading capture {args.capture}", flush=True)
    capture = load_capture(args.capture, max_side=args.max_side)
    print(
        f"{len(capture.train)} training and {len(capture.heldout)} held-out frames at "
        f"{capture.resolution[0]}x{capture.resolution[1]}; training on {device}",
        flush=True,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = run_nerf_stage(capture, config, device, args.out)
    report = {
        "device": str(device),
        "capture": capture.summary(),
        "nerf": result.summary(),
        "seconds_total": round(time.perf_counter() - started, 2),
    }
    write_json(args.out / "report.json", report)
    print(
        f"held-out PSNR {result.psnr_heldout:.2f} dB after {result.steps} steps "
        f"({result.seconds:.0f} s); report: {args.out / 'report.json'}"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    args.capture = sample_capture_dir()
    return _nerf(args)


def _capture_synth(args: argparse.Namespace) -> int:
    request = SynthRequest(args.mesh, args.out, args.views, args.heldout, args.res, args.blender)
    print(f"rendering {args.views} + {args.heldout} views of {args.mesh} at {args.res} px")
    render_capture(request)
    capture = load_capture(args.out)
    print(f"wrote {args.out}: {len(capture.train)} training, {len(capture.heldout)} held-out")
    return 0
