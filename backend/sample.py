"""The built-in sample: a capture of the project's own head asset, shipped in meshes/."""

from __future__ import annotations

from pathlib import Path

from backend.errors import BackendError

MESHES = Path(__file__).resolve().parents[1] / "meshes"
SAMPLE_CAPTURE = MESHES / "sample_capture"


def sample_capture_dir() -> Path:
    if not (SAMPLE_CAPTURE / "transforms_train.json").is_file():
        raise BackendError(
            f"the built-in sample capture is missing at {SAMPLE_CAPTURE}; "
            "run from a checkout of the repository (pip install -e .)"
        )
    return SAMPLE_CAPTURE
