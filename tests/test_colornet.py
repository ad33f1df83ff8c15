"""Stage 3: the style-conditioned colour net on a tiny head, saved, reloaded and applied."""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from backend.cli import main
from backend.errors import BackendError, CheckpointError
from backend.fast.apply import StyleApplier
from backend.fast.clip_mapper import FORMAT as MAPPER_FORMAT
from backend.fast.clip_mapper import (
    META,
    MapperConfig,
    exemplar_code,
    load_mapper,
    mapper_pairs,
    train_mapper,
)
from backend.fast.clip_mapper import VERSION as MAPPER_VERSION
from backend.fast.colornet import ColorNetConfig
from backend.fast.colornet_io import SavedColorNet, save_colornet
from backend.fast.colornet_train import TrainingStyle, train_colornet
from backend.mesh.glb import read_glb, write_glb
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.methods.hybrid.settings import StylizeSettings
from backend.nerf.checkpoint import save_model
from backend.pretrained.clip import load_clip
from backend.pretrained.networks import FeatureExtractor
from backend.style.builtin import BUILTIN_STYLES
from backend.style.encoder import STAT_LAYERS
from backend.style.images import read_style_image
from backend.stylize.colornet_eval import evaluate_heldout
from tests.conftest import SMALL_NERF
from tests.gltf_helpers import assert_valid_and_upright
from tests.head_helpers import method_context

TRAINING = ("strokes", "stipple", "mosaic")
HELDOUT = "ink"
MAPPER_STYLES = ("strokes", "stipple", "mosaic", "ink", "plaid", "shards")
CPU = torch.device("cpu")


@dataclass(frozen=True)
class TinyRun:
    folder: Path
    stylizer: TextureOptimizer
    seconds: float


@pytest.fixture(scope="module")
def tiny_run(trained_tiny, tmp_path_factory) -> TinyRun:
    """A run folder with NeRF, mesh and a colour net trained on three built-in styles."""
    capture, model = trained_tiny
    folder = tmp_path_factory.mktemp("colornet")
    save_model(model, SMALL_NERF, folder / "nerf")
    mesh = run_mesh_stage(model, capture, MeshSettings(64, 4000, 128)).mesh
    write_glb(mesh, folder / "mesh.glb")
    settings = StylizeSettings(steps=40, render_size=64, pool_views=8)
    context = method_context(mesh, capture, settings)
    backbone, rasterizer = context.backbone, context.rasterizer
    stylizer = TextureOptimizer(context)
    styles = []
    for name in TRAINING:
        image = BUILTIN_STYLES[name](64)
        styles.append(TrainingStyle(name, image, stylizer.stylize(name, image).mesh.texture))
    config = ColorNetConfig(steps=300, batch=2048, views=8, view_size=48, crops=4)
    started = time.perf_counter()
    trained = train_colornet(
        mesh,
        capture,
        model.field,
        styles,
        FeatureExtractor(backbone, STAT_LAYERS),
        rasterizer,
        config,
        True,
    )
    saved = SavedColorNet(trained.net, trained.codes, True, backbone.provenance)
    save_colornet(saved, folder, {})
    return TinyRun(folder, stylizer, time.perf_counter() - started)


@pytest.fixture(scope="module")
def applier(tiny_run: TinyRun) -> StyleApplier:
    return StyleApplier.load(tiny_run.folder)


def test_reload_gives_identical_output_and_styles_give_distinct_textures(tiny_run, applier):
    again = StyleApplier.load(tiny_run.folder)
    ink = BUILTIN_STYLES["ink"](64)
    first = applier.apply(ink).texture
    assert np.array_equal(first, again.apply(ink).texture)
    assert np.array_equal(first, applier.apply(ink.copy()).texture)
    waves = applier.apply(BUILTIN_STYLES["waves"](64)).texture
    assert np.abs(first - waves).mean() > 0.02
    assert first.shape == applier.mesh.texture.shape and 0.0 <= first.min() <= first.max() <= 1


def test_mix_ends_are_the_pure_styles_and_strength_zero_is_the_original(applier):
    a, b = BUILTIN_STYLES["ink"](64), BUILTIN_STYLES["waves"](64)
    pure_a, pure_b = applier.apply(a).texture, applier.apply(b).texture
    assert np.array_equal(applier.apply(a, mix=b, t=0.0).texture, pure_a)
    assert np.array_equal(applier.apply(a, mix=b, t=1.0).texture, pure_b)
    half = applier.apply(a, mix=b, t=0.5).texture
    assert not np.array_equal(half, pure_a) and not np.array_equal(half, pure_b)
    assert np.array_equal(applier.apply(a, strength=0.0).texture, applier.mesh.texture)
    with pytest.raises(BackendError, match="strength must be between 0 and 1"):
        applier.apply(a, strength=1.5)


def test_training_styles_are_reproduced_and_nerf_renders_with_the_colour_net(tiny_run, applier):
    stylizer = tiny_run.stylizer
    image = BUILTIN_STYLES["mosaic"](64)
    ours = torch.tensor(applier.apply(image).texture)
    original = torch.tensor(applier.mesh.texture)
    target = torch.tensor(stylizer.stylize("mosaic", image).mesh.texture)
    views = stylizer.evaluation
    assert stylizer.render_rmse(ours, target, views) < 0.5 * stylizer.render_rmse(
        original, target, views
    )
    camera = stylizer.cameras[0]
    code = applier.code(image)
    styled, plain = applier.render(camera, code), applier.render(camera, code, strength=0.0)
    assert styled.shape == (camera.intrinsics.height, camera.intrinsics.width, 3)
    assert np.abs(styled - plain).mean() > 0.02
    assert np.abs(plain - applier.model.render(camera)).max() < 1e-5


def test_heldout_style_gap_is_measured_and_under_its_floor(tiny_run, applier):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, _ = evaluate_heldout(
            applier, tiny_run.stylizer, HELDOUT, BUILTIN_STYLES[HELDOUT](64)
        )
    summary = result.summary()
    # Three training styles, 40 optimization steps at 64 px, ImageNet VGG16: the judge
    # puts the colour net's head 2.0% closer to the style than the unstylized head and
    # the optimization's 4.9% (gap 2.9 points, covariance ratios 1.04 and 1.06); RMSE
    # between them 0.16; style loss -9% and -28%. The benchmark measures the product
    # setting against the targets.
    colornet, optimized = summary["judge_colornet"], summary["judge_optimized"]
    assert colornet["judge_meanstd_gain"] > 0.0, summary
    assert summary["judge_gain_gap_points"] < 10.0, summary
    assert colornet["judge_cov_cosine_ratio"] > optimized["judge_cov_cosine_ratio"] - 0.3
    assert summary["style_loss_reduction_colornet"] > 0.03, summary
    assert summary["rmse_to_optimized"] < 0.35, summary
    assert summary["apply_seconds"] < 10.0, summary


def test_loading_a_folder_without_a_colour_net_names_the_problem(tmp_path: Path, capsys):
    with pytest.raises(CheckpointError, match="no colour net"):
        StyleApplier.load(tmp_path)
    style = _style_file(tmp_path / "ink.png", "ink")
    args = ["apply-style", str(tmp_path), "--style", str(style), "--out", str(tmp_path / "x.glb")]
    assert main(args) == 2
    assert "run with --colornet first" in capsys.readouterr().err
    assert not (tmp_path / "x.glb").exists()


def test_apply_style_command_writes_a_mixed_glb(tiny_run, applier, tmp_path: Path, capsys):
    ink, waves = _style_file(tmp_path / "ink.png", "ink"), _style_file(tmp_path / "w.png", "waves")
    out = tmp_path / "mixed.glb"
    args = ["apply-style", str(tiny_run.folder), "--style", str(ink), "--out", str(out)]
    assert main([*args, "--mix", str(waves), "--t", "0.3", "--strength", "0.8"]) == 0
    mesh, extras = read_glb(out)
    assert extras["style"] == "ink" and extras["mix"] == "w" and extras["strength"] == 0.8
    assert_valid_and_upright(out, mesh.vertices)
    assert extras["weights"]["features"]["network"] == "vgg16"
    assert "features: vgg16 (imagenet weights" in capsys.readouterr().out
    expected = applier.apply(read_style_image(ink), read_style_image(waves), 0.3, 0.8).texture
    assert np.abs(mesh.texture - expected).max() <= 1 / 255 + 1e-6
    assert main([*args, "--t", "1.5"]) == 2
    assert "--t must be between 0 and 1" in capsys.readouterr().err
    assert main([*args[:-1], str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_the_clip_mapper_lands_each_training_style_near_its_code(applier, tiny_clip_dir):
    clip = load_clip(tiny_clip_dir, download=False)
    images = {name: BUILTIN_STYLES[name](64) for name in MAPPER_STYLES}
    pairs = mapper_pairs(clip, applier, images, crops=4, seed=0)
    assert len(pairs.names) == 5 * len(MAPPER_STYLES)
    mapper = train_mapper(pairs, applier.saved.net.config.z_dim, MapperConfig(steps=400))
    codes = {name: applier.code(image) for name, image in images.items()}
    zs = torch.stack([code.z for code in codes.values()])
    between = torch.cdist(zs, zs)
    nearest_other = (between + 1e9 * torch.eye(len(zs))).min(dim=1).values
    for index, (name, image) in enumerate(images.items()):
        mapped = exemplar_code(mapper, clip, image).code
        gap = float((mapped.z - codes[name].z).norm())
        # Nearer its own code than a fifth of the way to the nearest other style's.
        assert gap < 0.2 * float(nearest_other[index]), (name, gap, nearest_other)
        np.testing.assert_allclose(mapped.colours.mean, codes[name].colours.mean, atol=0.03)


def test_an_older_mapper_is_retrained_and_a_newer_one_refused(tmp_path: Path):
    """Version 1 mappers read raw embeddings; version 2 standardizes them, so an old one
    is trained again (seconds) rather than misread; a newer one names the problem."""
    meta = tmp_path / META
    meta.write_text(json.dumps({"format": MAPPER_FORMAT, "version": MAPPER_VERSION - 1}))
    assert load_mapper(tmp_path, None) is None
    meta.write_text(json.dumps({"format": MAPPER_FORMAT, "version": MAPPER_VERSION + 1}))
    with pytest.raises(CheckpointError, match="newer than this backend"):
        load_mapper(tmp_path, None)


def test_apply_style_takes_a_prompt_or_an_exemplar_through_the_mapper(
    tiny_run, applier, tiny_clip_dir, tmp_path: Path, capsys
):
    out = tmp_path / "bronze.glb"
    base = ["apply-style", str(tiny_run.folder), "--clip-weights", str(tiny_clip_dir)]
    assert main([*base, "--prompt", "a bronze statue", "--out", str(out)]) == 0
    assert "clip: clip-vit-p16" in capsys.readouterr().out
    meta = json.loads((tiny_run.folder / "clip_mapper.json").read_text())
    assert meta["clip"]["source"] == str(tiny_clip_dir.resolve())
    mesh, extras = read_glb(out)
    assert_valid_and_upright(out, mesh.vertices)
    assert extras["style"] == "prompt_a_bronze_statue" and extras["clip"]["prompt"] == (
        "a bronze statue"
    )
    assert extras["weights"]["clip"]["weights"] == meta["clip"]["weights"]
    assert np.abs(mesh.texture - applier.mesh.texture).mean() > 0.01
    # The saved mapper is reused: the same prompt gives the same head.
    stamp = (tiny_run.folder / "clip_mapper.safetensors").stat().st_mtime_ns
    again = tmp_path / "again.glb"
    assert main([*base, "--prompt", "a bronze statue", "--out", str(again)]) == 0
    assert (tiny_run.folder / "clip_mapper.safetensors").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(read_glb(again)[0].texture, mesh.texture)
    ink = _style_file(tmp_path / "ink.png", "ink")
    exemplar = tmp_path / "ink.glb"
    assert main([*base, "--exemplar", str(ink), "--out", str(exemplar)]) == 0
    assert read_glb(exemplar)[1]["style"] == "exemplar_ink"
    both = [*base, "--prompt", "x", "--style", str(ink), "--out", str(tmp_path / "no.glb")]
    assert main(both) == 2
    assert "give one of --style IMAGE, --prompt TEXT or --exemplar IMAGE" in capsys.readouterr().err
    assert not (tmp_path / "no.glb").exists()


def _style_file(path: Path, name: str) -> Path:
    Image.fromarray((BUILTIN_STYLES[name](64) * 255).astype(np.uint8)).save(path)
    return path
