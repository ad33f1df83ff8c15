"""The capture's training photos as a 2D stylizer's content (over white, with the
subject's mask: alpha where the capture has it, else every pixel), and its stylized
images back as frames a NeRF trains on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from backend.captures import Capture, Frame
from backend.nerf.metrics import composite_white


def training_contents(capture: Capture, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos (V, H, W, 3) over white and masks (V, H, W) of the training views."""
    photos = [torch.tensor(composite_white(f.rgba)) for f in capture.train]
    masks = [torch.tensor(f.rgba[..., 3]) for f in capture.train]
    return torch.stack(photos).to(device), torch.stack(masks).to(device)


def with_images(frames: list[Frame], images: np.ndarray) -> list[Frame]:
    """``frames`` (their cameras and alpha) with other colours (V, H, W, 3)."""
    return [
        replace(f, rgba=np.concatenate([image, f.rgba[..., 3:]], axis=-1).astype(np.float32))
        for f, image in zip(frames, images, strict=True)
    ]
