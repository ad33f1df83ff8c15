"""The form fields of ``POST /jobs`` and ``POST /jobs/{id}/apply-style`` (no bpy).

A local backend reads the capture folder in place (``capture_path``, loopback only, per
docs/API.md); a remote one gets a zip. Style images are always uploaded: they are small,
and their file names name the styles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .capture_format import zip_capture
from .client import BackendClient
from .multipart import FilePart

# The first prompt on a job has the backend train the job's CLIP mapper: tens of seconds
# on a CPU, longer than the client's usual wait.
PROMPT_TIMEOUT = 300.0


@dataclass(frozen=True)
class StyleSource:
    """A style image file, or the name of a backend built-in style."""

    path: Path | None = None
    builtin: str = ""

    def __post_init__(self) -> None:
        if (self.path is None) == (not self.builtin):
            raise ValueError("a style is either an image file or a built-in name")


@dataclass(frozen=True)
class JobRequest:
    capture: Path
    styles: tuple[StyleSource, ...]
    options: dict[str, object] = field(default_factory=dict)

    def submit(self, client: BackendClient, work_dir: Path) -> dict[str, object]:
        """Create the job (blocking: call from a worker thread); returns the job."""
        fields: list[tuple[str, str]] = [("options", json.dumps(self.options))]
        files = style_parts(self.styles, "style", "builtin_style", fields)
        if client.is_local:
            fields.append(("capture_path", str(self.capture.resolve())))
        else:
            work_dir.mkdir(parents=True, exist_ok=True)
            archive = zip_capture(self.capture, work_dir / "capture.zip")
            files.append(FilePart.from_path("capture", archive))
        return client.create_job(fields, files)


def style_parts(
    styles: tuple[StyleSource, ...],
    file_field: str,
    builtin_field: str,
    fields: list[tuple[str, str]],
) -> list[FilePart]:
    """Append built-in names to ``fields``; return the image uploads."""
    files = []
    for style in styles:
        if style.path is None:
            fields.append((builtin_field, style.builtin))
        else:
            files.append(FilePart.from_path(file_field, style.path))
    return files


@dataclass(frozen=True)
class ApplyStyleRequest:
    """A new style (an image, a built-in or, with ``style`` None, a prompt) for a finished
    job's colour net, optionally mixed with a second style."""

    style: StyleSource | None
    mix: StyleSource | None = None
    t: float = 0.0
    strength: float = 1.0
    format: str = "png"
    prompt: str = ""

    def __post_init__(self) -> None:
        if (self.style is None) == (not self.prompt):
            raise ValueError("a new style is either a style source or a prompt")

    def send(self, client: BackendClient, job_id: str) -> bytes:
        """The stylized texture (PNG) or mesh (GLB) bytes; blocking."""
        fields = [
            ("t", f"{self.t:.4f}"),
            ("strength", f"{self.strength:.4f}"),
            ("format", self.format),
        ]
        if self.style is None:
            fields.append(("prompt", self.prompt))
            files = []
        else:
            files = style_parts((self.style,), "style", "builtin_style", fields)
        if self.mix is not None:
            files += style_parts((self.mix,), "mix", "mix_builtin", fields)
        timeout = PROMPT_TIMEOUT if self.prompt else None
        return client.apply_style(job_id, fields, files, timeout)
