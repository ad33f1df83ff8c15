"""Where the service keeps its data and token, and the limits it enforces on uploads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

APP_NAME = "stylized-heads"
DATA_ENV = "STYLIZED_HEADS_DATA"
TOKEN_ENV = "STYLIZED_HEADS_TOKEN_FILE"
MIB = 1024 * 1024
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Limits:
    """What one request may carry; everything beyond is refused with a 4xx, not stored."""

    max_upload_bytes: int = 1024 * MIB
    max_unpacked_bytes: int = 4096 * MIB
    max_zip_entries: int = 5000
    max_images: int = 2000
    max_image_side: int = 8192
    max_styles: int = 16


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``serve`` needs; the worker process gets the parts it uses as arguments.

    ``clip_weights`` is the CLIP checkpoint folder for prompts (None: transformers' cache);
    it is the service's, not a job's, since CLIP's weights come from the machine's owner.
    """

    data_dir: Path
    token_file: Path
    host: str = "127.0.0.1"
    port: int = 8765
    threads: int | None = None
    offline: bool = False
    limits: Limits = field(default_factory=Limits)
    executor: str = "local"
    ray_address: str | None = None
    clip_weights: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def worker_log(self) -> Path:
        return self.data_dir / "worker.log"


def default_data_dir() -> Path:
    """``$STYLIZED_HEADS_DATA``, else ``$XDG_DATA_HOME/stylized-heads`` (XDG default)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / APP_NAME


def default_token_file() -> Path:
    """``$STYLIZED_HEADS_TOKEN_FILE``, else ``$XDG_CONFIG_HOME/stylized-heads/token``."""
    if os.environ.get(TOKEN_ENV):
        return Path(os.environ[TOKEN_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / APP_NAME / "token"
