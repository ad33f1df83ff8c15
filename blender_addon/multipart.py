"""multipart/form-data encoding with the standard library (no bpy, no third-party code).

Blender ships no ``requests``; urllib sends bytes, so the body is built here. Kept free of
bpy so it can be tested and reused outside Blender, like the glTF add-on's io layer.
"""

from __future__ import annotations

import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FilePart:
    """A file field: its name in the form, the file name sent, and the content."""

    field: str
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"

    @classmethod
    def from_path(cls, field: str, path: Path, filename: str | None = None) -> FilePart:
        """Read a file from disk; the MIME type follows its suffix."""
        name = filename or path.name
        guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return cls(field, name, path.read_bytes(), guessed)


def encode(
    fields: list[tuple[str, str]], files: list[FilePart], boundary: str | None = None
) -> tuple[bytes, str]:
    """The body and its Content-Type header; repeated field names stay repeated, in order."""
    boundary = boundary or "----stylized-heads-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, value in fields:
        chunks.append(_head(boundary, f'form-data; name="{_quote(name)}"'))
        chunks.append(value.encode("utf-8") + b"\r\n")
    for part in files:
        disposition = f'form-data; name="{_quote(part.field)}"; filename="{_quote(part.filename)}"'
        chunks.append(_head(boundary, disposition, part.content_type))
        chunks.append(part.content + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _head(boundary: str, disposition: str, content_type: str | None = None) -> bytes:
    lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _quote(text: str) -> str:
    """Escape what would end a quoted header parameter (as browsers do)."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
