"""The style-conditioned colour net of stage 3: c(x, d, z) on the frozen stage-1 geometry.

A style is a :class:`StyleCode`: the encoder's z plus the style image's colour
statistics. The colour of a surface point is the head's own colour matched to the
style's colour statistics (the same transfer stage 2 starts from) plus a residual that
the network predicts from the point (its frozen NeRF features and a Fourier encoding of
its position), the view direction and z. Splitting it so keeps colours exact for any
style and leaves the network the strokes and patterns, which is what it can learn from a
handful of training styles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from backend.style.colour import ColourStats
from backend.style.encoder import StyleEncoder

FEATURES = 12


@dataclass(frozen=True)
class ColorNetConfig:
    """Architecture and training schedule of the colour net."""

    z_dim: int = 16
    hidden: int = 128
    layers: int = 3
    frequencies: int = 7
    steps: int = 1500
    batch: int = 8192
    lr: float = 3e-3
    kl_weight: float = 1e-3
    crops: int = 8
    views: int = 24
    view_size: int = 128
    seed: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class StyleCode:
    """A style as the colour net takes it: z and the colour statistics to transfer."""

    z: torch.Tensor
    colours: ColourStats

    def mix(self, other: StyleCode, t: float) -> StyleCode:
        """Blend towards ``other``: t = 0 and t = 1 give the two styles exactly."""
        if t == 0.0:
            return self
        if t == 1.0:
            return other
        return StyleCode((1 - t) * self.z + t * other.z, self.colours.mix(other.colours, t))


class ColorHead(nn.Module):
    """(NeRF features, position, direction, z) -> colour residual in [-1, 1]."""

    def __init__(self, config: ColorNetConfig):
        super().__init__()
        self.frequencies = config.frequencies
        width = FEATURES + 3 + 6 * config.frequencies + 3 + config.z_dim
        layers: list[nn.Module] = []
        for _ in range(config.layers):
            layers += [nn.Linear(width, config.hidden), nn.ReLU()]
            width = config.hidden
        layers.append(nn.Linear(width, 3))
        self.net = nn.Sequential(*layers)

    def encode_position(self, points: torch.Tensor) -> torch.Tensor:
        scales = (2.0 ** torch.arange(self.frequencies, device=points.device)) * math.pi
        angles = (points[..., None] * scales).flatten(-2)
        return torch.cat([points, angles.sin(), angles.cos()], dim=-1)

    def forward(self, features, points, dirs, z) -> torch.Tensor:
        inputs = torch.cat([features, self.encode_position(points), dirs, z], dim=-1)
        return torch.tanh(self.net(inputs))


class ColorNet(nn.Module):
    """Style encoder and colour head, trained together and saved together."""

    def __init__(self, config: ColorNetConfig, stat_dim: int):
        super().__init__()
        self.config = config
        self.stat_dim = stat_dim
        self.encoder = StyleEncoder(stat_dim, config.z_dim)
        self.head = ColorHead(config)

    @torch.no_grad()
    def code(self, statistics: torch.Tensor, colours: ColourStats) -> StyleCode:
        """The code of a style at inference: the encoder's mean, no sampling."""
        mean, _ = self.encoder(statistics[None])
        return StyleCode(mean[0], colours)

    @torch.no_grad()
    def residual(self, features, points, dirs, z: torch.Tensor, chunk: int = 1 << 17):
        """The head over many points with one z, in chunks (bounded memory)."""
        out = []
        for start in range(0, len(points), chunk):
            part = slice(start, start + chunk)
            zs = z.expand(len(points[part]), -1)
            out.append(self.head(features[part], points[part], dirs[part], zs))
        return torch.cat(out) if out else torch.zeros(0, 3, device=z.device)
