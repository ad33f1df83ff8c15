"""Prompts in the real service on 127.0.0.1: the job option, and apply-style with a prompt
through the service's CLIP and the job's CLIP mapper.

One server serves the module, started with ``--clip-weights`` naming a folder that holds
nothing at first: the tests run in file order, first without CLIP weights (a prompt job
fails with the way to get them, apply-style with a prompt is a 409), then with a tiny
CLIP saved there (apply-style picks it up without a restart). A job trained by the
service with a colour net takes minutes on two cores, so the finished job is a dry run
(``stop_after: capture``) whose output folder then receives a small run trained here:
the tiny NeRF, its mesh and a colour net fitted for a few steps.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from backend.fast.colornet import ColorNetConfig
from backend.fast.colornet_io import SavedColorNet, save_colornet
from backend.fast.colornet_train import TrainingStyle, train_colornet
from backend.mesh.glb import read_glb, write_glb
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.nerf.checkpoint import save_model
from backend.pretrained.clip_tiny import save_tiny_clip
from backend.pretrained.networks import FeatureExtractor
from backend.pretrained.registry import load_backbone
from backend.raster import make_rasterizer
from backend.style.builtin import BUILTIN_STYLES
from backend.style.encoder import STAT_LAYERS
from tests.conftest import SMALL_NERF
from tests.gltf_helpers import assert_valid_and_upright
from tests.server_helpers import Part, Server

PROMPT = "a bronze statue"
CHEAP_COLORNET = ColorNetConfig(steps=30, batch=1024, views=4, view_size=32, crops=2)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the server looks for CLIP; empty until a test saves a tiny CLIP there."""
    return tmp_path_factory.mktemp("weights") / "clip"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clip_dir: Path):
    running = Server(tmp_path_factory.mktemp("server")).start("--clip-weights", str(clip_dir))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def small_run(trained_tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder that apply-style can load: NeRF, mesh and a briefly trained colour
    net (its training styles keep the head's own texture; only the plumbing matters)."""
    capture, model = trained_tiny
    folder = tmp_path_factory.mktemp("run")
    save_model(model, SMALL_NERF, folder / "nerf")
    mesh = run_mesh_stage(model, capture, MeshSettings(64, 4000, 128)).mesh
    write_glb(mesh, folder / "mesh.glb")
    backbone = load_backbone("vgg16", download=False)
    styles = [TrainingStyle(n, BUILTIN_STYLES[n](64), mesh.texture) for n in ("ink", "waves")]
    trained = train_colornet(
        mesh,
        capture,
        model.field,
        styles,
        FeatureExtractor(backbone, STAT_LAYERS),
        make_rasterizer("torch", torch.device("cpu")),
        CHEAP_COLORNET,
        True,
    )
    saved = SavedColorNet(trained.net, trained.codes, True, backbone.provenance)
    save_colornet(saved, folder, {})
    return folder


@pytest.fixture(scope="module")
def finished_job(server: Server, tiny_capture_dir: Path, small_run: Path) -> dict:
    """A done job of the service whose output folder holds the small run's colour net."""
    options = {"stop_after": "capture", "colornet": True, "name": "prompted"}
    parts = [
        Part("capture_path", str(tiny_capture_dir)),
        Part("builtin_style", "ink"),
        Part("options", json.dumps(options)),
    ]
    job = server.wait(server.submit(parts)["id"], timeout=120)
    assert job["state"] == "done", job
    shutil.copytree(small_run, server.data_dir / "jobs" / job["id"] / "out", dirs_exist_ok=True)
    job = server.job(job["id"])
    assert job["has_colornet"], job
    return job


def _tiny_clip_in_place(clip_dir: Path) -> None:
    """The tiny CLIP where the server looks (once; the tests before it need none there)."""
    if not (clip_dir / "config.json").is_file():
        save_tiny_clip(clip_dir)


def _prompt_job(capture: Path, prompt: object) -> list[Part]:
    options = {"prompt": prompt, "stop_after": "capture"}
    return [Part("capture_path", str(capture)), Part("options", json.dumps(options))]


def test_the_prompt_option_is_checked_before_a_job_exists(server: Server, tiny_capture_dir):
    for prompt, expected in [("   ", "prompt is empty"), (5, "prompt must be text")]:
        reply = server.request("POST", "/jobs", parts=_prompt_job(tiny_capture_dir, prompt))
        assert reply.status == 422, reply.body
        message = reply.json()["error"]
        assert message.startswith("options: prompt") and expected in message
    nothing = [Part("capture_path", str(tiny_capture_dir)), Part("options", "{}")]
    reply = server.request("POST", "/jobs", parts=nothing)
    assert reply.status == 422 and "prompt" in reply.json()["error"]
    assert server.request("GET", "/jobs").json() == {"jobs": []}


def test_a_prompt_job_needs_no_style_and_without_weights_fails_saying_how_to_get_them(
    server: Server, tiny_capture_dir: Path, clip_dir: Path
):
    job = server.submit(_prompt_job(tiny_capture_dir, f"  {PROMPT} "))
    assert job["styles"] == [] and job["state"] in ("queued", "running")
    spec = json.loads((server.data_dir / "jobs" / job["id"] / "job.json").read_text())
    assert spec["styles"] == [] and spec["options"]["prompt"] == f"  {PROMPT} "
    ended = server.wait(job["id"], timeout=120)
    assert ended["state"] == "failed", ended
    assert str(clip_dir) in ended["error"] and "--clip-weights DIR" in ended["error"]
    assert "internal error" not in ended["message"]


@pytest.mark.slow
def test_apply_style_with_a_prompt_goes_through_clip_and_the_jobs_mapper(
    server: Server, finished_job: dict, clip_dir: Path, tmp_path: Path
):
    path = f"/jobs/{finished_job['id']}/apply-style"
    out = server.data_dir / "jobs" / finished_job["id"] / "out"
    for parts, expected in [
        ([], "exactly one of 'style'"),
        ([Part("prompt", PROMPT), Part("builtin_style", "ink")], "not both"),
        ([Part("prompt", " \t ")], "prompt: the prompt is empty"),
    ]:
        reply = server.request("POST", path, parts=parts)
        assert reply.status == 422 and expected in reply.json()["error"], reply.body

    missing = server.request("POST", path, parts=[Part("prompt", PROMPT)])
    assert missing.status == 409, missing.body
    message = missing.json()["error"]
    assert str(clip_dir) in message and "--clip-weights DIR" in message
    assert not (out / "clip_mapper.json").exists()

    _tiny_clip_in_place(clip_dir)
    glb = server.request("POST", path, parts=[Part("prompt", PROMPT)], timeout=300)
    assert glb.status == 200 and glb.body[:4] == b"glTF", glb.body[:300]
    assert 'filename="styled_prompt_a_bronze_statue.glb"' in glb.headers["content-disposition"]
    applied = tmp_path / "prompted.glb"
    applied.write_bytes(glb.body)
    mesh, extras = read_glb(applied)
    assert extras["style"] == "prompt_a_bronze_statue" and extras["colornet"] is True
    assert extras["clip"] == {"prompt": PROMPT}
    assert extras["weights"]["clip"]["source"] == str(clip_dir)
    assert extras["weights"]["features"]["network"] == "vgg16"
    assert_valid_and_upright(applied, mesh.vertices)
    assert (out / "clip_mapper.json").is_file() and (out / "clip_mapper.safetensors").is_file()

    textures = {}
    for label, parts in [
        ("prompt", [Part("prompt", PROMPT)]),
        ("ink", [Part("builtin_style", "ink")]),
        ("mixed", [Part("prompt", PROMPT), Part("mix_builtin", "ink"), Part("t", "1")]),
    ]:
        reply = server.request("POST", path, parts=[*parts, Part("format", "png")])
        assert reply.status == 200 and reply.headers["content-type"] == "image/png", reply.body
        textures[label] = np.asarray(Image.open(io.BytesIO(reply.body)), dtype=np.float32)
    assert np.abs(textures["prompt"] - textures["ink"]).mean() > 0.0
    assert np.array_equal(textures["mixed"], textures["ink"])
    assert server.process.poll() is None and "Traceback" not in server.log()


def test_with_weights_a_prompt_jobs_dry_run_loads_the_services_clip(
    server: Server, tiny_capture_dir: Path, clip_dir: Path
):
    _tiny_clip_in_place(clip_dir)
    job = server.wait(server.submit(_prompt_job(tiny_capture_dir, PROMPT))["id"], timeout=120)
    assert job["state"] == "done" and "after stage 'capture'" in job["message"], job
