"""The capture's training photos as a 2D stylizer's content: over white, with the
subject's mask (alpha where the capture has it, else every pixel)."""

from __future__ import annotations

import torch

from backend.captures import Capture
from backend.nerf.metrics import composite_white


def training_contents(capture: Capture, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos (V, H, W, 3) over white and masks (V, H, W) of the training views."""
    photos = [torch.tensor(composite_white(f.rgba)) for f in capture.train]
    masks = [torch.tensor(f.rgba[..., 3]) for f in capture.train]
    return torch.stack(photos).to(device), torch.stack(masks).to(device)
