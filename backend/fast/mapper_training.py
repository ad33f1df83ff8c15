"""The run's CLIP mapper: loaded when the run has one for these CLIP weights, else trained
on the built-in styles (but the held-out one, on which it is measured) and the user's,
then saved; and a prompt's or an exemplar's code through it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backend.fast.apply import StyleApplier
from backend.fast.clip_mapper import (
    ClipMapper,
    MappedCode,
    MapperConfig,
    exemplar_code,
    load_mapper,
    mapper_pairs,
    prompt_code,
    save_mapper,
    train_mapper,
)
from backend.fast.styles import HELDOUT_STYLE
from backend.pretrained.clip import Clip
from backend.style.builtin import BUILTIN_STYLES


@dataclass(frozen=True)
class MapperRun:
    """A run's mapper and, when it was trained now, how well it learned."""

    mapper: ClipMapper
    summary: dict[str, object]


def run_mapper(
    run_dir: Path,
    applier: StyleApplier,
    clip: Clip,
    user_images: dict[str, np.ndarray],
    config: MapperConfig | None = None,
) -> MapperRun:
    """The run's mapper for these CLIP weights: loaded, or trained on the built-in styles
    (but the held-out one, on which it is measured) and the user's, then saved."""
    loaded = load_mapper(run_dir, clip.provenance)
    if loaded is not None:
        return MapperRun(loaded, {"trained": False})
    config = config or MapperConfig()
    started = time.perf_counter()
    images = {n: BUILTIN_STYLES[n]() for n in BUILTIN_STYLES if n != HELDOUT_STYLE}
    images.update({f"user_{n}": image for n, image in user_images.items()})
    pairs = mapper_pairs(clip, applier, images, config.crops, config.seed)
    z_dim = applier.saved.net.config.z_dim
    mapper = train_mapper(pairs, z_dim, config)
    save_mapper(mapper, run_dir, clip.provenance, pairs.names)
    summary = {
        "trained": True,
        "seconds": round(time.perf_counter() - started, 2),
        "pairs": len(pairs.names),
        "styles": len(images),
        "heldout_relative_error": round(
            _relative_error(mapper, clip, applier, BUILTIN_STYLES[HELDOUT_STYLE](), pairs), 4
        ),
    }
    return MapperRun(mapper, summary)


def mapped_code(
    mapper: ClipMapper, clip: Clip, prompt: str | None, exemplar: np.ndarray | None
) -> MappedCode:
    """The code of a prompt, else of an exemplar image, through the mapper."""
    if prompt is not None:
        return prompt_code(mapper, clip, prompt)
    assert exemplar is not None
    return exemplar_code(mapper, clip, exemplar)


def _relative_error(mapper, clip, applier, image, pairs) -> float:
    """|mapper z - encoder z| of an image, relative to the training codes' spread."""
    target = applier.code(image).z.cpu()
    with torch.no_grad():
        embedding = clip.encode_image(image).cpu()
    z = mapper.code(embedding).z.cpu()
    codes = pairs.targets[:, : mapper.z_dim]
    spread = (codes - codes.mean(0)).norm(dim=-1).mean().clamp(min=1e-6)
    return float((z - target).norm() / spread)
