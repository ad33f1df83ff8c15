"""The alternation of StylizedNeRF's mutual learning.

Two phases, repeated for ``rounds``:

1. **Mimic** (the NeRF learns from the 2D stylizer): the style module and the latent
   codes are trained so that the NeRF, rendering view j of style s with code l[s, j],
   reproduces the stylizer's image of that view; the codes' regularizer keeps each
   style's codes together (codes.py).
2. **Consistency** (the 2D stylizer learns from the NeRF): the stylizer's transformer
   (a copy, fine-tuned) is trained so that its image of a view matches the NeRF's render
   of that view under the style's mean code, while a second term keeps it near the
   pretrained network's own result, so that it keeps the style instead of copying the
   NeRF's blur.

After each round the stylizer's images are made again, so the next mimic phase learns
from a stylizer that already agrees better across views.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from backend.captures import Capture
from backend.methods.base import Progress
from backend.methods.mutual.codes import LatentCodes
from backend.methods.mutual.style_field import CodedField, StyleModule
from backend.methods.views2d import training_contents, with_images
from backend.nerf.model import NerfModel
from backend.nerf.rays import FramePixels, camera_rays
from backend.nerf.render import composite, render_rays
from backend.style.stylizer2d import Stylizer2D, stylize_images


@dataclass(frozen=True)
class MutualConfig:
    """Rounds of the alternation, steps of each phase and their learning rates."""

    rounds: int = 4
    mimic_steps: int = 100
    consistency_steps: int = 8
    batch_rays: int = 2048
    lr: float = 5e-3
    stylizer_lr: float = 1e-4
    code_dim: int = 16
    code_weight: float = 1e-3
    keep_weight: float = 1.0
    seed: int = 0


class MutualLearner:
    """Mutual learning of one field and one 2D stylizer on a capture, for S styles."""

    def __init__(
        self,
        model: NerfModel,
        capture: Capture,
        network: Stylizer2D,
        styles: list[np.ndarray],
        config: MutualConfig,
    ):
        torch.manual_seed(config.seed)
        self.model, self.capture, self.config = model, capture, config
        self.device = device = model.field.grid.table.device
        self.photos, self.masks = training_contents(capture, device)
        self.vectors = torch.cat([network.style_vector(s) for s in styles]).to(device)
        self.transformer = copy.deepcopy(network.transformer).to(device).train()
        self.module = StyleModule(config.code_dim).to(device)
        self.codes = LatentCodes(self.vectors, len(capture.train), config.code_dim).to(device)
        self.optimizer = torch.optim.Adam(
            [*self.module.parameters(), *self.codes.parameters()], lr=config.lr
        )
        self.stylizer_optimizer = torch.optim.Adam(
            self.transformer.parameters(), lr=config.stylizer_lr
        )
        self.pretrained = self.stylized_views(network.transformer)
        self.refresh()

    @property
    def styles(self) -> int:
        return len(self.vectors)

    @torch.no_grad()
    def stylized_views(self, transformer) -> torch.Tensor:
        """Every (style, view) image of ``transformer`` (S, V, H, W, 3)."""
        return torch.stack(
            [
                torch.cat(
                    [
                        stylize_images(transformer, p[None], self.vectors[s : s + 1], m[None])
                        for p, m in zip(self.photos, self.masks, strict=True)
                    ]
                )
                for s in range(self.styles)
            ]
        )

    def refresh(self) -> None:
        """The stylizer's current images become the mimic phase's targets."""
        self.targets = self.stylized_views(self.transformer)
        images = self.targets.cpu().numpy()
        frames = [f for style in images for f in with_images(self.capture.train, style)]
        pixels = FramePixels.of(frames, self.model.capture_box, self.device)
        if self.capture.has_alpha:
            # Rays past the subject meet no density: the style module learns nothing there.
            pixels = pixels.keep((pixels.rgba[pixels.ids.long(), 3] > 0).nonzero()[:, 0])
        self.pixels = pixels

    def mimic_step(self) -> float:
        """One step of the NeRF's style module and codes towards the stylizer's images."""
        index = torch.randint(len(self.pixels), (self.config.batch_rays,), device=self.device)
        rays = self.pixels.take(index)
        codes = self.codes.codes.flatten(0, 1)[self.pixels.frame_of(index)]
        samples = self.model.sampler.sample(self.model.field, rays.origins, rays.dirs, jitter=True)
        field = CodedField(self.model.field, self.module, codes[samples.ray])
        background = self.model.background(rays.origins, rays.dirs, training=True).detach()
        out = composite(field, samples, background)
        target = self.model.background.target(rays.rgba, background)
        mse = torch.mean((out.rgb - target) ** 2)
        loss = mse + self.config.code_weight * self.codes.regularizer()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(mse.detach())

    def consistency_step(self, style: int, view: int) -> float:
        """One step of the stylizer towards the NeRF's render of a view."""
        render = self.render_view(style, view, self.codes.mean_code(style).detach())
        mask = self.masks[view][..., None]
        out = stylize_images(
            self.transformer,
            self.photos[view][None],
            self.vectors[style : style + 1],
            self.masks[view][None],
        )[0]
        agree = torch.mean(((out - render) * mask) ** 2)
        keep = torch.mean(((out - self.pretrained[style, view]) * mask) ** 2)
        loss = agree + self.config.keep_weight * keep
        self.stylizer_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.stylizer_optimizer.step()
        return float(agree.detach())

    @torch.no_grad()
    def render_view(self, style: int, view: int, code: torch.Tensor) -> torch.Tensor:
        """The NeRF's image (H, W, 3) of a training view under one code."""
        frame = self.capture.train[view]
        rays = camera_rays(frame.camera, self.model.capture_box, self.device)
        background = self.model.background(rays.origins, rays.dirs, training=False)
        field = CodedField(self.model.field, self.module, code)
        out = render_rays(field, self.model.sampler, rays.origins, rays.dirs, background)
        return out.rgb.clamp(0, 1).view(frame.height, frame.width, 3)

    def learn(self, progress: Progress | None = None) -> list[dict[str, float]]:
        """Every round's mean mimic and consistency losses."""
        config, history = self.config, []
        generator = np.random.default_rng(config.seed)
        total = config.rounds * (config.mimic_steps + config.consistency_steps)
        done = 0
        for _ in range(config.rounds):
            mimic = [self.mimic_step() for _ in range(config.mimic_steps)]
            done += config.mimic_steps
            if progress is not None:
                progress(done, total, float(np.mean(mimic)))
            agree = []
            for _ in range(config.consistency_steps):
                style = int(generator.integers(self.styles))
                view = int(generator.integers(len(self.photos)))
                agree.append(self.consistency_step(style, view))
            done += config.consistency_steps
            self.refresh()
            history.append({"mimic": float(np.mean(mimic)), "consistency": float(np.mean(agree))})
        return history

    def result(self, style: int) -> NerfModel:
        """The stylized NeRF of one style: its mean code, the part every view agrees on."""
        code = self.codes.mean_code(style).detach()
        field = CodedField(self.model.field, self.module, code)
        return NerfModel(field, self.model.sampler, self.model.background, self.model.capture_box)
