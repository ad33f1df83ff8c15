"""``python -m backend serve``: check the settings, make the token, run uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from backend.errors import BackendError
from backend.server.auth import load_or_create_token
from backend.server.config import (
    EXECUTORS,
    MIB,
    Limits,
    ServerConfig,
    default_data_dir,
    default_token_file,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="jobs and their files")
    parser.add_argument("--token-file", type=Path, default=None, help="bearer token file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads per job")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never download weights: use those in the cache, or refuse",
    )
    parser.add_argument(
        "--clip-weights",
        type=Path,
        default=None,
        help="CLIP checkpoint folder for prompts (transformers' layout); default: "
        "openai/clip-vit-base-patch32 from transformers' cache",
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where jobs run: local (one worker process, the default) or ray (tasks on a Ray "
        "cluster; needs pip install -e '.[ray]')",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to join (host:port of its head, or 'auto'); default: start one here",
    )
    defaults = Limits()
    parser.add_argument(
        "--max-upload-mb", type=int, default=defaults.max_upload_bytes // MIB, help="per request"
    )
    parser.add_argument(
        "--max-images", type=int, default=defaults.max_images, help="images per capture"
    )
    parser.add_argument(
        "--max-image-side", type=int, default=defaults.max_image_side, help="pixels per side"
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    if args.ray_address is not None and args.executor != "ray":
        raise BackendError("--ray-address needs --executor ray")
    if not 0 <= args.port <= 65535:
        raise BackendError(f"--port must be from 0 to 65535, got {args.port}")
    for flag in ("max_upload_mb", "max_images", "max_image_side", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise BackendError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    limits = Limits(
        max_upload_bytes=args.max_upload_mb * MIB,
        max_images=args.max_images,
        max_image_side=args.max_image_side,
    )
    return ServerConfig(
        data_dir=(args.data_dir or default_data_dir()).expanduser().resolve(),
        token_file=(args.token_file or default_token_file()).expanduser().resolve(),
        host=args.host,
        port=args.port,
        threads=args.threads,
        offline=args.offline,
        limits=limits,
        executor=args.executor,
        ray_address=args.ray_address,
        clip_weights=_absolute(args.clip_weights),
    )


def _absolute(path: Path | None) -> Path | None:
    """An absolute path: the worker and Ray's workers run in other folders."""
    return path.expanduser().resolve() if path is not None else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace) -> int:
    """Start the service in the foreground until interrupted."""
    config = config_from_args(args)
    if not is_loopback(config.host):
        if not args.allow_remote:
            raise BackendError(
                f"--host {config.host} is not a loopback address: other machines could reach "
                "the service; pass --allow-remote as well if that is what you want"
            )
        print(
            f"warning: serving on {config.host}, reachable from other machines; anyone "
            "with the token can run jobs and read their files",
            file=sys.stderr,
        )
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackendError(f"cannot create the data folder {config.data_dir}: {exc}") from exc
    token = load_or_create_token(config.token_file)
    import uvicorn

    from backend.server.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    print(f"token file: {config.token_file}", flush=True)
    print(f"data folder: {config.data_dir}", flush=True)
    print(f"API docs: http://{config.host}:{config.port}/docs", flush=True)
    uvicorn.run(create_app(config, token), host=config.host, port=config.port, log_level="info")
    return 0
