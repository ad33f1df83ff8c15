"""The multi-view consistency measure: supersampled frames and the warp between views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from backend.captures import load_capture
from backend.raster import make_rasterizer
from backend.style.judge import Judge
from backend.views.consistency import (
    SUPERSAMPLE,
    arc_consistency,
    consistency_arc,
    warp,
)
from backend.views.render import Frame, MeshTensors, render
from tests.head_helpers import patterned_head

SIZE = 96


def _textured_head(capture_dir: Path) -> tuple[MeshTensors, torch.Tensor]:
    mesh = patterned_head(load_capture(capture_dir), 256, frequency=25.0, mean=0.5)
    return MeshTensors.of(mesh, torch.device("cpu")), torch.tensor(mesh.texture)


def test_supersampled_frames_keep_each_pixels_surface_point_and_normal(tiny_capture_dir):
    mesh, texture = _textured_head(tiny_capture_dir)
    camera = consistency_arc(load_capture(tiny_capture_dir), SIZE)[3]
    frame = render(make_rasterizer("torch", torch.device("cpu")), mesh, texture, camera, 4)
    assert frame.image.shape == (SIZE, SIZE, 3)
    covered = frame.coverage > 0
    assert 0.1 < float(covered.float().mean()) < 0.9
    points = frame.points[covered].numpy().astype(np.float64)
    pixels, _ = camera.project(points)
    rows, cols = np.nonzero(covered.numpy())
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    assert np.percentile(np.abs(pixels - centres).max(axis=1), 95) < 0.2
    rays = camera.c2w[:3, 3] - points
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    facing = np.sum(rays * frame.normals[covered].numpy(), axis=1)
    assert np.median(facing) > 0.5


def test_warp_agrees_for_one_texture_and_catches_a_view_dependent_one(tiny_capture_dir):
    mesh, texture = _textured_head(tiny_capture_dir)
    rasterizer = make_rasterizer("torch", torch.device("cpu"))
    arc = consistency_arc(load_capture(tiny_capture_dir), SIZE)
    judge = Judge.load(download=False)
    measured = arc_consistency(rasterizer, mesh, texture, arc, judge)
    assert measured.short_rmse < 0.02 and measured.long_rmse < 0.04, measured
    assert measured.short_lpips < 0.03 and measured.long_lpips < 0.07, measured
    a, b = (render(rasterizer, mesh, texture, arc[i], SUPERSAMPLE) for i in (2, 3))
    same = warp(a, arc[2], b, arc[3])
    assert same is not None
    darker = Frame(b.image * 0.8, b.coverage, b.points, b.normals)
    shifted = Frame(b.image.roll(2, dims=1), b.coverage, b.points, b.normals)
    assert warp(a, arc[2], darker, arc[3]).rmse > same.rmse + 0.05
    moved = warp(a, arc[2], shifted, arc[3])
    assert moved.rmse > 3 * same.rmse
    # LPIPS over the warped pixels: the warp of an agreeing view is close to the view
    # itself, a shifted view is not.
    lpips_same = judge.perceptual_distance(b.image[None], same.image[None], same.valid[None])
    lpips_moved = judge.perceptual_distance(
        shifted.image[None], moved.image[None], moved.valid[None]
    )
    assert lpips_moved > 3 * lpips_same, (lpips_same, lpips_moved)
