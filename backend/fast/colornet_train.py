"""Train the colour net on the stage-2 results of several styles (stage 3).

Every stylized mesh shares the head's UV atlas, so "renders of each stylized mesh" are
the rasterized views of the head with each style's texture looked up: the views are
rasterized once (capture cameras plus random ones around them), and the colour of every
covered pixel under every style is the target. The head's own appearance joins as the
style "original", with a render of the head as its style image.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from backend.captures import Camera, Capture
from backend.fast.colornet import ColorNet, ColorNetConfig, StyleCode
from backend.fast.surface import SurfaceSamples, view_samples
from backend.mesh.textured import TexturedMesh
from backend.nerf.field import VoxelField
from backend.pretrained.networks import FeatureExtractor
from backend.style.colour import ColourStats, transfer_colours
from backend.style.encoder import crop_statistics, kl_to_standard_normal
from backend.views.cameras import random_views
from backend.views.render import MeshTensors, render

ORIGINAL = "original"


@dataclass(frozen=True)
class TrainingStyle:
    """A style image and its stage-2 texture on the head's atlas."""

    name: str
    image: np.ndarray
    texture: np.ndarray


@dataclass(frozen=True)
class TrainedColorNet:
    net: ColorNet
    codes: dict[str, StyleCode]
    seconds: float
    final_loss: float


def base_texture(original: np.ndarray, colours: ColourStats, colour_transfer: bool) -> np.ndarray:
    """What a style's texture starts from: the head's colours matched to the style's."""
    return transfer_colours(original, colours) if colour_transfer else original


def train_colornet(
    mesh: TexturedMesh,
    capture: Capture,
    field: VoxelField,
    styles: list[TrainingStyle],
    extractor: FeatureExtractor,
    rasterizer,
    config: ColorNetConfig,
    colour_transfer: bool,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainedColorNet:
    """Fit encoder and head together; ``progress(step, steps, loss)`` now and then."""
    started = time.perf_counter()
    device = field.grid.table.device
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    tensors = MeshTensors.of(mesh, device)
    styles = [_original_style(mesh, capture, rasterizer, tensors), *styles]
    samples = view_samples(rasterizer, tensors, _cameras(capture, config, rng), capture.box, field)
    colours = [ColourStats.of(s.image) for s in styles]
    targets = torch.stack(
        [
            _residual_targets(rasterizer, mesh, s.texture, c, samples, colour_transfer)
            for s, c in zip(styles, colours, strict=True)
        ]
    )
    statistics = torch.stack(
        [crop_statistics(extractor, s.image, config.crops, rng) for s in styles]
    )
    net = ColorNet(config, statistics.shape[-1]).to(device)
    net.encoder.fit_normalization(statistics.flatten(0, 1))
    loss = _fit(net, samples, targets, statistics, config, progress)
    codes = {s.name: net.code(statistics[i, 0], colours[i]) for i, s in enumerate(styles)}
    return TrainedColorNet(net.eval(), codes, time.perf_counter() - started, loss)


def _fit(net, samples: SurfaceSamples, targets, statistics, config, progress) -> float:
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    count, crops = statistics.shape[:2]
    device = targets.device
    loss_value = float("nan")
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        pixels = torch.randint(len(samples), (config.batch,), device=device)
        which = torch.randint(count, (config.batch,), device=device)
        chosen = statistics[torch.arange(count), torch.randint(crops, (count,))]
        mean, log_var = net.encoder(chosen)
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        batch = samples.take(pixels)
        predicted = net.head(batch.features, batch.points, batch.dirs, z[which])
        mse = F.mse_loss(predicted, targets[which, pixels])
        loss = mse + config.kl_weight * kl_to_standard_normal(mean, log_var)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = float(mse.detach())
        if progress is not None and ((step + 1) % 25 == 0 or step + 1 == config.steps):
            progress(step + 1, config.steps, loss_value)
    return loss_value


def _cameras(capture: Capture, config: ColorNetConfig, rng: np.random.Generator) -> list[Camera]:
    """Half the capture's own cameras (at the training size), half random ones near them."""
    own = [f.camera for f in capture.train[:: max(1, len(capture.train) // (config.views // 2))]]
    size = config.view_size
    resized = [
        Camera(
            c.intrinsics.resized(size, round(size * c.intrinsics.height / c.intrinsics.width)),
            c.c2w,
        )
        for c in own[: config.views // 2]
    ]
    return resized + random_views(capture, config.views - len(resized), size, rng)


def _residual_targets(rasterizer, mesh, texture, colours, samples, colour_transfer):
    """Per sample: the style's texture minus its colour-transferred base, at the UV."""
    base = base_texture(mesh.texture, colours, colour_transfer)
    residual = torch.tensor(texture - base, device=samples.uv.device)
    return rasterizer.texture(residual[None].contiguous(), samples.uv[None, None])[0, 0]


def _original_style(mesh, capture, rasterizer, tensors) -> TrainingStyle:
    """The head's own appearance as a style: its texture, and a render of it as image."""
    camera = (capture.heldout or capture.train)[0].camera
    texture = torch.tensor(mesh.texture, device=tensors.vertices.device)
    frame = render(rasterizer, tensors, texture, camera)
    rows, cols = frame.coverage.nonzero(as_tuple=True)
    image = frame.image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return TrainingStyle(ORIGINAL, image.cpu().numpy(), mesh.texture)
