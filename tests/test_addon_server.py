"""The Blender extension against the real backend (python -m backend serve) on 127.0.0.1.

One server (temporary data folder and token file, free port) serves the module; jobs are
tiny (the 48 px test capture, 60 NeRF steps, 5 style steps).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.addon_helpers import ROOT, blender_env, free_port, run_scenario
from tests.gltf_helpers import read_with_clients

pytest.importorskip("bpy", reason="the add-on tests drive Blender's bpy module")

TINY = {"steps": 60, "style_steps": 5, "face_budget": 5000}


def _serve_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--help"],
        capture_output=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A running backend: (url, token file)."""
    if not _serve_available():
        pytest.skip("python -m backend serve is not available yet")
    root = tmp_path_factory.mktemp("server")
    port, token_file = free_port(), root / "token"
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(root / "data"),
            "--token-file",
            str(token_file),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=blender_env(root / "home"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the backend did not start:\n{(root / 'server.log').read_text()}")
            time.sleep(0.5)
    yield url, token_file
    proc.terminate()
    proc.wait(20)
    log.close()


@pytest.fixture(scope="module")
def style_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small striped 'painting' for a style."""
    y, x = np.mgrid[0:96, 0:96]
    stripes = ((np.sin(x * 0.4 + y * 0.2) > 0)[..., None] * [200, 60, 30] + 40).astype(np.uint8)
    path = tmp_path_factory.mktemp("style") / "stripes.png"
    Image.fromarray(stripes).save(path)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    from tests.test_addon import build_addon

    dist = tmp_path / "dist"
    build_addon.main(["--out", str(dist)])
    home = tmp_path / "home"
    run_scenario("install", home, zip_path=str(next(dist.glob("*.zip"))), prefs={})
    return home


@pytest.mark.slow
def test_stylize_selected_cameras_imports_an_aligned_head_and_restyles_it(
    server, home, tiny_capture_dir, style_image
):
    url, token_file = server
    seen = run_scenario(
        "stylize_cameras",
        home,
        capture=str(tiny_capture_dir),
        url=url,
        token_file=str(token_file),
        style=str(style_image),
        options={**TINY, "colornet": True, "colornet_steps": 60},
    )
    assert seen["result"] == ["FINISHED"] and not seen["failed"], seen["report"]
    progress = seen["progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(set(progress)) > 2
    assert seen["collections"] == ["Scene cameras"] and seen["heads"] == 1
    props = seen["props"]
    assert len(props["stylized_heads_job"]) == 32 and props["stylized_heads_backend"] == url
    assert props["stylized_heads_style"] == "stripes"
    assert seen["texture"] and min(seen["texture"]) > 0
    assert seen["untouched"], json.dumps(seen["changed"])[:3000]
    assert seen["on_head"] > 0.8, "the imported head does not line up with the cameras"
    applied = seen["apply"]  # the colour net's new style lands as a new image; undo keeps the old
    assert applied["new"] != applied["old"] and applied["old_still_there"], applied["report"]


@pytest.mark.slow
def test_cancel_stops_the_job_and_imports_nothing(server, home, tiny_capture_dir, style_image):
    url, token_file = server
    seen = run_scenario(
        "stylize_cameras",
        home,
        capture=str(tiny_capture_dir),
        url=url,
        token_file=str(token_file),
        style=str(style_image),
        options={"steps": 2000, "style_steps": 5},
        cancel=True,
    )
    assert not seen["failed"] and "cancelled" in seen["report"]
    assert seen["collections"] == [] and seen["untouched"]


def test_wrong_token_is_a_clear_report(server, home):
    url, _ = server
    seen = run_scenario("check_backend", home, url=url, token="not-the-token")
    assert seen["failed"] and "refused the token" in seen["report"]
    assert "Traceback" not in seen["error"]


@pytest.mark.slow
def test_headless_starts_the_backend_and_saves_a_blend(
    home, tmp_path, tiny_capture_dir, style_image
):
    if not _serve_available():
        pytest.skip("python -m backend serve is not available yet")
    port, token_file = free_port(), tmp_path / "token"
    env = blender_env(home)
    env["STYLIZED_HEADS_DATA"] = str(tmp_path / "data")
    out, glb = tmp_path / "result.blend", tmp_path / "result.glb"
    command = [
        sys.executable,
        str(ROOT / "blender_addon" / "headless.py"),
        "--capture",
        str(tiny_capture_dir),
        "--style",
        str(style_image),
        "--out",
        str(out),
        "--glb",
        str(glb),
        "--url",
        f"http://127.0.0.1:{port}",
        "--token-file",
        str(token_file),
        "--steps",
        "60",
        "--style-steps",
        "5",
        "--max-side",
        "48",
        "--faces",
        "5000",
    ]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "starting the backend" in done.stdout and glb.stat().st_size > 1000
    validator = read_with_clients(glb)[str(glb)]["validator"]
    assert validator["errors"] == validator["warnings"] == 0, validator["messages"]
    seen = run_scenario("reopen", home, blend=str(out))
    assert len(seen["heads"]) == 1 and seen["collections"] == ["capture"]
    ((_, size, packed),) = seen["images"]
    assert min(size) > 0 and packed


def test_headless_failure_exits_non_zero_with_one_clear_line(home, tmp_path, style_image):
    env = blender_env(home)
    command = [
        sys.executable,
        str(ROOT / "blender_addon" / "headless.py"),
        "--capture",
        str(tmp_path),
        "--style",
        str(style_image),
        "--out",
        str(tmp_path / "x.blend"),
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "--start-command",
        f"{sys.executable} -c 'import sys; sys.exit(3)'",
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1
    assert "error: the backend exited with status 3" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x.blend").exists()
