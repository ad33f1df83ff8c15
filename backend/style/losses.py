"""Style and content losses on VGG features, and total variation on textures.

All feature losses take dicts of named activations (B, C, H, W) as the extractor returns
them and average over layers, so their scale does not depend on how many layers are used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor) -> torch.Tensor:
    """Normalized Gram matrix (B, C, C): channel co-activations over all positions."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def gram_loss(ours: dict[str, torch.Tensor], style: dict[str, torch.Tensor]) -> torch.Tensor:
    return _mean(F.mse_loss(gram(ours[k]), gram(style[k]).expand_as(gram(ours[k]))) for k in ours)


def mean_std_loss(ours: dict[str, torch.Tensor], style: dict[str, torch.Tensor]) -> torch.Tensor:
    """AdaIN statistics: match per-channel mean and standard deviation."""

    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.flatten(2)
        return flat.mean(-1), (flat.var(-1) + 1e-5).sqrt()

    terms = []
    for k in ours:
        (m1, s1), (m2, s2) = stats(ours[k]), stats(style[k])
        terms.append(F.mse_loss(m1, m2.expand_as(m1)) + F.mse_loss(s1, s2.expand_as(s1)))
    return _mean(terms)


def nnfm_loss(ours: dict[str, torch.Tensor], style: dict[str, torch.Tensor]) -> torch.Tensor:
    """Nearest-neighbour feature matching (ARF): each rendered feature moves towards its
    most similar style feature, by cosine distance."""
    terms = []
    for k in ours:
        a = F.normalize(ours[k].flatten(2).transpose(1, 2), dim=-1)
        b = F.normalize(style[k].flatten(2).transpose(1, 2), dim=-1)
        similarity = a @ b.expand(a.shape[0], -1, -1).transpose(1, 2)
        terms.append((1.0 - similarity.max(dim=-1).values).mean())
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
