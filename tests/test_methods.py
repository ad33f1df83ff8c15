"""The stylization methods behind one interface: every registered method through the same
call on the tiny capture, the per-view and NeRF-on-2D baselines measured by the same
judge and consistency as the hybrid method, and the method's choice checked wherever a
run is described."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from backend.errors import BackendError
from backend.mesh.glb import read_glb, write_glb
from backend.methods.base import MethodContext
from backend.methods.hybrid.settings import StylizeSettings
from backend.methods.mutual.learner import MutualConfig
from backend.methods.mutual.method import Mutual
from backend.methods.nerf_on_2d import NerfOn2D
from backend.methods.per_view import PerView
from backend.methods.registry import METHODS, REGISTERED, build_method
from backend.nerf.rays import FramePixels
from backend.nerf.recolour import RecolourConfig, recolour
from backend.nerf.render import render_rays
from backend.pipeline import RunRequest
from backend.pretrained.clip import load_clip
from backend.server.options import JobOptions, OptionsError
from backend.style.builtin import BUILTIN_STYLES
from backend.stylize.stage import StyleStage
from tests.head_helpers import method_context, patterned_head

pytest.importorskip("onnx", reason="reads the 2D stylizer's graphs: pip install -e '.[dev]'")

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def context(trained_tiny, tiny_clip_dir) -> MethodContext:
    """The tiny capture's field, its ground-truth head with a smooth texture, the tiny
    CLIP, and the shared measuring tools at 64 px."""
    capture, model = trained_tiny
    mesh = patterned_head(capture, 128, frequency=8.0, mean=0.6)
    settings = StylizeSettings(steps=20, render_size=64, pool_views=4)
    clip = load_clip(tiny_clip_dir, download=False)
    return method_context(mesh, capture, settings, model, clip)


# Small configs so that every method runs in seconds; None: the method's defaults.
SMALL_CONFIGS = {
    Mutual.name: MutualConfig(rounds=1, mimic_steps=20, consistency_steps=2, batch_rays=1024),
    NerfOn2D.name: RecolourConfig(steps=20),
}


def test_every_registered_method_stylizes_through_the_same_call(context, tmp_path: Path):
    """One loop through the style stage, no special case for the default: each method
    gives a head of the same shape, its report section names it, its figures come from
    the shared judge against the same unstylized baseline, and its GLB carries the
    method (and CLIP's weights where it scored by CLIP) in its extras."""
    style = BUILTIN_STYLES["mosaic"](128)
    assert set(METHODS) < set(REGISTERED) and METHODS[0] == "hybrid"
    baseline = context.measures.unstylized_consistency().summary("_unstylized")
    stage = StyleStage(context, False)
    turntables: dict[str, str | None] = {}
    for name in REGISTERED:
        glb, record = tmp_path / f"{name}.glb", tmp_path / f"{name}.json"
        runner = stage.with_method(name, SMALL_CONFIGS.get(name))
        mesh, summary = runner.run("mosaic", style, glb, record, _quiet)
        assert runner.runner.name == name and summary["method"] == name, summary
        assert mesh.texture.shape == context.mesh.texture.shape, name
        assert np.abs(mesh.texture - context.mesh.texture).mean() > 0.01, name
        assert {k: summary[k] for k in baseline} == baseline, name
        assert 0.0 < summary["content_lpips"] < 1.0 and "judge_meanstd_gain" in summary, name
        assert json.loads(record.read_text()) == summary
        read, extras = read_glb(glb)
        np.testing.assert_allclose(read.texture, mesh.texture, atol=1 / 255)
        assert extras["method"] == name and extras["style"] == "mosaic", extras
        assert ("clip" in extras["weights"]) == REGISTERED[name].needs_clip, extras
        turntables[name] = summary.get("turntable")
    # StylizedNeRF's field is shown turning, beside its GLB; a texture needs no turntable.
    assert {n for n, t in turntables.items() if t} == {Mutual.name}
    with Image.open(tmp_path / turntables[Mutual.name]) as gif:
        assert gif.n_frames == 24 and gif.size == (192, 192)


def test_a_prompt_is_refused_by_the_methods_that_read_images_only(context):
    for name, method in REGISTERED.items():
        if method.needs_clip:
            continue
        with pytest.raises(BackendError, match=f"the {name} method stylizes by an image"):
            build_method(name, context, SMALL_CONFIGS.get(name)).stylize("x", "a bronze statue")


def _quiet(done: float, text: str) -> None:
    """Progress goes nowhere in this test."""


def test_per_view_stylizes_each_view_and_is_inconsistent_across_them(context, tmp_path: Path):
    style = BUILTIN_STYLES["strokes"](128)
    result = PerView(context).stylize("strokes", style)
    summary = result.summary()
    assert summary["method"] == "per-view"
    networks = [w["network"] for w in summary["stylizer_2d"]]
    assert networks == ["magenta-arbitrary-predict", "magenta-arbitrary-transform"]
    # Each view's strokes are its own: warped into a neighbour 10 degrees away they
    # disagree by far more than the unstylized head's renders do (RMSE measured 0.19 /
    # 0.44 short / long against 0.0007 / 0.023 on this head).
    assert summary["consistency_short_rmse"] > 5 * summary["consistency_short_rmse_unstylized"]
    assert summary["consistency_long_rmse"] > summary["consistency_short_rmse"]
    # The 2D network carries the style: the judge's statistics move towards it (gain
    # 0.43, covariance x8.1), and it repaints the face (content LPIPS 0.79).
    assert summary["judge_meanstd_gain"] > 0.1, summary
    assert 0.05 < summary["content_lpips"] < 0.95, summary
    glb = tmp_path / "per_view.glb"
    write_glb(result.mesh, glb, {"method": "per-view"})
    mesh, extras = read_glb(glb)
    assert extras["method"] == "per-view" and mesh.texture.shape == context.mesh.texture.shape
    assert np.abs(mesh.texture - context.mesh.texture).mean() > 0.05


def test_recolouring_fits_new_images_and_leaves_density_and_the_original_alone(context):
    model = context.nerf
    before = model.field.grid.table.detach().clone()
    frames = NerfOn2D(context)._stylized_frames(
        context.network.style_vector(BUILTIN_STYLES["mosaic"](128))
    )
    recoloured = recolour(model, frames, RecolourConfig(steps=60))
    table = recoloured.field.grid.table.detach()
    torch.testing.assert_close(table[:, 0], before[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(model.field.grid.table.detach(), before, rtol=0, atol=0)
    assert (table[:, 1:] - before[:, 1:]).abs().max() > 0.1

    def distance(m) -> float:
        pixels = FramePixels.of(frames, m.capture_box, CPU)
        rays = pixels.take(torch.arange(0, len(pixels), 7))
        white = torch.ones(len(rays), 3)
        with torch.no_grad():
            out = render_rays(m.field, m.sampler, rays.origins, rays.dirs, white)
        return float(torch.mean((out.rgb - m.background.target(rays.rgba, white)) ** 2))

    # The field's renders move towards the stylized views it was shown.
    assert distance(recoloured) < 0.6 * distance(model)


def test_nerf_on_2d_bakes_the_retrained_field_onto_the_head(context, tmp_path: Path):
    method = NerfOn2D(context, RecolourConfig(steps=40))
    result = method.stylize("mosaic", BUILTIN_STYLES["mosaic"](128), evaluate=False)
    assert result.summary()["method"] == "nerf-on-2d" and result.evaluation is None
    glb = tmp_path / "nerf_on_2d.glb"
    write_glb(result.mesh, glb, {"method": "nerf-on-2d"})
    mesh, extras = read_glb(glb)
    assert extras["method"] == "nerf-on-2d" and mesh.texture.shape == context.mesh.texture.shape
    assert np.abs(mesh.texture - context.mesh.texture).mean() > 0.02


def test_an_unknown_method_is_refused_wherever_a_run_is_described(tmp_path: Path):
    refused = r"unknown method 'mutual-x'; choose one of hybrid, mutual"
    with pytest.raises(BackendError, match=refused):
        RunRequest(tmp_path, [], tmp_path / "out", method="mutual-x")
    listed = "method must be one of hybrid, mutual, per-view, nerf-on-2d"
    with pytest.raises(OptionsError, match=listed):
        JobOptions.from_dict({"method": "nope"}, 4096)
    assert JobOptions.from_dict({"method": "per-view"}, 4096).method == "per-view"
