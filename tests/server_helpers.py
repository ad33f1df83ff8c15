"""The real service in tests: ``python -m backend serve`` as a subprocess, an HTTP client.

The client speaks through ``http.client`` so tests can send anything at all (broken
multipart bodies, odd headers) and read every answer, 4xx included.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from backend.style.builtin import BUILTIN_STYLES

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0
FINISHED = ("done", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass(frozen=True)
class Part:
    """One multipart field: text (``filename`` None) or a file."""

    name: str
    value: bytes | str
    filename: str | None = None
    content_type: str = "application/octet-stream"


def multipart(parts: list[Part]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type header."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for part in parts:
        out.write(f"--{boundary}\r\n".encode())
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        out.write(f"Content-Disposition: {disposition}\r\n".encode())
        if part.filename is not None:
            out.write(f"Content-Type: {part.content_type}\r\n".encode())
        value = part.value.encode() if isinstance(part.value, str) else part.value
        out.write(b"\r\n" + value + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Server:
    """A running ``python -m backend serve`` with its own data folder and token file."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def token_file(self) -> Path:
        return self.root / "token"

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    def start(self, *extra: str) -> Server:
        command = [sys.executable, "-m", "backend", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir), "--token-file", str(self.token_file)]
        command += ["--offline", "--threads", "1", *extra]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()[-4000:]}")
            try:
                if self.request("GET", "/health", token=None).status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log()[-4000:]}")

    def stop(self) -> None:
        """SIGTERM, as a user's Ctrl-C or service manager would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")

    def worker_pid(self) -> int:
        return int((self.data_dir / "worker.pid").read_text())

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | bool | None = True,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        parts: list[Part] | None = None,
        timeout: float = 60.0,
    ) -> Reply:
        """One request; ``token=True`` sends the server's token, a string sends that."""
        sent = dict(headers or {})
        if token is True:
            token = self.token
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if parts is not None:
            body, sent["Content-Type"] = multipart(parts)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def submit(self, parts: list[Part]) -> dict:
        reply = self.request("POST", "/jobs", parts=parts)
        assert reply.status == 201, reply.body
        return reply.json()

    def job(self, job_id: str) -> dict:
        reply = self.request("GET", f"/jobs/{job_id}")
        assert reply.status == 200, reply.body
        return reply.json()

    def wait(self, job_id: str, states=FINISHED, timeout: float = 240.0, every=0.2) -> dict:
        """Poll until the job is in one of ``states``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in states:
                return job
            time.sleep(every)
        raise AssertionError(f"job {job_id} not {states} after {timeout} s: {job}")

    def watch(self, job_id: str, timeout: float = 240.0) -> tuple[dict, list[dict]]:
        """Poll until the job ends; returns it and every snapshot taken while it ran."""
        running = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in FINISHED:
                return job, running
            if job["state"] == "running":
                running.append(job)
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def path_job(capture: Path, options: dict) -> list[Part]:
    """The fields of a job on a capture folder the server can read, with the 'ink' style."""
    return [
        Part("capture_path", str(capture)),
        Part("builtin_style", "ink"),
        Part("options", json.dumps(options)),
    ]


def zip_folder(folder: Path, top: str | None = "capture") -> bytes:
    """A capture folder as a zip, under one top-level folder (or at the root)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                archive.write(path, f"{top}/{name}" if top else name)
    return out.getvalue()


def png_bytes(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def style_png(name: str = "ink", size: int = 64) -> bytes:
    return png_bytes((BUILTIN_STYLES[name](size) * 255).astype(np.uint8))
