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


BACKGROUNDS = ("none", "textured")


@dataclass(frozen=True)
class SynthRequest:
    """What to render: mesh, number of training and held-out views, square resolution,
    and how much like a real capture it looks: ``framing`` below 1 moves the cameras in
    until the subject leaves the frame, ``background`` "textured" makes the images
    opaque with a textured room behind the head, ``jitter`` (0-1) moves and rolls each
    camera off its ideal pose, ``albedo_detail`` (0-1) adds spots and grain to the skin.
    ``samples`` per pixel trade noise for time (Cycles; 64 leaves no visible noise)."""

    mesh: Path
    out: Path
    views: int
    heldout: int
    resolution: int
    blender: Path | None = None
    framing: float = 1.0
    background: str = "none"
    jitter: float = 0.0
    albedo_detail: float = 0.0
    samples: int = 64

    def __post_init__(self) -> None:
        """Checked on construction, so a request that exists can be rendered: callers may
        say what they are about to do, or clear an old render, before rendering."""
        if not self.mesh.is_file():
            raise BackendError(f"mesh not found: {self.mesh}")
        if self.views < 1 or self.heldout < 0:
            raise BackendError("--views must be at least 1 and --heldout at least 0")
        if not 8 <= self.resolution <= 4096:
            raise BackendError(f"--res must be between 8 and 4096, got {self.resolution}")
        if not 0.3 <= self.framing <= 3.0:
            raise BackendError(f"--framing must be between 0.3 and 3, got {self.framing}")
        if self.background not in BACKGROUNDS:
            raise BackendError(f"--background must be one of {', '.join(BACKGROUNDS)}")
        for flag, value in (("--jitter", self.jitter), ("--albedo-detail", self.albedo_detail)):
            if not 0.0 <= value <= 1.0:
                raise BackendError(f"{flag} must be between 0 and 1, got {value}")
        if not 1 <= self.samples <= 4096:
            raise BackendError(f"samples must be between 1 and 4096, got {self.samples}")


def render_capture(request: SynthRequest) -> Path:
    """Render the capture folder and return it; raises BackendError with Blender's reason."""
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
        "--framing",
        str(request.framing),
        "--background",
        request.background,
        "--jitter",
        str(request.jitter),
        "--albedo-detail",
        str(request.albedo_detail),
        "--samples",
        str(request.samples),
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
