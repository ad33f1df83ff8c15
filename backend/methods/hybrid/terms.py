"""What stage 2 optimizes a texture towards: one style term per kind of target.

The texture optimization (texture.py) is the same whatever the target; only the term
that scores a render changes. A term sees the cropped render, its coverage mask, the
render's VGG features (the content loss needs them anyway) and the view's index; it is
told whether it is training (random augmentations allowed) or measuring (deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from backend.style.clip_loss import ClipLoss
from backend.style.losses import STYLE_LOSSES


class StyleTerm(Protocol):
    def __call__(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        features: dict[str, torch.Tensor],
        view: int,
        train: bool,
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class FeatureStyleTerm:
    """A style image's VGG statistics: the sum of the named losses, each on its layers."""

    target: dict[str, torch.Tensor]
    layers: dict[str, tuple[str, ...]]

    def __call__(self, image, mask, features, view, train) -> torch.Tensor:
        terms = [
            STYLE_LOSSES[name]({k: features[k] for k in layers}, self.target, mask)
            for name, layers in self.layers.items()
        ]
        return sum(terms)


@dataclass(frozen=True)
class ClipTerm:
    """A CLIP target, each view scored against its unedited render in ``originals``."""

    loss: ClipLoss
    originals: list[torch.Tensor]

    def __call__(self, image, mask, features, view, train) -> torch.Tensor:
        return self.loss(image, self.originals[view], augment=train)
