"""What a ray sees when it leaves the field.

RGBA captures have a known (absent) background: training composites every ray over a
random colour, which leaves the field no way to fake the background with density, and
evaluation composites over white.

Captures without alpha (photos) show a room. A room is not at infinity: the cameras walk
around the head, so a wall shifts against the head from view to view, and a map of
directions alone cannot hold it (the field then paints the room into its box, or the
map paints the face onto the room: on the opaque sample capture the face vanished into
an environment map). The room is modelled instead as concentric shells around the box,
all beyond the farthest camera, each a latitude-longitude RGBA texture composited from
the inside out, the last one opaque (a multi-sphere image): a wall lands on the shell
nearest its depth and moves with the right parallax. A face cannot hide in a shell: it
sits at the centre, and from views around it, it would have to be on a different part of
every shell.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

EVAL_COLOUR = (1.0, 1.0, 1.0)
SHELLS = 6
SHELL_GROWTH = 1.6
SHELL_TEXELS = (128, 256)
# The innermost shell lies this much beyond the farthest camera, so that no training
# camera stands outside a shell.
SHELL_MARGIN = 1.1


class Background(torch.nn.Module):
    """Random/white colour (``radii`` None) or learned shells at ``radii`` (normalized
    units from the box's centre, increasing)."""

    def __init__(self, radii: tuple[float, ...] | None = None):
        super().__init__()
        self.radii = radii
        self.shells: torch.nn.Parameter | None = None
        if radii is not None:
            height, width = SHELL_TEXELS
            logits = torch.zeros(len(radii), 4, height, width)
            for k in range(len(radii)):
                share = 1.0 / (len(radii) - k)
                logits[k, 3] = math.log(share / max(1.0 - share, 1e-6)) if share < 1 else 20.0
            self.shells = torch.nn.Parameter(logits)
            self.register_buffer("radius", torch.tensor(radii, dtype=torch.float32))

    @classmethod
    def for_cameras(cls, camera_distances: np.ndarray) -> Background:
        """Shells from just beyond the farthest camera outward, growing geometrically."""
        inner = SHELL_MARGIN * float(np.max(camera_distances))
        return cls(tuple(inner * SHELL_GROWTH**k for k in range(SHELLS)))

    @property
    def learned(self) -> bool:
        return self.shells is not None

    def forward(self, origins: torch.Tensor, dirs: torch.Tensor, training: bool) -> torch.Tensor:
        """Colour (N, 3) behind each ray (origins and unit dirs in normalized units)."""
        if self.shells is not None:
            return self._shells(origins, dirs)
        if training:
            return torch.rand(dirs.shape[0], 3, device=dirs.device)
        return torch.tensor(EVAL_COLOUR, device=dirs.device).expand(dirs.shape[0], 3)

    def _shells(self, origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        """Each ray's exit through every shell, the shells' RGBA there, composited."""
        b = (origins * dirs).sum(-1, keepdim=True)
        c = (origins * origins).sum(-1, keepdim=True) - self.radius**2
        t = -b + torch.sqrt((b * b - c).clamp(min=0.0))
        hits = (origins[:, None] + t[..., None] * dirs[:, None]) / self.radius[:, None]
        hits = hits.transpose(0, 1)
        theta = torch.atan2(hits[..., 1], hits[..., 0]) / math.pi
        phi = torch.asin(hits[..., 2].clamp(-1.0, 1.0)) / (math.pi / 2.0)
        grid = torch.stack([theta, -phi], dim=-1)[:, None]
        texels = F.grid_sample(self.shells, grid, align_corners=False, padding_mode="border")
        rgba = torch.sigmoid(texels[:, :, 0].permute(2, 0, 1))
        alpha = rgba[..., 3].clone()
        alpha[:, -1] = 1.0
        behind = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha], 1), 1)
        weights = (behind[:, :-1] * alpha)[..., None]
        return (weights * rgba[..., :3]).sum(1)

    def target(self, rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """The ground-truth colour of a pixel seen over this background."""
        if self.learned:
            return rgba[:, :3]
        alpha = rgba[:, 3:4]
        return rgba[:, :3] * alpha + background * (1.0 - alpha)
