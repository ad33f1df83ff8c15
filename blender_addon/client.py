"""HTTP client for the backend service (docs/API.md), standard library only, no bpy.

Every failure becomes a :class:`ClientError` whose message a user can act on (the backend
is not running, the token is wrong, the server refused the request and why), so the
panel and the headless script report one line instead of a traceback. Calls block: the
add-on makes them from worker threads, never from Blender's main thread.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .multipart import FilePart, encode

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_TIMEOUT = 30.0
TERMINAL_STATES = ("done", "failed", "cancelled")


class ClientError(Exception):
    """A request that failed, with a message meant for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def is_local_url(url: str) -> bool:
    """True for loopback hosts, which need no online access and may send server paths."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BackendClient:
    """One backend: its base URL and bearer token."""

    def __init__(self, url: str, token: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"backend URL '{url}' is not an http:// or https:// address")
        self.url = url.strip().rstrip("/")
        self.token = token.strip()
        self.timeout = timeout

    @property
    def is_local(self) -> bool:
        return is_local_url(self.url)

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def list_jobs(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/jobs").get("jobs", []))

    def job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{_segment(job_id)}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/jobs/{_segment(job_id)}/cancel")

    def create_job(self, fields: list[tuple[str, str]], files: list[FilePart]) -> dict[str, Any]:
        body, content_type = encode(fields, files)
        return self._json("POST", "/jobs", body, content_type)

    def download(self, job_id: str, name: str, dest: Path) -> Path:
        """Stream one artifact to ``dest`` (written whole or not at all)."""
        path = f"/jobs/{_segment(job_id)}/artifacts/{_segment(name)}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        with self._open("GET", path) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
        partial.replace(dest)
        return dest

    def apply_style(
        self,
        job_id: str,
        fields: list[tuple[str, str]],
        files: list[FilePart],
        timeout: float | None = None,
    ) -> bytes:
        """The file the colour net produced for a new style (PNG or GLB bytes); ``timeout``
        replaces the client's own for a request known to take longer."""
        body, content_type = encode(fields, files)
        path = f"/jobs/{_segment(job_id)}/apply-style"
        with self._open("POST", path, body, content_type, timeout) as response:
            return response.read()

    def _json(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> dict[str, Any]:
        with self._open(method, path, body, content_type) as response:
            raw = response.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ClientError(f"{self.url}{path}: the backend answered with invalid JSON") from exc
        if not isinstance(data, dict):
            raise ClientError(f"{self.url}{path}: expected a JSON object from the backend")
        return data

    def _open(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ):
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        request.add_header("Accept", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc, path) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(
                f"cannot reach the backend at {self.url} ({reason}); is it running? "
                "Start it with 'python -m backend serve' or set the start command "
                "in the add-on preferences"
            ) from None

    def _refusal(self, exc: urllib.error.HTTPError, path: str) -> ClientError:
        try:
            detail = json.loads(exc.read().decode("utf-8")).get("error")
        except (ValueError, AttributeError, OSError):
            detail = None
        if exc.code == 401:
            return ClientError(
                f"the backend at {self.url} refused the token ({detail or 'unauthorized'}); "
                "check the token or token file in the add-on preferences",
                401,
            )
        return ClientError(
            f"the backend refused {path} with HTTP {exc.code}: {detail or exc.reason}", exc.code
        )


def read_token(token: str, token_file: str) -> str:
    """The token typed in the preferences, else the one the backend wrote to its file."""
    if token.strip():
        return token.strip()
    if not token_file.strip():
        return ""
    path = Path(token_file).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def default_token_file() -> Path:
    """Where the backend writes its token when not told otherwise (docs/API.md)."""
    override = os.environ.get("STYLIZED_HEADS_TOKEN_FILE")
    if override:
        return Path(override)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "stylized-heads" / "token"


def _segment(text: str) -> str:
    return urllib.parse.quote(text, safe="")
