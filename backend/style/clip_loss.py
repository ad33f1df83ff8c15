"""CLIP losses for edits driven by a prompt or an exemplar (after StyleGAN-NADA and
NeRF-Art).

Directional: the change an edit makes to a view, in CLIP's space (the edited render's
embedding less the unedited render's), should point the way from a neutral source to the
target (from a neutral prompt to the user's prompt, or from the unedited head to the
exemplar). Similarity to the target alone lets an optimizer write the prompt's words or
flood the head with one colour; the direction keeps the edit about how the head looks.
A smaller global term pulls the render towards the target itself. Both are averaged over
random crops of the render, the same crop of the edited and the unedited render, so that
no single framing is gamed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from backend.errors import BackendError
from backend.pretrained.clip import Clip

NEUTRAL_PROMPT = "a photo of a head"
MAX_PROMPT = 300


@dataclass(frozen=True)
class ClipTarget:
    """Where an edit goes in CLIP's space: ``embedding`` (unit) and the neutral ``source``
    (unit) it starts from; ``kind`` is "prompt" or "exemplar", ``text`` the prompt or the
    exemplar's name."""

    kind: str
    text: str
    embedding: torch.Tensor
    source: torch.Tensor

    def direction(self) -> torch.Tensor:
        return F.normalize(self.embedding - self.source, dim=0)

    def summary(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


def check_prompt(prompt: str) -> str:
    """The prompt, stripped; an empty or overlong one is refused with a clear line."""
    text = " ".join(prompt.split())
    if not text:
        raise BackendError("the prompt is empty; describe the look, e.g. 'a bronze statue'")
    if len(text) > MAX_PROMPT:
        raise BackendError(f"the prompt has {len(text)} characters; keep it under {MAX_PROMPT}")
    return text


def prompt_target(clip: Clip, prompt: str, neutral: str = NEUTRAL_PROMPT) -> ClipTarget:
    text = check_prompt(prompt)
    embeddings = clip.encode_text([text, neutral])
    return ClipTarget("prompt", text, embeddings[0], embeddings[1])


@torch.no_grad()
def exemplar_target(clip: Clip, name: str, image: np.ndarray, source: torch.Tensor) -> ClipTarget:
    """The exemplar image's embedding, starting from ``source`` (the unedited head's)."""
    return ClipTarget("exemplar", name, clip.encode_image(image), F.normalize(source, dim=0))


@dataclass(frozen=True)
class ClipLossSettings:
    """Random square crops of ``crop_scale`` of the short side, ``crops`` per step."""

    crops: int = 4
    crop_scale: tuple[float, float] = (0.6, 1.0)
    direction_weight: float = 1.0
    global_weight: float = 0.5


class ClipLoss:
    """The directional and global CLIP loss of an edited render against its unedited one."""

    def __init__(self, clip: Clip, target: ClipTarget, settings: ClipLossSettings, seed: int):
        self.clip, self.target, self.settings = clip, target, settings
        self.direction = target.direction().to(clip.device)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, image: torch.Tensor, original: torch.Tensor, augment: bool) -> torch.Tensor:
        """Loss of an edited render (H, W, 3) against the unedited one; ``augment`` draws
        random crops (training), else the whole render is seen (measurement)."""
        both = torch.stack([image, original]).permute(0, 3, 1, 2)
        views = self._crops(both) if augment else both[None]
        ours = self.clip.encode_images(views[:, 0])
        with torch.no_grad():
            theirs = self.clip.encode_images(views[:, 1])
        s = self.settings
        change = F.normalize(ours - theirs, dim=-1, eps=1e-8)
        directional = 1.0 - change @ self.direction
        global_ = 1.0 - ours @ self.target.embedding
        return (s.direction_weight * directional + s.global_weight * global_).mean()

    @torch.no_grad()
    def similarity(self, image: torch.Tensor) -> float:
        """Cosine similarity of a whole render (H, W, 3) to the target."""
        return float(self.clip.encode_image(image) @ self.target.embedding)

    def _crops(self, both: torch.Tensor) -> torch.Tensor:
        """(crops, 2, 3, S, S): the same random squares of both renders, at CLIP's size."""
        height, width = both.shape[-2:]
        low, high = self.settings.crop_scale
        out = []
        for _ in range(self.settings.crops):
            scale = low + (high - low) * float(torch.rand((), generator=self.generator))
            side = max(8, round(scale * min(height, width)))
            top = int(torch.randint(0, height - side + 1, (), generator=self.generator))
            left = int(torch.randint(0, width - side + 1, (), generator=self.generator))
            square = both[..., top : top + side, left : left + side]
            size = (self.clip.image_size, self.clip.image_size)
            out.append(F.interpolate(square, size=size, mode="bilinear", antialias=True))
        return torch.stack(out)
