"""CLIP edits: the loader on a checkpoint in the standard layout, its one-line refusals,
and the texture and shape edits it drives on a tiny head."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from backend.captures import load_capture
from backend.errors import WeightsError
from backend.files import sha256_of
from backend.methods.clip.edit import SHAPE_BENDING_WEIGHT, ClipEdit, clip_edit
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.methods.hybrid.settings import StylizeSettings
from backend.pretrained.clip import load_clip
from backend.style.builtin import BUILTIN_STYLES
from tests.head_helpers import method_context, patterned_head

CPU = torch.device("cpu")
SETTINGS = StylizeSettings(steps=40, render_size=64, pool_views=8, lr=0.1)


def test_a_saved_tiny_clip_loads_through_the_product_loader(tiny_clip_dir: Path):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt"):
        assert (tiny_clip_dir / name).is_file(), name
    clip = load_clip(tiny_clip_dir, download=False)
    digest = sha256_of(tiny_clip_dir / "model.safetensors")[:16]
    assert clip.provenance.weights == f"sha256:{digest}"
    assert clip.provenance.source == str(tiny_clip_dir.resolve())
    assert clip.provenance.network.startswith("clip-vit-p16")
    texts = clip.encode_text(["a bronze statue", "a watercolour portrait"])
    assert texts.shape == (2, clip.dim)
    torch.testing.assert_close(texts.norm(dim=-1), torch.ones(2))
    assert float(texts[0] @ texts[1]) < 0.999
    images = torch.rand(2, 3, 90, 70, generator=torch.Generator().manual_seed(0))
    images.requires_grad_(True)
    embedded = clip.encode_images(images)
    embedded[:, 0].sum().backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0
    again = load_clip(tiny_clip_dir, download=False)
    torch.testing.assert_close(again.encode_text(["a bronze statue"])[0], texts[0])


def test_missing_or_broken_clip_weights_are_refused_in_one_line(tiny_clip_dir, tmp_path):
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    (no_config / "model.safetensors").write_bytes(b"x")
    bad_config = _copy(tiny_clip_dir, tmp_path / "bad_config")
    (bad_config / "config.json").write_text("{not json")
    truncated = _copy(tiny_clip_dir, tmp_path / "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    cases = {
        tmp_path / "absent": "not found",
        no_config: "not a CLIP checkpoint",
        bad_config: "cannot load CLIP",
        truncated: "cannot load CLIP",
    }
    for folder, expected in cases.items():
        with pytest.raises(WeightsError) as caught:
            load_clip(folder, download=False)
        message = str(caught.value)
        assert expected in message and str(folder) in message, message
        assert "\n" not in message and "--clip-weights" in message


def test_a_prompt_run_without_clip_weights_exits_2_and_writes_nothing(
    tiny_capture_dir: Path, tmp_path: Path
):
    """No --clip-weights and an empty transformers cache: one line, status 2, no folder."""
    out = tmp_path / "out"
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    capture = str(tiny_capture_dir)
    command = [sys.executable, "-m", "backend", "run", capture, "--prompt", "a statue"]
    done = subprocess.run(
        [*command, "--out", str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no CLIP weights"), done.stderr
    assert "--clip-weights" in lines[0]
    assert not out.exists()


def test_an_exemplar_edit_raises_the_similarity_to_its_fixed_target(
    tiny_capture_dir, tiny_clip_dir
):
    stylizer = _stylizer(tiny_capture_dir, SETTINGS)
    clip = load_clip(tiny_clip_dir, download=False)
    exemplar = BUILTIN_STYLES["mosaic"](64)
    result = clip_edit(stylizer, ClipEdit("mosaic", clip, exemplar=exemplar))
    summary = result.summary()
    assert summary["method"] == "clip" and summary["clip"] == {"kind": "exemplar", "text": "mosaic"}
    assert summary["clip_loss_after"] < 0.8 * summary["clip_loss_before"], summary
    assert summary["clip_similarity_after"] > summary["clip_similarity_before"], summary
    # The judge compares an exemplar's edit with the exemplar, beside the unedited head.
    assert "judge_meanstd_gain" in summary and 0.0 < summary["content_lpips"] < 1.0
    assert summary["consistency_long_rmse"] < 0.1


def test_a_prompt_edit_lowers_its_loss_and_is_judged_on_content(tiny_capture_dir, tiny_clip_dir):
    stylizer = _stylizer(tiny_capture_dir, SETTINGS)
    clip = load_clip(tiny_clip_dir, download=False)
    result = clip_edit(stylizer, ClipEdit("bronze", clip, prompt="a bronze statue"))
    summary = result.summary()
    assert summary["clip"] == {"kind": "prompt", "text": "a bronze statue"}
    assert summary["clip_loss_after"] < summary["clip_loss_before"], summary
    assert "judge_meanstd_gain" not in summary and 0.0 < summary["content_lpips"] < 1.0
    assert not np.allclose(result.result.mesh.texture, stylizer.mesh.texture)


def test_a_shape_edit_keeps_one_manifold_mesh_within_its_limit(tiny_capture_dir, tiny_clip_dir):
    settings = replace(
        SETTINGS, vertex_offsets=True, offset_limit=0.02, bending_weight=SHAPE_BENDING_WEIGHT
    )
    stylizer = _stylizer(tiny_capture_dir, settings)
    clip = load_clip(tiny_clip_dir, download=False)
    result = clip_edit(stylizer, ClipEdit("bronze", clip, prompt="a bronze statue"))
    before, after = stylizer.mesh, result.result.mesh
    np.testing.assert_array_equal(after.faces, before.faces)
    moved = np.linalg.norm(after.vertices - before.vertices, axis=1)
    limit = 0.02 * np.linalg.norm(np.ptp(before.vertices, axis=0))
    assert 0.05 * limit < moved.max() <= limit * (1 + 1e-5)
    old = trimesh.Trimesh(before.vertices, before.faces, process=False)
    new = trimesh.Trimesh(after.vertices, after.faces, process=False)
    # Same connectivity, each edge still shared by at most two faces, and no face folded
    # over: every face keeps the side it faced.
    assert new.is_winding_consistent == old.is_winding_consistent
    edges = np.sort(new.edges, axis=1)
    assert np.unique(edges, axis=0, return_counts=True)[1].max() <= 2
    assert (np.einsum("ij,ij->i", new.face_normals, old.face_normals) > 0.5).all()
    assert result.result.max_offset == pytest.approx(moved.max(), rel=1e-4)


def _stylizer(capture_dir: Path, settings: StylizeSettings) -> TextureOptimizer:
    capture = load_capture(capture_dir)
    mesh = patterned_head(capture, 128, frequency=80.0, mean=0.6)
    return TextureOptimizer(method_context(mesh, capture, settings))


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target
