"""Render a synthetic capture of a mesh with Blender, in a separate process.

The backend never imports bpy (it is heavy and pins numpy); the renderer is the script
``meshes/render_capture.py``, run by a Python that has the ``bpy`` module or by a Blender
executable, and its result is then loaded and validated like any other capture.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from backend.errors import BackendError

REPO_ROOT = Path(__file__).resolve().parents[2]
RENDER_SCRIPT = REPO_ROOT / "meshes" / "render_capture.py"
SAMPLE_HEAD = REPO_ROOT / "meshes" / "head.glb"


@dataclass(frozen=True)
class SynthRequest:
    """What to render: mesh, number of training and held-out views, square resolution."""

    mesh: Path
    out: Path
    views: int
    heldout: int
    resolution: int
    blender: Path | None = None

    def validate(self) -> None:
        if not self.mesh.is_file():
            raise BackendError(f"mesh not found: {self.mesh}")
        if self.views < 1 or self.heldout < 0:
            raise BackendError("--views must be at least 1 and --heldout at least 0")
        if not 8 <= self.resolution <= 4096:
            raise BackendError(f"--res must be between 8 and 4096, got {self.resolution}")


def render_capture(request: SynthRequest) -> Path:
    """Render the capture folder and return it; raises BackendError with Blender's reason."""
    request.validate()
    args = [
        "--mesh",
        str(request.mesh.resolve()),
        "--views",
        str(request.views),
        "--heldout",
        str(request.heldout),
        "--res",
        str(request.resolution),
        "--out",
        str(request.out.resolve()),
    ]
    result = subprocess.run(
        _blender_command(request.blender) + args, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise BackendError(f"Blender failed to render the capture:\n{tail}")
    return request.out


def _blender_command(blender: Path | None) -> list[str]:
    if blender is not None:
        return [str(blender), "--background", "--python", str(RENDER_SCRIPT), "--"]
    if importlib.util.find_spec("bpy") is None:
        raise BackendError(
            "capture-synth needs Blender: install the bpy module "
            "(pip install -e '.[dev]', which brings bpy==5.0.1) or pass --blender PATH"
        )
    return [sys.executable, str(RENDER_SCRIPT)]
