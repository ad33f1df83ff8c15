"""Style images, losses, the judge, and texture stylization on a tiny mesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from backend.captures import load_capture
from backend.methods.hybrid.offsets import VertexOffsets
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.methods.hybrid.settings import StylizeSettings
from backend.methods.hybrid.volume_texture import VolumePyramid
from backend.style import losses
from backend.style.builtin import BUILTIN_STYLES
from backend.style.images import StyleImageError, read_style_image
from backend.style.judge import Judge
from tests.head_helpers import method_context, patterned_head


def _save(path: Path, array: np.ndarray, mode: str) -> Path:
    Image.fromarray(array, mode).save(path)
    return path


def test_style_images_are_converted_or_refused(tmp_path: Path):
    gray = _save(tmp_path / "g.png", np.full((64, 80), 100, np.uint8), "L")
    assert read_style_image(gray).shape == (64, 80, 3)
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:32] = [255, 0, 0, 255]
    image = read_style_image(_save(tmp_path / "a.png", rgba, "RGBA"))
    np.testing.assert_allclose(image[40, 10], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(image[10, 10], [1.0, 0.0, 0.0])
    huge = _save(tmp_path / "h.png", np.zeros((3000, 4000, 3), np.uint8), "RGB")
    assert read_style_image(huge, working_side=256).shape == (192, 256, 3)
    cases = {
        "tiny": (_save(tmp_path / "t.png", np.zeros((16, 64, 3), np.uint8), "RGB"), "16 px"),
        "garbage": (tmp_path / "x.png", "not an image file"),
        "missing": (tmp_path / "nope.jpg", "not found"),
    }
    (tmp_path / "x.png").write_bytes(b"\x89PNG broken")
    for path, expected in cases.values():
        with pytest.raises(StyleImageError, match=expected.split()[0]) as caught:
            read_style_image(path)
        assert str(path) in str(caught.value)


def test_builtin_styles_are_deterministic_distinct_images():
    images = {name: draw(64) for name, draw in BUILTIN_STYLES.items()}
    for name, image in images.items():
        assert image.shape == (64, 64, 3) and image.dtype == np.float32, name
        assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0.05, name
        np.testing.assert_array_equal(image, BUILTIN_STYLES[name](64))
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(images[a] - images[b]).mean() > 0.05, (a, b)


def test_losses_vanish_for_identical_features_and_grow_with_difference():
    generator = torch.Generator().manual_seed(0)
    a = {"x": torch.rand(1, 8, 6, 6, generator=generator)}
    b = {"x": torch.rand(1, 8, 6, 6, generator=generator) * 3}
    for loss in (losses.gram_loss, losses.mean_std_loss, losses.nnfm_loss, losses.content_loss):
        assert float(loss(a, a)) == pytest.approx(0.0, abs=1e-6)
        assert float(loss(a, b)) > 1e-4
    flat = torch.ones(5, 5, 3)
    assert float(losses.total_variation(flat)) == 0.0


def test_masked_style_losses_ignore_what_the_mask_leaves_out():
    """A render whose covered half shows exactly the style's features matches it, whatever
    its background half holds; unmasked, the background counts."""
    generator = torch.Generator().manual_seed(0)
    style = {"x": torch.rand(1, 8, 6, 6, generator=generator)}
    background = torch.rand(1, 8, 6, 6, generator=generator) * 3
    ours = {"x": torch.cat([style["x"], background], dim=-1)}
    mask = torch.cat([torch.ones(1, 1, 6, 6), torch.zeros(1, 1, 6, 6)], dim=-1)
    for loss in (losses.gram_loss, losses.mean_std_loss, losses.nnfm_loss):
        assert float(loss(ours, style, mask)) == pytest.approx(0.0, abs=1e-6), loss.__name__
        assert float(loss(ours, style)) > 1e-3, loss.__name__


def _tiny_stylizer(capture_dir: Path, settings: StylizeSettings) -> TextureOptimizer:
    """A stylizer for the ground-truth head at 4000 faces with a patterned texture."""
    capture = load_capture(capture_dir)
    mesh = patterned_head(capture, 128, frequency=80.0, mean=0.6)
    return TextureOptimizer(method_context(mesh, capture, settings))


def test_stylizing_a_tiny_mesh_moves_it_towards_the_style_by_the_judge(tiny_capture_dir):
    settings = StylizeSettings(steps=80, render_size=64, pool_views=8, lr=0.1)
    stylizer = _tiny_stylizer(tiny_capture_dir, settings)
    mesh = stylizer.mesh
    result = stylizer.stylize("strokes", BUILTIN_STYLES["strokes"](64))
    summary = result.summary()
    # Measured with ImageNet VGG16 at 64 px (the judge renders at 256 px): AlexNet
    # statistics 4.3% closer to the style than the patterned head's, covariance cosine
    # x2.06, style loss -27%, consistency 0.012 / 0.044 (unstylized: 0.006 / 0.033).
    # The patterned head is already far from any style and 64 px leaves strokes few
    # pixels; benchmarks/styles.py measures the product setting against the targets.
    assert summary["judge_meanstd_distance"] < summary["judge_meanstd_distance_unstylized"]
    assert summary["judge_meanstd_gain"] > 0.02, summary
    assert summary["judge_cov_cosine_ratio"] > 1.5, summary
    assert 0.05 < summary["content_lpips"] < 0.6, summary
    assert summary["style_loss_reduction"] > 0.15, summary
    assert summary["consistency_short_rmse"] < 0.025, summary
    assert summary["consistency_long_rmse"] < 0.1, summary
    assert summary["consistency_long_lpips"] < 0.1, summary
    assert not np.allclose(result.mesh.texture, mesh.texture)


def test_vertex_offsets_move_the_surface_smoothly_within_their_limit(tiny_capture_dir):
    settings = StylizeSettings(
        steps=30, render_size=64, pool_views=8, vertex_offsets=True, offset_lr=0.2
    )
    stylizer = _tiny_stylizer(tiny_capture_dir, settings)
    mesh = stylizer.mesh
    result = stylizer.stylize("strokes", BUILTIN_STYLES["strokes"](64))
    moved = result.mesh.vertices - mesh.vertices
    limit = settings.offset_limit * np.linalg.norm(np.ptp(mesh.vertices, axis=0))
    distance = np.linalg.norm(moved, axis=1)
    assert 0.05 * limit < distance.max() <= limit * (1 + 1e-5)
    assert np.array_equal(result.mesh.faces, mesh.faces)
    assert result.summary()["max_vertex_offset"] == pytest.approx(distance.max(), rel=1e-4)
    normals = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).vertex_normals
    along = np.abs(np.einsum("ij,ij->i", moved, normals))
    assert np.allclose(along, distance, atol=1e-6)
    offsets = VertexOffsets(mesh.vertices, mesh.faces, limit, torch.device("cpu"))
    with torch.no_grad():
        offsets.amount.copy_(
            torch.atanh(torch.tensor(np.einsum("ij,ij->i", moved, normals) / limit))
        )
        smooth = float(offsets.roughness())
        offsets.amount.copy_(offsets.amount[torch.randperm(len(offsets.amount))])
        shuffled = float(offsets.roughness())
    assert smooth < 0.5 * shuffled
    # Measured with ImageNet VGG16 after 30 steps: -17% (random VGG19 weights: -20% or more).
    assert result.summary()["style_loss_reduction"] > 0.1


def test_volume_texture_gives_both_sides_of_a_seam_one_colour(tiny_capture_dir):
    """Atlas seams split vertices; offsets on voxel grids colour both copies alike."""
    stylizer = _tiny_stylizer(tiny_capture_dir, StylizeSettings(render_size=64, pool_views=2))
    mesh = stylizer.mesh
    flat = torch.full(mesh.texture.shape, 0.5)
    pyramid = VolumePyramid(flat, stylizer.texels, levels=1, finest=8)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for offset in pyramid.offsets:
            offset.copy_(torch.randn(offset.shape, generator=generator))
        texture = pyramid().numpy()
    size = texture.shape[0]
    texel = np.clip((mesh.uvs * size).astype(int), 0, size - 1)
    colour = texture[texel[:, 1], texel[:, 0]]
    _, first, inverse = np.unique(
        mesh.vertices.round(6), axis=0, return_index=True, return_inverse=True
    )
    twins = np.flatnonzero(first[inverse.ravel()] != np.arange(len(mesh.vertices)))
    assert len(twins) > 50
    seam = np.abs(colour[twins] - colour[first[inverse.ravel()][twins]]).mean()
    shuffled = np.abs(colour[twins] - colour[np.random.default_rng(0).permutation(twins)]).mean()
    # Nearest-texel lookups at the twins' UVs sit up to a texel apart on the surface,
    # hence not zero (measured 0.034 against 0.127); offsets living in UV space would
    # give seam twins unrelated colours, as far apart as the shuffled pairs.
    assert seam < 0.4 * shuffled, (seam, shuffled)


def _head_frames(capture_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The capture's held-out frames over white (V, 96, 96, 3) and their masks."""
    frames = load_capture(capture_dir).heldout
    rgba = torch.tensor(np.stack([f.rgba for f in frames]), dtype=torch.float32)
    rgba = torch.nn.functional.interpolate(rgba.permute(0, 3, 1, 2), size=96, mode="bilinear")
    rgba = rgba.permute(0, 2, 3, 1)
    images = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    return images, rgba[..., 3] > 0.5


def test_judge_ranks_texture_above_colour_and_blank_and_ignores_the_background(
    tiny_capture_dir,
):
    judge = Judge.load(download=False)
    images, masks = _head_frames(tiny_capture_dir)
    head = masks[..., None].float()
    for name in ("strokes", "mosaic", "painting"):
        style = torch.tensor(BUILTIN_STYLES[name](96))
        target = judge.style_statistics(style)
        colour_only = (images - images[masks].mean(0)) / images[masks].std(0)
        colour_only = colour_only * style.reshape(-1, 3).std(0) + style.reshape(-1, 3).mean(0)
        candidates = {
            "unstylized": images,
            "texture": images * (1 - head) + style * head,
            "colour": images * (1 - head) + colour_only.clamp(0, 1) * head,
            "blank": images * (1 - head) + style.reshape(-1, 3).mean(0) * head,
        }
        figures = {
            k: judge.compare(judge.statistics(v, masks), target) for k, v in candidates.items()
        }
        texture = figures["texture"]
        for other in ("unstylized", "colour", "blank"):
            assert texture.meanstd_distance < 0.7 * figures[other].meanstd_distance, (name, other)
            assert texture.cov_cosine > 1.5 * figures[other].cov_cosine, (name, other)
        moved_background = candidates["texture"].clone()
        moved_background[~masks] = torch.tensor([0.1, 0.8, 0.3])
        again = judge.compare(judge.statistics(moved_background, masks), target)
        assert again == texture
