"""The independent judge: how much of a style image a set of renders carries.

The style losses optimize VGG16 features; a figure computed with the same network says
mostly that the optimizer did its job. The judge looks through ImageNet AlexNet, which no
optimization in the project uses, at the head's pixels only, and compares the renders'
feature statistics with the style image's on every conv layer:

- ``meanstd_distance``: the distance between the channel means and deviations of the
  renders and those of the style image, relative to the style's own (0 is a match);
- ``cov_cosine``: the cosine between the feature covariances (centred Gram matrices) of
  renders and style, which a flat or colour-only copy cannot raise (a plain relative
  Gram distance can be lowered by a blank image).

Positions from all views are pooled into one set of statistics. Background pixels are
replaced by the head's mean colour before the network sees them and positions count by
how much of them the head covers, so nothing outside the head changes a figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backend.pretrained.lpips import LPIPS
from backend.pretrained.networks import Provenance
from backend.pretrained.registry import JUDGE_NETWORK, load_lpips
from backend.style.losses import layer_weights


@dataclass(frozen=True)
class LayerStatistics:
    """Channel mean (C,), deviation (C,) and covariance (C, C) of one layer."""

    mean: torch.Tensor
    std: torch.Tensor
    cov: torch.Tensor


@dataclass(frozen=True)
class StyleFigures:
    meanstd_distance: float
    cov_cosine: float


class Judge:
    """AlexNet statistics and LPIPS (the same frozen AlexNet) for judging results."""

    def __init__(self, lpips: LPIPS):
        self.lpips = lpips
        self.extractor = lpips.extractor

    @classmethod
    def load(cls, download: bool = True) -> Judge:
        """The judge with its published weights (there is no random judge)."""
        return cls(load_lpips(JUDGE_NETWORK, download))

    def to(self, device: torch.device) -> Judge:
        self.lpips.to(device)
        return self

    @property
    def provenance(self) -> Provenance:
        return self.lpips.provenance

    @property
    def device(self) -> torch.device:
        return self.extractor.mean.device

    @torch.no_grad()
    def style_statistics(self, style: torch.Tensor) -> list[LayerStatistics]:
        """Statistics of a style image (H, W, 3), every position counted."""
        return self.statistics(style[None], torch.ones(1, *style.shape[:2], device=style.device))

    @torch.no_grad()
    def statistics(self, images: torch.Tensor, masks: torch.Tensor) -> list[LayerStatistics]:
        """Pooled statistics of the masked pixels of images (B, H, W, 3), masks (B, H, W)."""
        masks = masks[:, None].to(images.dtype)
        pixels = images.permute(0, 3, 1, 2)
        head_colour = (pixels * masks).sum((0, 2, 3)) / masks.sum().clamp(min=1e-6)
        filled = pixels * masks + head_colour.view(1, 3, 1, 1) * (1 - masks)
        out = []
        for features in self.extractor(filled).values():
            weights = layer_weights(masks, features)
            out.append(_weighted_statistics(features, weights))
        return out

    def compare(self, ours: list[LayerStatistics], style: list[LayerStatistics]) -> StyleFigures:
        distances, cosines = [], []
        for a, b in zip(ours, style, strict=True):
            target = torch.cat([b.mean, b.std])
            gap = torch.cat([a.mean - b.mean, a.std - b.std])
            distances.append(float(gap.norm() / target.norm().clamp(min=1e-12)))
            cosine = (a.cov * b.cov).sum() / (a.cov.norm() * b.cov.norm()).clamp(min=1e-12)
            cosines.append(float(cosine))
        return StyleFigures(sum(distances) / len(distances), sum(cosines) / len(cosines))

    @torch.no_grad()
    def perceptual_distance(
        self, a: torch.Tensor, b: torch.Tensor, masks: torch.Tensor | None = None
    ) -> float:
        """Mean LPIPS between image batches (B, H, W, 3), over ``masks`` (B, H, W) if given."""
        weights = masks[:, None].to(a.dtype) if masks is not None else None
        return float(self.lpips(a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2), weights).mean())


def _weighted_statistics(features: torch.Tensor, weights: torch.Tensor) -> LayerStatistics:
    """Statistics over every image's positions (B, C, H, W), weighted (B, 1, H*W)."""
    channels = features.shape[1]
    flat = features.flatten(2).transpose(0, 1).reshape(channels, -1).double()
    w = weights.transpose(0, 1).reshape(1, -1).double()
    total = w.sum().clamp(min=1e-12)
    mean = (flat * w).sum(1) / total
    centred = flat - mean[:, None]
    cov = (centred * w) @ centred.T / total
    return LayerStatistics(mean, cov.diagonal().clamp(min=0).sqrt(), cov)
