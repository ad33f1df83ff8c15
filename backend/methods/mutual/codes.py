"""Latent style codes per (style, view) and the small VAE that conditions them.

A 2D stylizer paints each view a little differently; a code per view lets the NeRF's
style module reproduce each view without smearing the differences into the geometry.
The codes of one style are pulled towards a Gaussian whose mean and spread an encoder
reads from the style's own features (the 2D network's 100-d style vector), and that
Gaussian towards the unit prior (the VAE's KL term). A result is rendered with the
style's mean code: the part all views agree on.
"""

from __future__ import annotations

import torch
from torch import nn


class LatentCodes(nn.Module):
    """Codes (S, V, D) for S styles and V views, and the style encoder."""

    def __init__(self, style_vectors: torch.Tensor, views: int, dim: int, seed: int = 0):
        super().__init__()
        self.register_buffer("style_vectors", style_vectors.detach())
        generator = torch.Generator().manual_seed(seed)
        self.encoder = nn.Linear(style_vectors.shape[1], 2 * dim)
        with torch.no_grad():
            mean, _ = self.distribution()
            noise = 0.1 * torch.randn(len(style_vectors), views, dim, generator=generator)
        self.codes = nn.Parameter(mean[:, None, :] + noise.to(mean.device))

    def distribution(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each style's code mean (S, D) and log-variance (S, D)."""
        mean, log_var = self.encoder(self.style_vectors).chunk(2, dim=1)
        return mean, log_var.clamp(-6.0, 2.0)

    def mean_code(self, style: int) -> torch.Tensor:
        return self.distribution()[0][style]

    def regularizer(self) -> torch.Tensor:
        """Negative log-likelihood of the codes under their style's Gaussian, plus the KL
        divergence of that Gaussian from the unit prior (both per code dimension)."""
        mean, log_var = self.distribution()
        gap = self.codes - mean[:, None, :]
        nll = 0.5 * (gap.pow(2) / log_var.exp()[:, None, :] + log_var[:, None, :]).mean()
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).mean()
        return nll + kl
