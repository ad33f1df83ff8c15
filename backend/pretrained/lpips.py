"""LPIPS (Zhang et al. 2018): a learned perceptual distance between two images.

Each tapped layer's features are scaled to unit length per position, their squared
difference is weighted per channel by the published linear calibration, summed over
channels, averaged over positions, and summed over layers. With a mask, positions are
averaged by the mask's coverage of them, so a comparison can count the head and ignore
the background.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from backend.pretrained.architectures import LPIPS_TAPS
from backend.pretrained.networks import Backbone, FeatureExtractor, Provenance


class LPIPS(nn.Module):
    """Distances (B,) between images (B, 3, H, W) in [0, 1]; 0 for identical images."""

    def __init__(self, backbone: Backbone, lin: list[torch.Tensor], provenance: Provenance):
        super().__init__()
        self.extractor = FeatureExtractor(backbone, LPIPS_TAPS[backbone.architecture.name])
        for i, weights in enumerate(lin):
            self.register_buffer(f"lin{i}", weights.view(1, -1, 1, 1).clone())
        self.provenance = provenance

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``mask`` (B, 1, H, W) in [0, 1] weights the positions that count."""
        ours, theirs = self.extractor(a), self.extractor(b)
        total = a.new_zeros(a.shape[0])
        for i, name in enumerate(self.extractor.layers):
            difference = (_unit(ours[name]) - _unit(theirs[name])).pow(2)
            per_position = (difference * getattr(self, f"lin{i}")).sum(1, keepdim=True)
            if mask is None:
                total = total + per_position.mean(dim=(1, 2, 3))
            else:
                weights = F.adaptive_avg_pool2d(mask, per_position.shape[-2:])
                covered = weights.sum(dim=(1, 2, 3)).clamp(min=1e-6)
                total = total + (per_position * weights).sum(dim=(1, 2, 3)) / covered
        return total


def _unit(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return features / (features.pow(2).sum(1, keepdim=True).sqrt() + eps)
