"""Where converted pretrained weights live on this machine.

One folder per user, outside every run folder, so that many runs share one download:
``$STYLIZED_HEADS_CACHE``, else ``$XDG_CACHE_HOME/stylized-heads``, else
``~/.cache/stylized-heads``; pretrained networks go under its ``pretrained/``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "STYLIZED_HEADS_CACHE"


def cache_root() -> Path:
    if explicit := os.environ.get(CACHE_ENV):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stylized-heads"


def pretrained_dir() -> Path:
    return cache_root() / "pretrained"
