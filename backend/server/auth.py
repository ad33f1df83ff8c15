"""The bearer token: made once, kept in a file only its owner can read, checked per request.

The server binds to loopback, but any local user (or a web page making requests to
localhost) could reach it; the token limits access to whoever can read the file.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import sys
import tempfile
from pathlib import Path

from backend.errors import BackendError

OWNER_ONLY = 0o600


def load_or_create_token(path: Path) -> str:
    """The token in ``path``; a new one is written there (mode 0600) if there is none."""
    path = Path(path)
    if not path.exists():
        _create(path)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"warning: {path} was readable by others; made it owner-only", file=sys.stderr)
            path.chmod(OWNER_ONLY)
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackendError(f"cannot read the token file {path}: {exc}") from exc
    if len(token) < 16 or not token.isprintable() or " " in token:
        raise BackendError(
            f"the token file {path} does not hold a usable token; delete it to make a new one"
        )
    return token


def _create(path: Path) -> None:
    """Write a fresh token; two servers starting at once agree on the first one written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".token.", dir=path.parent)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise BackendError(f"cannot create the token file {path}: {exc}") from exc


def token_matches(header: bytes | None, token: str) -> bool:
    """Whether an ``Authorization`` header value carries the token (constant time)."""
    if header is None:
        return False
    scheme, _, given = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(given.strip(), token.encode("ascii"))
