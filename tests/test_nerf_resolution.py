"""The grid follows the capture's pixel size: finer where a pixel covers less of the head."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from backend.captures import Capture, load_capture
from backend.captures.cameras import Camera
from backend.errors import BackendError
from backend.nerf.checkpoint import load_model, save_model
from backend.nerf.config import NerfConfig
from backend.nerf.resolution import fitted, pixel_footprint, refinement
from backend.nerf.trainer import Trainer, subject_bounds
from backend.sample import sample_capture_dir
from tests.conftest import SMALL_NERF

CPU = torch.device("cpu")


def _magnified(capture: Capture, factor: float) -> Capture:
    """The same cameras with ``factor`` times the pixels (the images are not needed)."""

    def frames(items):
        out = []
        for frame in items:
            k = frame.camera.intrinsics
            size = (round(k.width * factor), round(k.height * factor))
            out.append(replace(frame, camera=Camera(k.resized(*size), frame.camera.c2w)))
        return out

    return replace(capture, train=frames(capture.train), heldout=frames(capture.heldout))


def _extent(capture: Capture) -> float:
    low, high = subject_bounds(capture)
    return float((high - low).max())


def test_the_sample_keeps_its_grid_finer_pixels_get_a_finer_one_and_opaque_captures_do_not():
    sample = load_capture(sample_capture_dir())
    config, extent = NerfConfig(), _extent(sample)
    assert fitted(config, sample, extent) == config
    # The sample's finest voxel spans 0.81 pixels at the head: just inside the 0.85 asked.
    spans = extent / (config.resolutions[-1] - 1) / pixel_footprint(sample)
    assert 0.75 < spans < config.voxel_footprints
    doubled = _magnified(sample, 2.0)
    assert pixel_footprint(doubled) == pytest.approx(pixel_footprint(sample) / 2.0)
    finer = fitted(config, doubled, extent)
    assert refinement(config, doubled, extent) == pytest.approx(2.0 * spans / 0.85)
    assert finer.resolutions == tuple(round(r * 2.0 * spans / 0.85) for r in config.resolutions)
    assert fitted(config, _magnified(sample, 8.0), extent).resolutions == (128, 256)
    as_given = replace(config, voxel_footprints=None)
    assert fitted(as_given, doubled, extent) == as_given
    # Without alpha the finer grid lost at the preset's steps (512 px photos: 28.0 dB at
    # 128 vertices, 25.6 at 256): opaque captures keep the configured grid.
    opaque = replace(doubled, has_alpha=False)
    assert refinement(config, opaque, extent) == 1.0 and fitted(config, opaque, extent) == config


def test_the_trainer_builds_and_saves_the_fitted_grid(tiny_capture_dir, tmp_path):
    capture = load_capture(tiny_capture_dir)
    plain = Trainer(capture, SMALL_NERF, CPU)
    assert plain.config == SMALL_NERF
    asked = replace(SMALL_NERF, voxel_footprints=0.2, steps=2)
    trainer = Trainer(capture, asked, CPU)
    assert trainer.config.resolutions == (64, 128)
    assert trainer.field.geometry.voxel == pytest.approx(plain.field.geometry.voxel * 31 / 63)
    trainer.train()
    save_model(trainer.model(), trainer.config, tmp_path / "nerf")
    _, saved = load_model(tmp_path / "nerf", CPU)
    assert saved.resolutions == (64, 128)


def test_nonsense_refinement_settings_are_refused():
    with pytest.raises(BackendError, match="max_refine must be at least 1"):
        NerfConfig(max_refine=0.5)
    with pytest.raises(BackendError, match="voxel_footprints positive"):
        NerfConfig(voxel_footprints=0.0)
