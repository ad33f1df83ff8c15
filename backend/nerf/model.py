"""A trained radiance field bundled with what it needs to render from any camera."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backend.captures import Camera, SceneBox
from backend.nerf.background import Background
from backend.nerf.field import VoxelField
from backend.nerf.rays import camera_rays
from backend.nerf.render import render_rays
from backend.nerf.sampler import Sampler


@dataclass(frozen=True)
class Rendering:
    """One view: RGB over the evaluation background, opacity, and depth along each ray
    in normalized units (inf where the ray meets nothing opaque); ``front``: the depth by
    which each ray's opacity reaches 0.1 (inf where it never does), where carving stops."""

    rgb: np.ndarray
    opacity: np.ndarray
    depth: np.ndarray
    front: np.ndarray


@dataclass
class NerfModel:
    """A trained field with what it needs to render: sampler, background, scene box."""

    field: VoxelField
    sampler: Sampler
    background: Background
    capture_box: SceneBox

    @torch.no_grad()
    def render(self, camera: Camera) -> np.ndarray:
        """RGB (H, W, 3) from any camera, over the evaluation background."""
        return self.render_all(camera).rgb

    @torch.no_grad()
    def render_all(self, camera: Camera) -> Rendering:
        """Colour, opacity and depth from any camera."""
        rays = camera_rays(camera, self.capture_box, self.device)
        bg = self.background(rays.origins, rays.dirs, training=False)
        out = render_rays(self.field, self.sampler, rays.origins, rays.dirs, bg)
        k = camera.intrinsics
        opacity = out.opacity.view(k.height, k.width)
        depth = torch.where(
            opacity > 0.5, out.depth.view(k.height, k.width) / opacity.clamp(min=1e-6), torch.inf
        )
        return Rendering(
            out.rgb.clamp(0, 1).view(k.height, k.width, 3).cpu().numpy(),
            opacity.cpu().numpy(),
            depth.cpu().numpy(),
            out.front.view(k.height, k.width).cpu().numpy(),
        )

    @property
    def device(self) -> torch.device:
        return self.field.grid.table.device
