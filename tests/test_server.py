"""The real service on 127.0.0.1: a whole job's lifecycle, authentication, downloads.

One server (a subprocess with its own worker) serves the module. The lifecycle job is
submitted by the first test and checked by the last two, so the tests between run while
it trains, as a client's requests would. It trains the colour net too, so that one job
serves the lifecycle and apply-style (each job costs a minute on two cores).
"""

from __future__ import annotations

import io
import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from backend.mesh.glb import read_glb
from tests.gltf_helpers import assert_valid_and_upright
from tests.server_helpers import REPO, Part, Server, style_png, zip_folder

JOB_OPTIONS = {
    "steps": 60,
    "style_steps": 3,
    "name": "lifecycle",
    "colornet": True,
    "colornet_steps": 60,
    "face_budget": 5000,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = Server(tmp_path_factory.mktemp("server")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def lifecycle_job(server: Server, tiny_capture_dir: Path) -> dict:
    parts = [
        Part("capture", zip_folder(tiny_capture_dir, top="head"), "head.zip"),
        Part("style", style_png("ink"), "my ink.png", "image/png"),
        Part("options", json.dumps(JOB_OPTIONS)),
    ]
    return server.submit(parts)


def test_a_new_job_is_queued_with_its_inputs(server: Server, lifecycle_job: dict):
    job = lifecycle_job
    assert re.fullmatch(r"[0-9a-f]{32}", job["id"])
    assert job["name"] == "lifecycle" and job["styles"] == ["my_ink"]
    assert job["state"] in ("queued", "running") and job["progress"] == 0.0
    assert job["error"] is None and job["has_colornet"] is False and job["metrics"] == {}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", job["created"])
    listed = server.request("GET", "/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    spec = json.loads((server.data_dir / "jobs" / job["id"] / "job.json").read_text())
    assert spec["capture"].endswith("input/capture/head") and spec["options"]["steps"] == 60


def test_token_file_is_owner_only_and_every_route_but_health_needs_it(server: Server):
    mode = stat.S_IMODE(server.token_file.stat().st_mode)
    assert mode == 0o600 and len(server.token) >= 32
    assert server.request("GET", "/health", token=None).json() == {
        "status": "ok",
        "version": "0.1.0",
    }
    assert "/jobs" in server.request("GET", "/openapi.json", token=None).json()["paths"]
    for method, path in [("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/" + "0" * 32)]:
        for token in (None, "wrong-token", server.token + "x"):
            reply = server.request(method, path, token=token)
            assert reply.status == 401, (method, path, token)
            assert reply.json()["error"] and reply.headers["www-authenticate"] == "Bearer"
    basic = server.request("GET", "/jobs", token=None, headers={"Authorization": "Basic abc"})
    assert basic.status == 401
    assert server.request("GET", "/jobs").status == 200


def test_a_non_loopback_host_needs_an_explicit_flag(tmp_path: Path):
    command = [sys.executable, "-m", "backend", "serve", "--host", "0.0.0.0"]
    command += ["--data-dir", str(tmp_path / "data"), "--token-file", str(tmp_path / "token")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--allow-remote" in result.stderr
    assert not (tmp_path / "token").exists()


def test_unknown_jobs_and_artifacts_are_404(server: Server, lifecycle_job: dict):
    job_id = lifecycle_job["id"]
    for path in [
        "/jobs/" + "f" * 32,
        "/jobs/not-an-id",
        f"/jobs/{job_id}/artifacts/run.json",
        f"/jobs/{job_id}/artifacts/../job.json",
        f"/jobs/{job_id}/artifacts/%2e%2e/job.json",
        f"/jobs/{job_id}/artifacts/stages/mesh.json",
    ]:
        reply = server.request("GET", path)
        assert reply.status == 404 and reply.json()["error"], path


def test_apply_style_needs_a_finished_job_with_a_colour_net(server: Server, lifecycle_job: dict):
    reply = server.request(
        "POST",
        f"/jobs/{lifecycle_job['id']}/apply-style",
        parts=[Part("builtin_style", "ink")],
    )
    assert reply.status == 409 and "colour net" in reply.json()["error"]


@pytest.mark.slow
def test_the_job_runs_to_the_end_with_progress_metrics_and_artifacts(
    server: Server, lifecycle_job: dict
):
    job_id = lifecycle_job["id"]
    job, seen = server.watch(job_id, timeout=400)
    assert job["state"] == "done", job
    fractions = [j["progress"] for j in seen]
    assert fractions == sorted(fractions)
    stages = [j["stage"] for j in seen]
    assert "nerf" in stages and stages.index("nerf") < max(
        i for i, s in enumerate(stages) if s in ("mesh", "stylize", "report")
    )
    assert any(j["eta_seconds"] for j in seen)
    partial = [j["metrics"] for j in seen if "report.json" not in j["artifacts"]]
    assert any(m.get("nerf", {}).get("steps") == 60 for m in partial)
    previews = [j for j in seen if any(a.startswith("nerf/heldout_") for a in j["artifacts"])]
    assert previews and "report.json" not in previews[0]["artifacts"]

    assert job["stage"] == "done" and job["progress"] == 1.0 and job["error"] is None
    expected = ["mesh.glb", "stylized_my_ink.glb", "colornet_waves.glb", "preview.png"]
    for name in [*expected, "report.json"]:
        assert name in job["artifacts"]
    assert not any(a == "run.json" or a.startswith("stages/") for a in job["artifacts"])
    report = server.request("GET", f"/jobs/{job_id}/artifacts/report.json").json()
    assert job["metrics"] == report and report["nerf"]["steps"] == 60
    assert [s["glb"] for s in report["styles"]] == ["stylized_my_ink.glb"]

    glb = server.request("GET", f"/jobs/{job_id}/artifacts/stylized_my_ink.glb")
    assert glb.status == 200 and glb.headers["content-type"] == "model/gltf-binary"
    on_disk = server.data_dir / "jobs" / job_id / "out" / "stylized_my_ink.glb"
    assert glb.body[:4] == b"glTF" and glb.body == on_disk.read_bytes()
    preview = server.request("GET", f"/jobs/{job_id}/artifacts/preview.png")
    assert Image.open(io.BytesIO(preview.body)).size[0] > 0
    assert server.request("POST", f"/jobs/{job_id}/cancel").status == 409
    assert server.process.poll() is None and "Traceback" not in server.log()


@pytest.mark.slow
def test_apply_style_returns_a_glb_and_a_texture(
    server: Server, lifecycle_job: dict, tmp_path: Path
):
    job = server.wait(lifecycle_job["id"], timeout=400)
    assert job["state"] == "done" and job["has_colornet"], job
    path = f"/jobs/{job['id']}/apply-style"
    glb = server.request("POST", path, parts=[Part("style", style_png("waves"), "w.png")])
    assert glb.status == 200 and glb.body[:4] == b"glTF", glb.body[:200]
    applied = tmp_path / "applied.glb"
    applied.write_bytes(glb.body)
    assert_valid_and_upright(applied, read_glb(applied)[0].vertices)
    fields = [Part("builtin_style", "ink"), Part("mix_builtin", "waves"), Part("t", "0.5")]
    png = server.request("POST", path, parts=[*fields, Part("format", "png")])
    assert png.status == 200 and png.headers["content-type"] == "image/png"
    bad = server.request("POST", path, parts=[Part("builtin_style", "ink"), Part("t", "2")])
    assert bad.status == 422 and "t must be" in bad.json()["error"]
