"""Frozen feature networks with named taps, and the record of where their weights came from.

A :class:`Backbone` is a network's ``features`` plus its provenance; a
:class:`FeatureExtractor` runs it up to the deepest tap a caller needs. Images go in as
(B, 3, H, W) RGB in [0, 1]; the ImageNet normalization happens inside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from backend.pretrained.architectures import ARCHITECTURES, IMAGENET_MEAN, IMAGENET_STD

IMAGENET = "imagenet"
RANDOM = "random"


@dataclass(frozen=True)
class Provenance:
    """Which network, which weights (``imagenet`` or ``random``) and where they came from."""

    network: str
    weights: str
    source: str

    def describe(self) -> str:
        return f"{self.network} ({self.weights} weights, {self.source})"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class Backbone(nn.Module):
    """A frozen ``features`` network of a known architecture."""

    def __init__(self, network: str, features: nn.Sequential, provenance: Provenance):
        super().__init__()
        self.architecture = ARCHITECTURES[network]
        self.features = features.eval()
        self.provenance = provenance
        for parameter in self.features.parameters():
            parameter.requires_grad_(False)


class FeatureExtractor(nn.Module):
    """Named ReLU activations of a backbone for images (B, 3, H, W) in [0, 1]."""

    def __init__(self, backbone: Backbone, layers: tuple[str, ...]):
        super().__init__()
        taps = backbone.architecture.taps
        unknown = [name for name in layers if name not in taps]
        if unknown:
            raise ValueError(
                f"unknown {backbone.architecture.name} layers {unknown}; known: {sorted(taps)}"
            )
        self.layers = layers
        self.provenance = backbone.provenance
        self.features = backbone.features[: max(taps[name] for name in layers) + 1]
        self._wanted = {taps[name]: name for name in layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = (images - self.mean) / self.std
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._wanted:
                out[self._wanted[index]] = x
        return out


def random_backbone(network: str, seed: int = 0) -> Backbone:
    """The architecture with seeded Kaiming-normal weights: for tests and, when a user
    asks for it explicitly, for debugging. Never a fallback."""
    generator = torch.Generator().manual_seed(seed)
    features = ARCHITECTURES[network].build()
    for module in features:
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            with torch.no_grad():
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                module.bias.zero_()
    source = f"seeded Kaiming-normal initialization (seed {seed}), asked for explicitly"
    return Backbone(network, features, Provenance(network, RANDOM, source))
