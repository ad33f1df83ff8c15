"""The NeRF stage on a tiny Blender-rendered capture: quality, exactness, persistence."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import backend.nerf.sampler as sampler_module
from backend.captures import load_capture
from backend.nerf.checkpoint import load_model, save_model
from backend.nerf.grid import GridGeometry, RowDifferences, WeightedRows
from backend.nerf.metrics import composite_white, psnr
from backend.nerf.rays import FramePixels, camera_rays
from backend.nerf.render import composite
from backend.nerf.trainer import Trainer, evaluate
from tests.conftest import SMALL_NERF

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "meshes"))
import head_shape

CPU = torch.device("cpu")


@pytest.fixture
def trained(trained_tiny):
    return trained_tiny


def _mean_colour_psnr(capture) -> float:
    mean = np.mean([composite_white(f.rgba).reshape(-1, 3).mean(0) for f in capture.train], 0)
    return float(
        np.mean(
            [
                psnr(np.broadcast_to(mean, (f.height, f.width, 3)), composite_white(f.rgba))
                for f in capture.heldout
            ]
        )
    )


def test_nerf_is_far_above_the_mean_colour_baseline(trained):
    capture, model = trained
    score, images = evaluate(model, capture)
    baseline = _mean_colour_psnr(capture)
    assert len(images) == len(capture.heldout)
    assert score > 26.0, f"held-out PSNR {score:.2f} dB"
    assert score > baseline + 12.0, f"{score:.2f} dB vs mean colour {baseline:.2f} dB"


def test_reloaded_checkpoint_renders_the_same_image(trained, tmp_path: Path):
    capture, model = trained
    save_model(model, SMALL_NERF, tmp_path)
    reloaded, config = load_model(tmp_path, CPU)
    assert config == SMALL_NERF
    camera = capture.heldout[1].camera
    np.testing.assert_allclose(reloaded.render(camera), model.render(camera), atol=1e-6)


def test_sample_selection_matches_rendering_every_sample(trained, monkeypatch):
    """The per-cell bounds drop only samples that cannot change the image."""
    capture, model = trained
    rays = camera_rays(capture.heldout[0].camera, capture.box, CPU)
    white = torch.ones(len(rays), 3)
    selected = model.sampler.sample(model.field, rays.origins, rays.dirs, jitter=False)
    monkeypatch.setattr(sampler_module, "MIN_OPACITY", -1.0)
    monkeypatch.setattr(sampler_module, "MIN_TRANSMITTANCE", -1.0)
    everything = model.sampler.sample(model.field, rays.origins, rays.dirs, jitter=False)
    assert len(everything.ray) > 2 * len(selected.ray)
    with torch.no_grad():
        fast = composite(model.field, selected, white).rgb
        full = composite(model.field, everything, white).rgb
    assert (fast - full).abs().max() < 3e-3


def test_weighted_rows_backward_matches_autograd_of_embedding_bag():
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(50, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    rows = torch.randint(0, 50, (40, 8), generator=generator)
    weights = torch.rand(40, 8, dtype=torch.float64, generator=generator)
    upstream = torch.randn(40, 5, dtype=torch.float64, generator=generator)
    (WeightedRows.apply(table, rows, weights) * upstream).sum().backward()
    ours = table.grad.clone()
    table.grad = None
    reference = F.embedding_bag(rows, table, per_sample_weights=weights, mode="sum")
    (reference * upstream).sum().backward()
    torch.testing.assert_close(ours, table.grad)


def test_frame_pixels_rebuild_every_frames_rays_and_colours(trained):
    """Rays rebuilt from per-frame data match each camera's own rays, pixel for pixel."""
    capture, _ = trained
    pixels = FramePixels.of(capture.train, capture.box, CPU)
    start = 0
    for frame in capture.train:
        own = camera_rays(frame.camera, capture.box, CPU)
        rebuilt = pixels.take(torch.arange(start, start + len(own)))
        torch.testing.assert_close(rebuilt.origins, own.origins)
        torch.testing.assert_close(rebuilt.dirs, own.dirs, atol=1e-6, rtol=0)
        colours = torch.from_numpy(frame.rgba.reshape(-1, 4))
        torch.testing.assert_close(rebuilt.rgba, colours, atol=1e-3, rtol=0)
        start += len(own)
    assert start == len(pixels)
    kept = pixels.keep(torch.tensor([start - 1, 0]))
    torch.testing.assert_close(
        kept.take(torch.tensor([1])).dirs, pixels.take(torch.tensor([0])).dirs
    )


def test_row_differences_backward_matches_autograd_of_indexing():
    generator = torch.Generator().manual_seed(1)
    table = torch.randn(30, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    a, b = torch.randint(0, 30, (25,), generator=generator), torch.randint(0, 30, (25,))
    weight = torch.rand(25, dtype=torch.float64, generator=generator)
    ours = RowDifferences.apply(table, a, b, weight)
    ours.backward()
    grad = table.grad.clone()
    table.grad = None
    reference = (weight[:, None] * (table[a] - table[b]).pow(2)).sum()
    reference.backward()
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(grad, table.grad)


def test_packed_samples_sit_in_ray_order_with_per_ray_slots(trained):
    """Each ray's samples keep their order along it: slots count up from 0 with t."""
    capture, model = trained
    rays = camera_rays(capture.heldout[0].camera, capture.box, CPU)
    samples = model.sampler.sample(model.field, rays.origins, rays.dirs, jitter=True)
    order = torch.argsort(samples.ray * samples.n_slots + samples.slot)
    ray, slot, t = samples.ray[order], samples.slot[order], samples.t[order]
    first = torch.ones_like(ray, dtype=torch.bool)
    first[1:] = ray[1:] != ray[:-1]
    assert bool((slot[first] == 0).all()) and bool(
        (slot[~first] == slot[:-1][~first[1:]] + 1).all()
    )
    assert bool((t[1:][~first[1:]] > t[:-1][~first[1:]]).all())
    assert int(slot.max()) + 1 == samples.n_slots


def _head_signed_radius(world: np.ndarray) -> np.ndarray:
    """Distance from the origin minus the analytic head radius there (metres, < 0 inside)."""
    unscaled = world / head_shape.SCALE
    r = np.linalg.norm(unscaled, axis=1)
    return (r - head_shape.radius(unscaled / r[:, None])) * head_shape.SCALE


def test_density_lattice_is_dense_on_the_head_and_empty_away_from_it(trained):
    capture, model = trained
    geometry = GridGeometry.covering(-torch.ones(3), torch.ones(3), 41)
    lattice = model.field.density_on_grid(geometry).numpy()
    axis = np.linspace(-1.0, 1.0, 41)
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    signed = _head_signed_radius(capture.box.to_world(points))
    voxel = 2.0 / 40 * capture.box.scale
    dense = lattice.reshape(-1) > 20.0
    assert dense.sum() > 300
    assert (signed[dense] < 1.5 * voxel).mean() > 0.97
    far_outside = signed > 2.0 * voxel
    assert (lattice.reshape(-1)[far_outside] < 1.0).mean() > 0.99


def test_total_variation_is_zero_for_a_constant_grid_and_positive_otherwise(trained):
    _, model = trained
    field = copy.deepcopy(model.field)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        field.grid.table[:] = 0.5
    assert float(field.total_variation(4096, generator).detach()) == 0.0
    with torch.no_grad():
        field.grid.table.add_(torch.randn(field.grid.table.shape, generator=generator) * 0.1)
    assert float(field.total_variation(4096, generator).detach()) > 0.01


def test_a_very_short_schedule_restructures_without_losing_the_grid(tiny_capture_dir):
    """Upsampling and pruning before anything is opaque keep every allocated cell."""
    capture = load_capture(tiny_capture_dir)
    trainer = Trainer(capture, SMALL_NERF.with_steps(6), torch.device("cpu"))
    trainer.train()
    assert trainer.step == 6 and trainer.field.grid.rows > 1000
    image = trainer.model().render(capture.heldout[0].camera)
    assert np.isfinite(image).all()
