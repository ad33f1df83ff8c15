"""Fit a :class:`VoxelField` to a capture: hull, coarse-to-fine training, pruning."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from backend.captures import Capture
from backend.errors import CaptureError
from backend.nerf.background import Background
from backend.nerf.config import NerfConfig
from backend.nerf.field import VoxelField
from backend.nerf.grid import GridGeometry
from backend.nerf.hull import carve, hull_box
from backend.nerf.metrics import composite_white, psnr
from backend.nerf.model import NerfModel
from backend.nerf.rays import FramePixels
from backend.nerf.render import composite
from backend.nerf.resolution import fitted
from backend.nerf.sampler import Sampler

HULL_RESOLUTION = 96
# Steps between progress reports: often enough that a cancel stops within a second or two.
PROGRESS_EVERY = 10
BACKGROUND_LR = 0.05
# Captures without alpha start with the whole box as thin fog; until the first upsample
# the fog is pruned this many times as often, which keeps those steps from sampling the
# whole box (same held-out PSNR on the opaque sample capture, a third of the rows).
FOG_PRUNE_RATE = 4

Progress = Callable[[int, int, float], None]


def subject_bounds(capture: Capture) -> tuple[torch.Tensor, torch.Tensor]:
    """The visual hull's box (RGBA captures) or the whole unit box, normalized."""
    if capture.has_alpha:
        return hull_box(capture, HULL_RESOLUTION)
    return -torch.ones(3), torch.ones(3)


def initial_field(
    capture: Capture,
    config: NerfConfig,
    device: torch.device,
    bounds: tuple[torch.Tensor, torch.Tensor],
) -> VoxelField:
    """Occupancy within ``bounds`` (:func:`subject_bounds`): the visual hull (RGBA
    captures) or all of it."""
    low, high = bounds
    geometry = GridGeometry.covering(low, high, config.resolutions[0])
    if capture.has_alpha:
        occupied = carve(capture, geometry)
    else:
        occupied = torch.ones(geometry.dims, dtype=torch.bool)
    geometry = GridGeometry(geometry.low.to(device), geometry.voxel, geometry.dims)
    return VoxelField.from_occupancy(geometry, occupied.to(device), config.init_opacity)


def background_for(capture: Capture) -> Background:
    """Random colours behind an RGBA capture; shells beyond its cameras for photos."""
    if capture.has_alpha:
        return Background()
    centres = capture.box.to_normalized(np.stack([f.camera.center for f in capture.train]))
    return Background.for_cameras(np.linalg.norm(centres, axis=1))


class Trainer:
    """One training run; ``train`` may be called with a time budget and resumed."""

    def __init__(self, capture: Capture, config: NerfConfig, device: torch.device):
        torch.manual_seed(config.seed)
        bounds = subject_bounds(capture)
        config = fitted(config, capture, float((bounds[1] - bounds[0]).max()))
        self.capture, self.config, self.device = capture, config, device
        self.field = initial_field(capture, config, device, bounds)
        self.sampler = Sampler(config.step_ratio)
        self.sampler.refresh(self.field)
        self.background = background_for(capture).to(device)
        self.rays = self._useful_rays(FramePixels.of(capture.train, capture.box, device))
        if len(self.rays) == 0:
            raise CaptureError(
                f"{capture.root}: no training pixel shows the subject (every image's alpha is"
                " transparent where the cameras look): check the images' alpha channel"
            )
        self.optimizer = self._optimizer()
        self.step = 0
        self.seconds = 0.0

    def _useful_rays(self, pixels: FramePixels) -> FramePixels:
        """Drop rays that never meet occupied space: their loss is zero by construction."""
        if not self.capture.has_alpha:
            return pixels
        keep = []
        for start in range(0, len(pixels), 65536):
            chunk = pixels.take(torch.arange(start, min(start + 65536, len(pixels))))
            enter, leave = self.sampler.intervals(self.field, chunk.origins, chunk.dirs)
            keep.append(leave > enter)
        return pixels.keep(torch.cat(keep).nonzero()[:, 0])

    def _optimizer(self) -> torch.optim.Adam:
        groups = [{"params": [self.field.grid.table], "lr": self.config.lr}]
        if self.background.shells is not None:
            groups.append({"params": [self.background.shells], "lr": BACKGROUND_LR})
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15, fused=fused)

    def _learning_rate(self) -> float:
        progress = min(self.step / max(self.config.steps, 1), 1.0)
        return self.config.lr * (self.config.lr_final / self.config.lr) ** progress

    def _restructure(self) -> None:
        """Upsample or prune on schedule, carrying optimizer state across pruning."""
        config = self.config
        if self.step in config.upsample_at:
            level = config.upsample_at.index(self.step) + 1
            self.field.resample(config.resolutions[level], config.prune_opacity)
            self.optimizer = self._optimizer()
        elif self.step % self._prune_every() == 0 and self.step > 0:
            old_table, old_state = self.field.grid.table, self.optimizer.state
            kept = self.field.prune(config.prune_opacity)
            self.optimizer = self._optimizer()
            if old_table in old_state:
                state = old_state[old_table]
                self.optimizer.state[self.field.grid.table] = {
                    "step": state["step"],
                    "exp_avg": state["exp_avg"][kept],
                    "exp_avg_sq": state["exp_avg_sq"][kept],
                }
            shells = self.background.shells
            if shells is not None and shells in old_state:
                self.optimizer.state[shells] = old_state[shells]
        else:
            return
        self.sampler.refresh(self.field)

    def _prune_every(self) -> int:
        if self.background.learned and self.step <= self._fog_until():
            return max(1, self.config.prune_every // FOG_PRUNE_RATE)
        return self.config.prune_every

    def _distortion_weight(self) -> float:
        """None behind a learned background: the loss sees only the field's samples, so
        weight a ray leaves to the shells costs nothing and the loss rewards handing the
        head to them (on the opaque sample capture the skin vanished into the room, 23 dB
        on the head's pixels with it against 37 dB without; turned on after the first
        upsample it still took the back of the head: 22-29 dB)."""
        return 0.0 if self.background.learned else self.config.distortion

    def _fog_until(self) -> int:
        return (*self.config.upsample_at, self.config.steps)[0]

    def train_step(self) -> float:
        self._restructure()
        if self.step % self.config.refresh_every == 0:
            self.sampler.refresh(self.field)
        batch = self.rays.take(
            torch.randint(len(self.rays), (self.config.batch_rays,), device=self.device)
        )
        background = self.background(batch.origins, batch.dirs, training=True)
        samples = self.sampler.sample(self.field, batch.origins, batch.dirs, jitter=True)
        distortion = self._distortion_weight()
        out = composite(self.field, samples, background, distortion=distortion > 0)
        mse = torch.mean((out.rgb - self.background.target(batch.rgba, background)) ** 2)
        loss = mse if out.distortion is None else mse + distortion * out.distortion
        if self.config.tv > 0:
            loss = loss + self.config.tv * self.field.total_variation(self.config.tv_rows)
        for group in self.optimizer.param_groups[:1]:
            group["lr"] = self._learning_rate()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.field.grid.reset_empty_row()
        self.step += 1
        return float(mse.detach())

    def train(self, until_step: int | None = None, progress: Progress | None = None) -> None:
        """Train up to ``until_step`` (default: the configured steps) or the time budget."""
        end = min(until_step or self.config.steps, self.config.steps)
        bar = tqdm(
            total=end,
            initial=self.step,
            desc="nerf",
            unit="step",
            leave=False,
            disable=True if progress is not None else None,
        )
        while self.step < end:
            if self.config.seconds is not None and self.seconds >= self.config.seconds:
                break
            started = time.perf_counter()
            loss = self.train_step()
            self.seconds += time.perf_counter() - started
            bar.update(1)
            if self.step % PROGRESS_EVERY == 0 or self.step == end:
                psnr_train = -10.0 * math.log10(max(loss, 1e-10))
                bar.set_postfix(psnr=f"{psnr_train:.1f}", rows=self.field.grid.rows)
                if progress is not None:
                    progress(self.step, end, psnr_train)
        bar.close()

    def model(self) -> NerfModel:
        self.sampler.refresh(self.field)
        return NerfModel(self.field, self.sampler, self.background, self.capture.box)


def evaluate(model: NerfModel, capture: Capture) -> tuple[float, list[np.ndarray]]:
    """Mean held-out PSNR (over white for RGBA captures) and the rendered images."""
    images, scores = [], []
    for frame in capture.heldout:
        image = model.render(frame.camera)
        target = composite_white(frame.rgba) if capture.has_alpha else frame.rgba[..., :3]
        scores.append(psnr(image, target))
        images.append(image)
    return (float(np.mean(scores)) if scores else float("nan")), images
