"""The 2D stylization network the baselines and mutual learning build on: Magenta's
arbitrary style transfer (a style predictor and a conditional-instance-norm transformer,
pretrained, in torch so that it can be fine-tuned).

Images here are (N, H, W, 3) in [0, 1] like every render in the project; the networks
take (N, 3, H, W). A content image of any size is padded by replication to sides
divisible by 4 (the transformer halves twice) and cropped back, and only the head's
pixels take the stylized colour: the background stays as it was, so that a judge or a
NeRF never sees strokes painted on the empty space around the head.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from backend.pretrained.magenta import (
    StylePredictor,
    StyleTransformer,
    load_style_predictor,
    load_style_transformer,
)
from backend.pretrained.networks import Provenance

STYLE_SIDE = 256


class Stylizer2D(torch.nn.Module):
    """Style image to style vector, and content images plus style vector to stylized
    images; the transformer's parameters are trainable, the predictor's frozen."""

    def __init__(self, predictor: StylePredictor, transformer: StyleTransformer):
        super().__init__()
        self.predictor = predictor.requires_grad_(False).eval()
        self.transformer = transformer

    @classmethod
    def load(cls, device: torch.device, download: bool = True) -> Stylizer2D:
        return cls(load_style_predictor(download), load_style_transformer(download)).to(device)

    @property
    def provenance(self) -> list[Provenance]:
        return [p for p in (self.predictor.provenance, self.transformer.provenance) if p]

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @torch.no_grad()
    def style_vector(self, style: np.ndarray) -> torch.Tensor:
        """The style vector (1, 100) of a style image (H, W, 3), seen at 256 x 256 as
        the predictor was trained."""
        image = torch.tensor(style, dtype=torch.float32, device=self.device)
        image = image.permute(2, 0, 1)[None]
        image = F.interpolate(image, size=(STYLE_SIDE, STYLE_SIDE), mode="bilinear", antialias=True)
        return self.predictor(image.clamp(0, 1))

    def forward(
        self, images: torch.Tensor, style: torch.Tensor, masks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Stylized ``images`` (N, H, W, 3) under ``style`` (1 or N, 100); where ``masks``
        (N, H, W) are given, the stylized colour is blended in by them."""
        return stylize_images(self.transformer, images, style, masks)


def stylize_images(
    transformer: StyleTransformer,
    images: torch.Tensor,
    style: torch.Tensor,
    masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """:meth:`Stylizer2D.forward` through any transformer (a fine-tuned copy too)."""
    height, width = images.shape[1:3]
    pad_h, pad_w = -height % 4, -width % 4
    content = images.permute(0, 3, 1, 2)
    if pad_h or pad_w:
        content = F.pad(content, (0, pad_w, 0, pad_h), mode="replicate")
    styles = style.expand(len(images), -1)
    out = transformer(content, styles)[:, :, :height, :width].permute(0, 2, 3, 1)
    if masks is None:
        return out
    weight = masks[..., None].to(out.dtype)
    return out * weight + images * (1.0 - weight)
