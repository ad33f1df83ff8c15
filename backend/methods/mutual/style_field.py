"""The NeRF with its colour replaced by a style module: the trained field's density as it
was (frozen), and a colour that an MLP gives from the field's own colour features, the
point and a latent style code.

The colour is view-independent on purpose: what a view sees of the style must not
depend on where it looks from, and the per-view latent codes (codes.py) are where a view's
disagreement with the others goes instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from backend.nerf.field import VoxelField
from backend.nerf.grid import GridGeometry, SparseGrid

CONTENT_CHANNELS = 12


class StyleModule(nn.Module):
    """Colour (N, 3) from content features (N, 12), points in [-1, 1]^3 (N, 3) and codes
    (N, D): a small MLP over the features, a positional encoding of the point (``freqs``
    octaves, so strokes finer than the grid's cells can be drawn) and the code."""

    def __init__(self, code_dim: int, hidden: int = 64, freqs: int = 6):
        super().__init__()
        self.freqs = freqs
        width = CONTENT_CHANNELS + 6 * freqs + code_dim
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 3),
        )

    def forward(self, content: torch.Tensor, points: torch.Tensor, codes: torch.Tensor):
        scales = (2.0 ** torch.arange(self.freqs, device=points.device)) * math.pi
        angles = (points[:, :, None] * scales).flatten(1)
        inputs = torch.cat([content, angles.sin(), angles.cos(), codes], dim=1)
        return torch.sigmoid(self.net(inputs))


class CodedField:
    """The frozen field's density with the style module's colour under given codes: one
    code (D,) for every point, or one per point (N, D). It answers what rendering and
    baking ask of a field (``geometry``, ``grid``, a call, ``diffuse_colour``)."""

    def __init__(self, field: VoxelField, module: StyleModule, codes: torch.Tensor):
        self.field, self.module, self.codes = field, module, codes

    @property
    def geometry(self) -> GridGeometry:
        return self.field.geometry

    @property
    def grid(self) -> SparseGrid:
        return self.field.grid

    def __call__(self, points: torch.Tensor, dirs: torch.Tensor):
        with torch.no_grad():
            features = self.field.grid(points)
        depth = F.softplus(features[:, 0])
        return depth, self.module(features[:, 1:], points, self._codes(len(points)))

    def diffuse_colour(self, points: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            features = self.field.grid(points)
        return self.module(features[:, 1:], points, self._codes(len(points)))

    def _codes(self, count: int) -> torch.Tensor:
        return self.codes.expand(count, -1) if self.codes.dim() == 1 else self.codes
