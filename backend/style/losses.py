"""Style and content losses on VGG features, and total variation on textures.

All feature losses take dicts of named activations (B, C, H, W) as the extractor returns
them and average over layers, so their scale does not depend on how many layers are used.
The style losses take an optional mask (B, 1, H, W) of the rendered image's pixels that
count; the style image's features always count whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Mask = torch.Tensor | None


def layer_weights(mask: Mask, features: torch.Tensor) -> torch.Tensor:
    """Per-position weights (B, 1, H*W) for one layer: the image-sized ``mask`` (B, 1, H, W)
    area-averaged to the layer's size, or ones where there is no mask."""
    b, _, h, w = features.shape
    if mask is None:
        return features.new_ones(b, 1, h * w)
    return F.adaptive_avg_pool2d(mask, (h, w)).flatten(2)


def gram(features: torch.Tensor, mask: Mask = None) -> torch.Tensor:
    """Normalized Gram matrix (B, C, C): channel co-activations over the (masked)
    positions. A mask keeps the background out: its fixed colour cannot be stylized, and
    counted in, it would pull the head's statistics to make up for it (Gatys et al. 2017,
    spatial control)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    weights = layer_weights(mask, features)
    total = weights.sum(-1, keepdim=True).clamp(min=1e-6)
    return (flat * weights) @ flat.transpose(1, 2) / (c * total)


def gram_loss(
    ours: dict[str, torch.Tensor], style: dict[str, torch.Tensor], mask: Mask = None
) -> torch.Tensor:
    """Squared Gram error of each layer relative to the style Gram's energy, averaged over
    layers: with real features the layers' activations differ by orders of magnitude,
    and an absolute error would leave all but the deepest layer without a say."""
    terms = []
    for k in ours:
        g, target = gram(ours[k], mask), gram(style[k])
        energy = target.pow(2).sum().clamp(min=1e-12)
        terms.append((g - target).pow(2).sum((1, 2)).mean() / energy)
    return _mean(terms)


def mean_std_loss(
    ours: dict[str, torch.Tensor], style: dict[str, torch.Tensor], mask: Mask = None
) -> torch.Tensor:
    """AdaIN statistics: match per-channel mean and standard deviation."""

    def stats(x: torch.Tensor, m: Mask) -> tuple[torch.Tensor, torch.Tensor]:
        flat, weights = x.flatten(2), layer_weights(m, x)
        total = weights.sum(-1).clamp(min=1e-6)
        mean = (flat * weights).sum(-1) / total
        variance = (weights * (flat - mean[..., None]) ** 2).sum(-1) / total
        return mean, (variance + 1e-5).sqrt()

    terms = []
    for k in ours:
        (m1, s1), (m2, s2) = stats(ours[k], mask), stats(style[k], None)
        terms.append(F.mse_loss(m1, m2.expand_as(m1)) + F.mse_loss(s1, s2.expand_as(s1)))
    return _mean(terms)


def nnfm_loss(
    ours: dict[str, torch.Tensor], style: dict[str, torch.Tensor], mask: Mask = None
) -> torch.Tensor:
    """Nearest-neighbour feature matching (ARF): each rendered feature moves towards its
    most similar style feature, by cosine distance (averaged over the masked positions)."""
    terms = []
    for k in ours:
        a = F.normalize(ours[k].flatten(2).transpose(1, 2), dim=-1)
        b = F.normalize(style[k].flatten(2).transpose(1, 2), dim=-1)
        similarity = a @ b.expand(a.shape[0], -1, -1).transpose(1, 2)
        distance = 1.0 - similarity.max(dim=-1).values
        weights = layer_weights(mask, ours[k])[:, 0]
        terms.append((distance * weights).sum() / weights.sum().clamp(min=1e-6))
    return _mean(terms)


def content_loss(ours: dict[str, torch.Tensor], original: dict[str, torch.Tensor]) -> torch.Tensor:
    return _mean(F.mse_loss(ours[k], original[k]) for k in ours)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring texels of (..., H, W, C)."""
    dy = (image[..., 1:, :, :] - image[..., :-1, :, :]).abs().mean()
    dx = (image[..., :, 1:, :] - image[..., :, :-1, :]).abs().mean()
    return dx + dy


STYLE_LOSSES = {"gram": gram_loss, "mean_std": mean_std_loss, "nnfm": nnfm_loss}


def _mean(terms) -> torch.Tensor:
    terms = list(terms)
    return torch.stack(terms).mean()
