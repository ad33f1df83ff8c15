"""Rays of capture frames in the normalized scene, as torch tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from backend.captures import Camera, Frame, SceneBox


@dataclass(frozen=True)
class Rays:
    """Ray origins and unit directions (N, 3) in normalized coordinates; RGBA targets."""

    origins: torch.Tensor
    dirs: torch.Tensor
    rgba: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.origins.shape[0]

    def take(self, index: torch.Tensor) -> Rays:
        rgba = None if self.rgba is None else self.rgba[index]
        return Rays(self.origins[index], self.dirs[index], rgba)


def camera_rays(camera: Camera, box: SceneBox, device: torch.device) -> Rays:
    origins, dirs = camera.rays()
    origins = box.to_normalized(origins.reshape(-1, 3))
    return Rays(
        torch.from_numpy(origins.astype(np.float32)).to(device),
        torch.from_numpy(dirs.reshape(-1, 3).astype(np.float32)).to(device),
    )


def frame_rays(frames: list[Frame], box: SceneBox, device: torch.device) -> Rays:
    """All pixels of the frames, concatenated, with their RGBA values."""
    parts = [camera_rays(f.camera, box, device) for f in frames]
    rgba = np.concatenate([f.rgba.reshape(-1, 4) for f in frames])
    return Rays(
        torch.cat([p.origins for p in parts]),
        torch.cat([p.dirs for p in parts]),
        torch.from_numpy(rgba).to(device),
    )
