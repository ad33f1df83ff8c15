"""The headless job: find or start the backend, run the job, import, save (see headless.py).

Blocks until the job is done (timers do not run in background mode) and returns a
process exit status; every failure prints one ``error:`` line naming the problem.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import urllib.parse
from pathlib import Path

import bpy

from .backend_process import BackendProcess, wait_healthy
from .client import DEFAULT_URL, BackendClient, ClientError, default_token_file, read_token
from .importer import import_results
from .job_request import JobRequest, StyleSource
from .jobs import JobTask

PROGRESS_SECONDS = 2.0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="headless.py", description="Stylize a face capture and save a .blend"
    )
    parser.add_argument("--capture", type=Path, required=True, help="capture folder")
    parser.add_argument("--style", type=Path, action="append", default=[], help="style image")
    parser.add_argument("--builtin-style", action="append", default=[], help="built-in style")
    parser.add_argument("--prompt", help="a look in words: a CLIP edit, with or without styles")
    parser.add_argument("--out", type=Path, required=True, help="the .blend to write")
    parser.add_argument("--glb", type=Path, help="also export the stylized heads as a GLB")
    parser.add_argument("--url", default=DEFAULT_URL, help="backend URL")
    parser.add_argument("--token", default="", help="backend token (else read --token-file)")
    parser.add_argument("--token-file", type=Path, default=default_token_file())
    parser.add_argument(
        "--start-command",
        help="command that starts a backend when none answers at a local --url "
        "(default: this Python's 'python -m backend serve' on the URL's port)",
    )
    parser.add_argument(
        "--clip-weights",
        type=Path,
        help="CLIP checkpoint folder for --prompt, given to the backend this script starts "
        "(a backend already running keeps its own setting)",
    )
    parser.add_argument("--name", help="job name (default: the capture folder's name)")
    parser.add_argument("--preset", choices=("fast", "quality"), default="fast")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--style-steps", type=int)
    parser.add_argument("--max-side", type=int)
    parser.add_argument("--colornet", action="store_true", help="train the style control too")
    parser.add_argument("--material", choices=("lit", "unlit"), default="lit")
    methods = ("hybrid", "mutual", "per-view", "nerf-on-2d")
    parser.add_argument("--method", choices=methods, default="hybrid")
    parser.add_argument("--texture-size", type=int, choices=(1024, 2048, 4096))
    parser.add_argument("--faces", dest="face_budget", type=int, help="face budget")
    args = parser.parse_args(argv)
    if args.prompt is not None and not args.prompt.strip():
        parser.error("--prompt is empty; describe the look, e.g. 'a bronze statue'")
    if not args.style and not args.builtin_style and args.prompt is None:
        parser.error("give at least one --style IMG (or --builtin-style NAME), or a --prompt TEXT")
    return args


def default_start_command(url: str, token_file: Path, clip_weights: Path | None = None) -> str:
    """``python -m backend serve`` on the URL's port, with a Python that has the backend,
    and the CLIP weights for prompts when given."""
    parts = urllib.parse.urlsplit(url)
    python = sys.executable if not bpy.app.binary_path else "python3"
    command = (
        f"{shlex.quote(python)} -m backend serve --host {parts.hostname} "
        f"--port {parts.port or 8765} --token-file {shlex.quote(str(token_file))}"
    )
    if clip_weights is not None:
        command += f" --clip-weights {shlex.quote(str(clip_weights.resolve()))}"
    return command


def connect(args: argparse.Namespace) -> tuple[BackendClient, BackendProcess | None]:
    """A client for a backend that answers, starting a local one when none does."""
    client = BackendClient(args.url, read_token(args.token, str(args.token_file)))
    if not client.is_local and not bpy.app.online_access:
        raise ClientError(
            f"{client.url} is not on this machine and Blender's online access is off "
            "(run Blender with --online-mode, or use a local backend)"
        )
    try:
        client.health()
        return client, None
    except ClientError:
        if not client.is_local:
            raise
    command = args.start_command or default_start_command(
        client.url, args.token_file, args.clip_weights
    )
    print(f"stylized heads: starting the backend: {command}", flush=True)
    process = BackendProcess(command)
    try:
        wait_healthy(client, process, timeout=120.0)
    except ClientError:
        process.stop()
        raise
    return BackendClient(client.url, read_token(args.token, str(args.token_file))), process


def options(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {
        "preset": args.preset,
        "device": args.device,
        "colornet": args.colornet,
        "name": args.name or args.capture.resolve().name,
        "material": args.material,
        "method": args.method,
    }
    for key in ("steps", "style_steps", "max_side", "texture_size", "face_budget"):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    if args.prompt is not None:
        out["prompt"] = args.prompt.strip()
    return out


def run_job(client: BackendClient, request: JobRequest, work: Path):
    """Submit and follow the job, printing progress; the finished JobView."""
    task = JobTask(client, work / "results", lambda c: request.submit(c, work / "upload"))
    task.start()
    while True:
        view = task.wait(PROGRESS_SECONDS)
        if view.finished:
            return view
        if view.job_id:
            eta = "" if view.eta_seconds is None else f", ETA {view.eta_seconds:.0f} s"
            print(f"stylized heads: {view.progress:6.1%} {view.message}{eta}", flush=True)


def export_glb(collection: bpy.types.Collection, path: Path) -> None:
    view_layer = bpy.context.view_layer
    previous = view_layer.active_layer_collection
    view_layer.active_layer_collection = next(
        lc for lc in view_layer.layer_collection.children if lc.collection == collection
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.export_scene.gltf(filepath=str(path), use_active_collection=True)
    finally:
        view_layer.active_layer_collection = previous


def main(argv: list[str]) -> int:
    args = parse(argv)
    capture = args.capture.resolve()
    process = None
    try:
        if not capture.is_dir():
            raise ClientError(f"capture folder not found: {capture}")
        missing = [str(p) for p in args.style if not p.is_file()]
        if missing:
            raise ClientError(f"style image not found: {', '.join(missing)}")
        styles = tuple(StyleSource(path=p.resolve()) for p in args.style) + tuple(
            StyleSource(builtin=name) for name in args.builtin_style
        )
        client, process = connect(args)
        with tempfile.TemporaryDirectory(prefix="stylized-heads-") as tmp:
            view = run_job(client, JobRequest(capture, styles, options(args)), Path(tmp))
            if view.error:
                raise ClientError(view.error)
            if view.state != "done" or not view.results:
                raise ClientError(f"the job ended as '{view.state}' without results")
            if not bpy.data.filepath:
                bpy.ops.wm.read_factory_settings(use_empty=True)
            collection = import_results(view.results, view.job_id, view.name, client.url)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(args.out.resolve()))
        if args.glb:
            export_glb(collection, args.glb.resolve())
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if process is not None:
            process.stop()
    print(f"stylized heads: saved {args.out} (collection '{collection.name}')", flush=True)
    return 0
