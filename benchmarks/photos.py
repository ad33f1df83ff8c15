"""Cameras from photos: capture-from-photos on a rendered set whose cameras are known.

    python benchmarks/photos.py --work DIR [--views 48] [--res 512] [--samples 16]
        [--jitter J] [--albedo-detail D] [--camera-model pinhole|opencv]
        [--peak-threshold T] [--dsp] [--json FILE]

Blender renders the sample head (``meshes/head.glb``) in front of the textured room
(``capture-synth --background textured``) from ``--views`` cameras at ``--res`` px
(``--jitter`` moves and rolls them off their ideal poses, ``--albedo-detail`` adds spots
and grain to the skin: other sets to try, as ``capture-synth`` makes them), kept in
``DIR/render`` and reused by later runs with the same settings and scene script
(``meshes/render_capture.py``); the images, without their poses, become ``DIR/photos``,
and ``capture-from-photos`` writes ``DIR/capture``.
The estimated cameras are compared with the true ones after the best similarity between
their centres (Umeyama): rotation error in degrees, position error in % of the true
camera distance, focal length error, how many photos registered, and the time of each
step (the render not counted). Prints one JSON object (also written to ``--json``) and a
short table.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from backend.captures import load_capture
from backend.captures.alignment import pose_errors
from backend.captures.colmap import CAMERA_MODELS, SfmSettings
from backend.captures.from_photos import PhotosRequest, capture_from_photos
from backend.captures.synth import RENDER_SCRIPT, SAMPLE_HEAD, SynthRequest, render_capture
from backend.errors import BackendError
from backend.files import write_json
from backend.progress import Progress

STEPS = ("features", "matching", "mapping", "cameras", "writing", "wrote")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--views", type=int, default=48)
    parser.add_argument("--res", type=int, default=512)
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--jitter", type=float, default=0.0, help="camera jitter (0-1)")
    parser.add_argument("--albedo-detail", type=float, default=0.0, help="skin spots (0-1)")
    parser.add_argument("--camera-model", choices=sorted(CAMERA_MODELS), default="pinhole")
    parser.add_argument("--peak-threshold", type=float, default=SfmSettings.peak_threshold)
    parser.add_argument("--dsp", action="store_true", help="DSP-SIFT (domain size pooling)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    try:
        _measure(args)
    except BackendError as exc:  # bad settings, a failed render, photos that do not register
        raise SystemExit(f"error: {exc}") from None


def _measure(args: argparse.Namespace) -> None:
    photos, truth = _photos(args)
    out = args.work / "capture"
    shutil.rmtree(out, ignore_errors=True)
    stamps: list[tuple[float, str]] = []

    def progress(update: Progress) -> None:
        stamps.append((time.perf_counter(), update.message))
        print(update.message, flush=True)

    started = time.perf_counter()
    settings = SfmSettings(
        camera_model=args.camera_model,
        peak_threshold=args.peak_threshold,
        domain_size_pooling=args.dsp,
    )
    request = PhotosRequest(photos, out, settings)
    capture_from_photos(request, progress)
    seconds = time.perf_counter() - started
    result = {
        "views": args.views,
        "res": args.res,
        "samples": args.samples,
        "jitter": args.jitter,
        "albedo_detail": args.albedo_detail,
        "camera_model": args.camera_model,
        "peak_threshold": args.peak_threshold,
        "dsp": args.dsp,
        **_scores(out, truth),
        "seconds": round(seconds, 1),
        "step_seconds": _step_seconds(started, stamps),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        write_json(args.json, result)
    print("| registered | rotation max / mean deg | position max / mean % | focal % | s |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {result['registered']} / {result['photos']} | {result['rotation_deg_max']:.3f} / "
        f"{result['rotation_deg_mean']:.3f} | {result['position_pct_max']:.3f} / "
        f"{result['position_pct_mean']:.3f} | {result['focal_error_pct']:+.2f} | "
        f"{result['seconds']:.0f} |"
    )


def _photos(args: argparse.Namespace) -> tuple[Path, dict[str, np.ndarray]]:
    """The rendered set as a folder of photos, and each photo's true pose and focal."""
    render = args.work / "render"
    settings = {
        "views": args.views,
        "res": args.res,
        "samples": args.samples,
        "jitter": args.jitter,
        "albedo_detail": args.albedo_detail,
        "scene": hashlib.sha256(RENDER_SCRIPT.read_bytes()).hexdigest()[:12],
    }
    stamp = render / "benchmark.json"
    if not stamp.is_file() or json.loads(stamp.read_text()) != settings:
        request = SynthRequest(
            SAMPLE_HEAD,
            render,
            args.views,
            0,
            args.res,
            background="textured",
            samples=args.samples,
            jitter=args.jitter,
            albedo_detail=args.albedo_detail,
        )
        shutil.rmtree(render, ignore_errors=True)
        print(f"rendering {args.views} views at {args.res} px ({args.samples} samples)")
        render_capture(request)
        stamp.write_text(json.dumps(settings))
    capture = load_capture(render)
    photos = args.work / "photos"
    shutil.rmtree(photos, ignore_errors=True)
    photos.mkdir(parents=True)
    truth = {}
    for index, frame in enumerate(capture.train + capture.heldout):
        name = f"view_{index:02d}.png"
        shutil.copy(render / (frame.name.removeprefix("./") + ".png"), photos / name)
        truth[name] = frame.camera
    return photos, truth


def _scores(out: Path, truth: dict) -> dict[str, object]:
    record = json.loads((out / "transforms.json").read_text())["from_photos"]
    capture = load_capture(out)
    frames = capture.train + capture.heldout
    names = [Path(f.name).name for f in frames]
    errors = pose_errors(
        np.stack([f.camera.c2w for f in frames]), np.stack([truth[n].c2w for n in names])
    )
    focal = frames[0].camera.intrinsics.fx
    true_focal = truth[names[0]].intrinsics.fx
    return {
        "photos": record["photos"],
        "registered": record["registered"],
        "unregistered": record["unregistered"],
        **{k: round(v, 4) for k, v in errors.summary().items()},
        "focal_px": round(focal, 2),
        "true_focal_px": round(true_focal, 2),
        "focal_error_pct": round(100.0 * (focal / true_focal - 1.0), 3),
        "reprojection_error_px": record["reprojection_error_px"],
        "points3D": record["points3D"],
        "focal_start": record["focal_start"],
    }


def _step_seconds(started: float, stamps: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds from each step's first message to the next step's."""
    firsts: dict[str, float] = {}
    for stamp, message in stamps:
        step = message.split(":")[0].split(" ")[0]
        if step in STEPS:
            firsts.setdefault(step, stamp)
    ordered = sorted(firsts.items(), key=lambda item: item[1])
    return {step: round(end - start, 1) for (step, start), (_, end) in itertools.pairwise(ordered)}


if __name__ == "__main__":
    main()
