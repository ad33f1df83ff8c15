"""VGG19 feature extractor with the published torchvision weights, or seeded random ones.

The architecture matches ``torchvision.models.vgg19().features`` layer for layer, so the
standard checkpoint ``vgg19-dcbb9e9d.pth`` loads into it directly. It is looked for in
the torch hub cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch``), then
downloaded from download.pytorch.org; the file's SHA-256 must start with ``dcbb9e9d``
(torchvision's naming rule). Without it (offline machines), the same network is built with
seeded random weights, a warning says so, and reports carry ``"weights": "random"``:
random-feature style losses still match texture statistics, but far less well.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

CHECKPOINT = "vgg19-dcbb9e9d.pth"
URL = f"https://download.pytorch.org/models/{CHECKPOINT}"
SHA256_PREFIX = "dcbb9e9d"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# torchvision's cfg "E": channels per conv, "M" for max pooling.
LAYOUT = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)
# Index in ``features`` of each ReLU, by the usual block_layer names.
RELU_INDEX = {
    "relu1_1": 1,
    "relu1_2": 3,
    "relu2_1": 6,
    "relu2_2": 8,
    "relu3_1": 11,
    "relu3_2": 13,
    "relu3_3": 15,
    "relu3_4": 17,
    "relu4_1": 20,
    "relu4_2": 22,
    "relu4_3": 24,
    "relu4_4": 26,
    "relu5_1": 29,
}


@dataclass(frozen=True)
class Weights:
    """Which weights the extractor carries: ``torchvision`` or ``random`` (and why)."""

    kind: str
    detail: str


def build_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
    return nn.Sequential(*layers)


def hub_checkpoint_path() -> Path:
    home = os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch"
    return Path(home) / "hub" / "checkpoints" / CHECKPOINT


def _verified(path: Path) -> bool:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest().startswith(SHA256_PREFIX)


def _download(path: Path, timeout: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with urllib.request.urlopen(URL, timeout=timeout) as response, partial.open("wb") as out:
        while block := response.read(1 << 20):
            out.write(block)
    partial.replace(path)


def load_features(download: bool = True, timeout: float = 20.0) -> tuple[nn.Sequential, Weights]:
    """VGG19 ``features`` in eval mode, frozen; real weights when they can be had."""
    features = build_features()
    path = hub_checkpoint_path()
    reason = f"{path} not found"
    try:
        if not path.is_file() and download:
            _download(path, timeout)
        if path.is_file():
            if not _verified(path):
                reason = f"{path} failed its SHA-256 check (expected prefix {SHA256_PREFIX})"
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
                features.load_state_dict(
                    {
                        k[len("features.") :]: v
                        for k, v in state.items()
                        if k.startswith("features.")
                    }
                )
                return _frozen(features), Weights("torchvision", str(path))
    except (OSError, ValueError, RuntimeError) as exc:
        reason = f"could not get {URL}: {exc}"
    warnings.warn(
        f"VGG19 weights unavailable ({reason}); using seeded random weights. Style losses "
        f"will be weak. Put {CHECKPOINT} from {URL} into {path.parent} to fix this.",
        stacklevel=2,
    )
    return _frozen(random_features()), Weights("random", reason)


def random_features(seed: int = 0) -> nn.Sequential:
    """The same architecture with seeded Kaiming-initialized weights (tests, offline)."""
    generator = torch.Generator().manual_seed(seed)
    features = build_features()
    for module in features:
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels * 9
            with torch.no_grad():
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                module.bias.zero_()
    return features


def _frozen(features: nn.Sequential) -> nn.Sequential:
    features.eval()
    for parameter in features.parameters():
        parameter.requires_grad_(False)
    return features


class FeatureExtractor(nn.Module):
    """Named ReLU activations of VGG19 for images (B, 3, H, W) in [0, 1]."""

    def __init__(self, features: nn.Sequential, layers: tuple[str, ...]):
        super().__init__()
        unknown = [name for name in layers if name not in RELU_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; known: {sorted(RELU_INDEX)}")
        self.layers = layers
        last = max(RELU_INDEX[name] for name in layers)
        self.features = features[: last + 1]
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = {RELU_INDEX[name]: name for name in self.layers}
        out: dict[str, torch.Tensor] = {}
        x = (images - self.mean) / self.std
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
        return out
