"""The service with ``--executor ray`` against a real local Ray instance (two CPU slots).

Ray starts with ``ray start --head`` on a free port, as a studio's cluster would run
beside the server; the server joins it with ``--ray-address``. The local executor's own
tests (test_server_queue, test_server_resume) stay as they are.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server_helpers import Server, free_port, path_job

pytest.importorskip("ray", reason="the Ray executor needs pip install -e '.[ray]'")

RAY_CPUS = 2
SHORT = {"steps": 10, "stop_after": "nerf"}
TO_MESH = {"steps": 20, "stop_after": "mesh"}


def _ray(*args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("ray")), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def ray_address():
    """A Ray head with two CPUs on a free port, stopped after the module's tests.

    Token authentication is off for this loopback-only test cluster (the head and the
    server inherit the setting); a studio's cluster keeps its own (README)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    port = free_port()
    temp = Path("/tmp") / f"ray-tests-{os.getpid()}"  # Ray's socket paths must stay short
    started = _ray(
        "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
        f"--num-cpus={RAY_CPUS}", "--num-gpus=0",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    yield f"127.0.0.1:{port}"
    _ray("stop", "--force")
    shutil.rmtree(temp, ignore_errors=True)
    del os.environ["RAY_AUTH_MODE"]


@pytest.fixture(scope="module")
def server(ray_address: str, tmp_path_factory: pytest.TempPathFactory):
    running = Server(tmp_path_factory.mktemp("ray-server"))
    running.start("--executor", "ray", "--ray-address", ray_address)
    yield running
    running.stop()


@pytest.mark.slow
def test_four_jobs_on_two_ray_workers_run_two_at_a_time(server: Server, tiny_capture_dir: Path):
    ids = [server.submit(path_job(tiny_capture_dir, SHORT))["id"] for _ in range(4)]
    most_running, progress_seen = 0, False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        jobs = [server.job(job_id) for job_id in ids]
        running = [j for j in jobs if j["state"] == "running"]
        most_running = max(most_running, len(running))
        progress_seen |= any(j["stage"] == "nerf" and j["progress"] > 0 for j in running)
        if all(j["state"] in ("done", "failed", "cancelled") for j in jobs):
            break
        time.sleep(0.2)
    assert [j["state"] for j in jobs] == ["done"] * 4, jobs
    assert most_running == RAY_CPUS
    assert progress_seen  # progress flowed back from the Ray workers while they ran
    assert all("nerf/nerf.safetensors" in j["artifacts"] for j in jobs)


@pytest.mark.slow
def test_a_killed_ray_worker_makes_its_job_resume_with_its_earlier_artifacts(
    server: Server, tiny_capture_dir: Path
):
    job_id = server.submit(path_job(tiny_capture_dir, TO_MESH))["id"]
    job = server.job(job_id)
    while job["state"] in ("queued", "running") and job["stage"] in ("queued", "capture", "nerf"):
        time.sleep(0.1)
        job = server.job(job_id)
    assert job["state"] == "running", job
    checkpoint = server.data_dir / "jobs" / job_id / "out" / "nerf" / "nerf.safetensors"
    before = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    pid = int((server.data_dir / "jobs" / job_id / "executor.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    job = server.wait(job_id, timeout=300)
    assert job["state"] == "done", job
    assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() == before
    assert int((server.data_dir / "jobs" / job_id / "executor.pid").read_text()) != pid
    assert "mesh.glb" in job["artifacts"]


@pytest.mark.slow
def test_cancel_stops_a_ray_job_within_seconds(server: Server, tiny_capture_dir: Path):
    job_id = server.submit(path_job(tiny_capture_dir, TO_MESH))["id"]
    job = server.wait(job_id, states=("running",), timeout=60)
    while job["progress"] == 0.0 and job["state"] == "running":
        time.sleep(0.1)
        job = server.job(job_id)
    asked = time.monotonic()
    assert server.request("POST", f"/jobs/{job_id}/cancel").status == 200
    job = server.wait(job_id, timeout=30, every=0.1)
    assert job["state"] == "cancelled" and time.monotonic() - asked < 10.0


def test_a_job_asking_for_a_gpu_the_cluster_lacks_fails_with_the_reason(
    server: Server, tiny_capture_dir: Path
):
    job_id = server.submit(path_job(tiny_capture_dir, {**SHORT, "device": "cuda"}))["id"]
    job = server.wait(job_id, timeout=60)
    assert job["state"] == "failed"
    assert "no node of the Ray cluster has one" in job["error"]


def _serve(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "backend", "serve", "--port", str(free_port())]
    command += ["--data-dir", str(tmp_path / "data"), "--token-file", str(tmp_path / "token")]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    return subprocess.run(
        [*command, *extra], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_a_ray_address_without_the_ray_executor_is_refused(tmp_path: Path):
    result = _serve(tmp_path, "--ray-address", "127.0.0.1:6379")
    assert result.returncode == 2 and "--ray-address needs --executor ray" in result.stderr


def test_an_unreachable_cluster_stops_serve_with_one_line(tmp_path: Path):
    address = f"127.0.0.1:{free_port()}"
    result = _serve(tmp_path, "--executor", "ray", "--ray-address", address)
    assert result.returncode == 2
    assert f"error: cannot join the Ray cluster at {address}" in result.stderr
    assert "Traceback" not in result.stderr
