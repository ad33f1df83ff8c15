"""What a ray sees when it leaves the field.

RGBA captures have a known (absent) background: training composites every ray over a
random colour, which leaves the field no way to fake the background with density, and
evaluation composites over white. Captures without alpha get a learned environment map
(latitude-longitude grid), so walls and sky behind the head are not pulled into the box.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EVAL_COLOUR = (1.0, 1.0, 1.0)


class Background(torch.nn.Module):
    def __init__(self, learned: bool, height: int = 16, width: int = 32):
        super().__init__()
        self.learned = learned
        self.env = torch.nn.Parameter(torch.zeros(1, 3, height, width)) if learned else None

    def forward(self, dirs: torch.Tensor, training: bool) -> torch.Tensor:
        if self.env is not None:
            theta = torch.atan2(dirs[:, 1], dirs[:, 0]) / math.pi
            phi = torch.asin(dirs[:, 2].clamp(-1.0, 1.0)) / (math.pi / 2.0)
            grid = torch.stack([theta, -phi], dim=-1)[None, None]
            env = F.grid_sample(self.env, grid, align_corners=False, padding_mode="border")
            return torch.sigmoid(env[0, :, 0].T)
        if training:
            return torch.rand(dirs.shape[0], 3, device=dirs.device)
        return torch.tensor(EVAL_COLOUR, device=dirs.device).expand(dirs.shape[0], 3)

    def target(self, rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """The ground-truth colour of a pixel seen over this background."""
        if self.learned:
            return rgba[:, :3]
        alpha = rgba[:, 3:4]
        return rgba[:, :3] * alpha + background * (1.0 - alpha)
