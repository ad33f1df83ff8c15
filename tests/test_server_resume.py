"""Crash recovery of the real service: the worker killed with SIGKILL mid-stage.

The first kill is survived by the running server (its supervisor starts a new worker);
the second comes with a server restart. Either way the job resumes from its last
finished stage, finishes, and the artifacts written before the kills stay byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.server_helpers import Part, Server

OPTIONS = {"steps": 60, "style_steps": 3, "face_budget": 5000}
NERF_FILES = ["nerf/nerf.safetensors", "nerf/nerf.json", "nerf/result.json"]


def _attempts(server: Server, job_id: str) -> int:
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        return db.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def _wait_for_attempt(server: Server, job_id: str, attempt: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _attempts(server, job_id) < attempt:
        assert time.monotonic() < deadline, f"attempt {attempt} did not start"
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_worker_and_restarted_server_resume_the_job(tiny_capture_dir: Path, tmp_path: Path):
    server = Server(tmp_path / "service").start()
    try:
        parts = [
            Part("capture_path", str(tiny_capture_dir)),
            Part("builtin_style", "ink"),
            Part("options", json.dumps(OPTIONS)),
        ]
        job_id = server.submit(parts)["id"]
        out = server.data_dir / "jobs" / job_id / "out"
        while not (out / "nerf" / "result.json").is_file():
            assert server.job(job_id)["state"] in ("queued", "running")
            time.sleep(0.1)
        before = {name: (out / name).read_bytes() for name in NERF_FILES}
        token = server.token

        time.sleep(1.0)  # into the mesh stage
        first = server.worker_pid()
        os.kill(first, signal.SIGKILL)
        _wait_for_attempt(server, job_id, 2)
        assert server.worker_pid() != first
        assert server.process.poll() is None

        time.sleep(1.5)  # the new worker is meshing again
        assert not (out / "report.json").exists()
        os.kill(server.worker_pid(), signal.SIGKILL)
        server.stop()
    finally:
        server.stop()

    restarted = Server(server.root).start()
    try:
        assert restarted.token == token
        job = restarted.wait(job_id, timeout=240)
        assert job["state"] == "done", job
        assert _attempts(restarted, job_id) == 3
        assert {name: (out / name).read_bytes() for name in NERF_FILES} == before
        assert job["metrics"]["nerf"]["steps"] == 60
        assert {"mesh.glb", "stylized_ink.glb", "report.json"} <= set(job["artifacts"])
        log = (restarted.data_dir / "worker.log").read_text()
        assert log.count(f"job {job_id}: recovered after an interruption") == 2
    finally:
        restarted.stop()
