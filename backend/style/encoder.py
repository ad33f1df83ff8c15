"""Style image -> style embedding z, for the style-conditioned colour net (stage 3).

The encoder sees a style only through the channel means and deviations of several VGG19
layers (the AdaIN statistics), which describe texture and colour but not layout. A small
network maps them to a Gaussian over z; training samples from it and pulls it towards
N(0, I) (the variational prior of StylizedNeRF), so an unseen style lands among the codes
the colour net has learned instead of somewhere it never saw. Random crops of each
training image give the encoder more than one statistics vector per style.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from backend.pretrained.networks import FeatureExtractor

STAT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
STAT_SIDE = 256


@torch.no_grad()
def style_statistics(extractor: FeatureExtractor, image: np.ndarray) -> torch.Tensor:
    """Per-layer channel mean and deviation of an image (H, W, 3), one flat vector.

    The image is scaled so its long side is STAT_SIDE: statistics then describe the same
    stroke scale for a small and a huge image, and the cost stays bounded.
    """
    device = extractor.mean.device
    pixels = torch.tensor(image, dtype=torch.float32, device=device).permute(2, 0, 1)[None]
    scale = STAT_SIDE / max(pixels.shape[-2:])
    size = [max(16, round(side * scale)) for side in pixels.shape[-2:]]
    pixels = F.interpolate(pixels, size=size, mode="bilinear", antialias=True, align_corners=False)
    features = extractor(pixels.clamp(0, 1))
    parts = []
    for name in STAT_LAYERS:
        flat = features[name][0].flatten(1)
        parts += [flat.mean(1), flat.std(1)]
    return torch.cat(parts)


def crop_statistics(
    extractor: FeatureExtractor, image: np.ndarray, crops: int, rng: np.random.Generator
) -> torch.Tensor:
    """Statistics (1 + crops, D) of the whole image and of random crops of 50-90% side."""
    rows = [style_statistics(extractor, image)]
    rows += [style_statistics(extractor, random_crop(image, rng)) for _ in range(crops)]
    return torch.stack(rows)


def random_crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop of 50-90% of each side (at least 16 px): the same style, seen
    elsewhere and at another scale."""
    height, width = image.shape[:2]
    side = rng.uniform(0.5, 0.9)
    h, w = min(height, max(16, int(height * side))), min(width, max(16, int(width * side)))
    top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    return image[top : top + h, left : left + w]


class StyleEncoder(nn.Module):
    """Statistics vector -> (mean, log-variance) of the style code z."""

    def __init__(self, stat_dim: int, z_dim: int, hidden: int = 128):
        super().__init__()
        self.register_buffer("stat_mean", torch.zeros(stat_dim))
        self.register_buffer("stat_std", torch.ones(stat_dim))
        self.net = nn.Sequential(
            nn.Linear(stat_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * z_dim)
        )

    def fit_normalization(self, statistics: torch.Tensor) -> None:
        """Standardize inputs by the training styles' statistics (VGG scales vary a lot)."""
        self.stat_mean.copy_(statistics.mean(0))
        self.stat_std.copy_(statistics.std(0).clamp(min=1e-4))

    def forward(self, statistics: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        standardized = (statistics - self.stat_mean) / self.stat_std
        mean, log_var = self.net(standardized).chunk(2, dim=-1)
        return mean, log_var.clamp(-8.0, 4.0)


def kl_to_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)), averaged over the batch."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1).mean()
