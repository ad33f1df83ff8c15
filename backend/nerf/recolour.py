"""Retrain a trained field's colour on other images of the same views, density frozen.

The NeRF-on-2D baseline trains the stage-1 field's colour on 2D-stylized captures: the
geometry the capture gave stays, only what each point looks like changes. Density is
held by zeroing its channel's gradient (Adam then never moves it: both moments stay
zero), and the sampler's occupancy, which depends on density alone, is shared with the
original model. A learned background keeps its shells.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from backend.captures import Frame
from backend.nerf.model import NerfModel
from backend.nerf.rays import FramePixels
from backend.nerf.render import composite
from backend.nerf.trainer import Progress


@dataclass(frozen=True)
class RecolourConfig:
    """Steps, rays per step and Adam's learning rate for the colour channels."""

    steps: int = 300
    batch_rays: int = 4096
    lr: float = 0.05
    seed: int = 0


def recolour(
    model: NerfModel, frames: list[Frame], config: RecolourConfig, progress: Progress | None = None
) -> NerfModel:
    """A copy of ``model`` whose colour was trained on ``frames`` (the capture's cameras
    with other images); ``model`` itself is left as it was."""
    field = copy.deepcopy(model.field)
    table = field.grid.table
    device = table.device
    generator = torch.Generator(device=device).manual_seed(config.seed)
    pixels = FramePixels.of(frames, model.capture_box, device)
    optimizer = torch.optim.Adam([table], lr=config.lr, betas=(0.9, 0.99), eps=1e-15)
    background = model.background
    for step in range(config.steps):
        batch = pixels.take(
            torch.randint(len(pixels), (config.batch_rays,), device=device, generator=generator)
        )
        behind = background(batch.origins, batch.dirs, training=True).detach()
        samples = model.sampler.sample(field, batch.origins, batch.dirs, jitter=True)
        out = composite(field, samples, behind)
        mse = torch.mean((out.rgb - background.target(batch.rgba, behind)) ** 2)
        optimizer.zero_grad(set_to_none=True)
        mse.backward()
        table.grad[:, 0] = 0.0
        optimizer.step()
        field.grid.reset_empty_row()
        if progress is not None:
            progress(step + 1, config.steps, float(mse.detach()))
    return NerfModel(field, model.sampler, background, model.capture_box)
