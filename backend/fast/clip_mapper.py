"""A prompt or an exemplar to the colour net's style code in one pass (CLIP-NeRF's
appearance mapper), so that a CLIP edit through the colour net takes about a second.

A small network maps a CLIP embedding to a :class:`StyleCode` (z and the colour
statistics). Its teacher is the colour net's own style encoder: each style image the run
knows (the built-in styles and the user's) and random crops of it give pairs (CLIP's
image embedding of the crop, the code the encoder gives that crop), so the mapper learns
where the colour net would put an image that CLIP sees so. An exemplar then costs one
CLIP pass and one mapper pass. A prompt's text embedding does not live where image
embeddings do (CLIP's modality gap), so a prompt enters as the centre of the training
images' embeddings moved along the direction from a neutral prompt to the prompt, the
same direction the optimization route follows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from backend.errors import CheckpointError
from backend.fast.apply import StyleApplier
from backend.fast.colornet import StyleCode
from backend.fast.colornet_io import TENSORS as COLORNET_TENSORS
from backend.files import atomic_write, sha256_of, write_json
from backend.pretrained.clip import Clip
from backend.pretrained.networks import Provenance
from backend.style.clip_loss import NEUTRAL_PROMPT, check_prompt
from backend.style.colour import ColourStats
from backend.style.encoder import random_crop

FORMAT = "stylized-heads-clip-mapper"
VERSION = 2
TENSORS = "clip_mapper.safetensors"
META = "clip_mapper.json"
COLOURS = 6


@dataclass(frozen=True)
class MapperConfig:
    hidden: int = 128
    steps: int = 600
    lr: float = 3e-3
    weight_decay: float = 1e-4
    crops: int = 8
    seed: int = 0


class ClipMapper(nn.Module):
    """CLIP embedding (D,) -> z, colour mean and log deviation, in the encoder's units.

    Its input is centred on the training images' mean embedding and scaled by their
    spread: CLIP's unit embeddings of style images share a large common part, and the
    differences that tell styles apart are small beside it, too small for a few hundred
    steps to fit from raw embeddings.
    """

    def __init__(self, dim: int, z_dim: int, hidden: int):
        super().__init__()
        self.z_dim = z_dim
        out = z_dim + COLOURS
        self.register_buffer("target_mean", torch.zeros(out))
        self.register_buffer("target_std", torch.ones(out))
        self.register_buffer("image_centre", torch.zeros(dim))
        self.register_buffer("image_spread", torch.ones(()))
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out),
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        inputs = (embeddings - self.image_centre) / self.image_spread
        return self.net(inputs) * self.target_std + self.target_mean

    @torch.no_grad()
    def code(self, embedding: torch.Tensor) -> StyleCode:
        out = self(embedding[None])[0].cpu()
        z, mean, log_std = out[: self.z_dim], out[self.z_dim : -3], out[-3:]
        colours = ColourStats(
            mean.clamp(0, 1).numpy().astype(np.float32),
            log_std.exp().clamp(1e-3, 0.5).numpy().astype(np.float32),
        )
        return StyleCode(z.to(embedding.device), colours)

    def prompt_input(self, prompt: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        """Where a prompt enters: the image centre moved from the neutral prompt's way."""
        return F.normalize(self.image_centre + (prompt - neutral), dim=-1)


@dataclass(frozen=True)
class MapperPairs:
    """Training pairs: CLIP embeddings (N, D) and the encoder's targets (N, z + 6)."""

    embeddings: torch.Tensor
    targets: torch.Tensor
    names: list[str]


@torch.no_grad()
def mapper_pairs(
    clip: Clip, applier: StyleApplier, images: dict[str, np.ndarray], crops: int, seed: int
) -> MapperPairs:
    """The whole of each style image and ``crops`` random crops of it (50-90% side)."""
    rng = np.random.default_rng(seed)
    embeddings, targets, names = [], [], []
    for name, image in images.items():
        for part in [image, *(random_crop(image, rng) for _ in range(crops))]:
            embeddings.append(clip.encode_image(part).cpu())
            code = applier.code(part)
            colours = torch.tensor(
                [*code.colours.mean, *np.log(np.maximum(code.colours.std, 1e-3))]
            )
            targets.append(torch.cat([code.z.cpu(), colours.float()]))
            names.append(name)
    return MapperPairs(torch.stack(embeddings), torch.stack(targets), names)


def train_mapper(pairs: MapperPairs, z_dim: int, config: MapperConfig) -> ClipMapper:
    """Fit the mapper to the pairs (full batch; a few hundred pairs take seconds)."""
    torch.manual_seed(config.seed)
    mapper = ClipMapper(pairs.embeddings.shape[1], z_dim, config.hidden)
    mapper.target_mean.copy_(pairs.targets.mean(0))
    mapper.target_std.copy_(pairs.targets.std(0).clamp(min=1e-3))
    mapper.image_centre.copy_(pairs.embeddings.mean(0))
    centred = pairs.embeddings - mapper.image_centre
    mapper.image_spread.copy_(centred.pow(2).sum(1).mean().sqrt().clamp(min=1e-6))
    inputs = centred / mapper.image_spread
    optimizer = torch.optim.AdamW(
        mapper.net.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    standardized = (pairs.targets - mapper.target_mean) / mapper.target_std
    for _ in range(config.steps):
        loss = (mapper.net(inputs) - standardized).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return mapper.eval()


@dataclass(frozen=True)
class MappedCode:
    """A code from the mapper and how long CLIP and the mapper took for it."""

    code: StyleCode
    seconds: float


def prompt_code(mapper: ClipMapper, clip: Clip, prompt: str) -> MappedCode:
    started = time.perf_counter()
    text, neutral = clip.encode_text([check_prompt(prompt), NEUTRAL_PROMPT]).cpu()
    code = mapper.code(mapper.prompt_input(text, neutral))
    return MappedCode(code, time.perf_counter() - started)


@torch.no_grad()
def exemplar_code(mapper: ClipMapper, clip: Clip, image: np.ndarray) -> MappedCode:
    started = time.perf_counter()
    embedding = clip.encode_image(image).cpu()
    return MappedCode(mapper.code(embedding), time.perf_counter() - started)


def save_mapper(mapper: ClipMapper, folder: Path, clip: Provenance, styles: list[str]) -> None:
    """Write the tensors, then the JSON (its presence marks both whole)."""
    state = {k: v.detach().cpu().contiguous() for k, v in mapper.state_dict().items()}
    atomic_write(folder / TENSORS, lambda tmp: save_file(state, str(tmp)))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "dim": int(mapper.image_centre.shape[0]),
        "z_dim": mapper.z_dim,
        "hidden": int(mapper.net[0].out_features),
        "clip": clip.to_dict(),
        "colornet_sha256": sha256_of(folder / COLORNET_TENSORS),
        "styles": sorted(set(styles)),
    }
    write_json(folder / META, meta)


def load_mapper(folder: Path, clip: Provenance) -> ClipMapper | None:
    """The run's mapper, or None when it has none, or one made with other CLIP weights
    (its embeddings would mean something else), for another colour net (its codes
    would) or by an older version (its input means something else): the caller trains
    a new one, which takes seconds."""
    path = folder / META
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT or not isinstance(meta.get("version"), int):
            raise ValueError(f"not a {FORMAT} file")
        if meta["version"] < VERSION:
            return None
        if meta["version"] > VERSION:
            raise ValueError(f"version {meta['version']} is newer than this backend's")
        if Provenance(**meta["clip"]).weights != clip.weights:
            return None
        if meta["colornet_sha256"] != sha256_of(folder / COLORNET_TENSORS):
            return None
        mapper = ClipMapper(int(meta["dim"]), int(meta["z_dim"]), int(meta["hidden"]))
        mapper.load_state_dict(load_file(str(folder / TENSORS)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise CheckpointError(f"{folder}: cannot load the CLIP mapper ({exc})") from exc
    return mapper.eval()
