"""Colour statistics of an image, and matching a texture's colours to them.

Kept as numbers (per-channel mean and deviation) rather than as an image, so that two
styles' colours can be mixed by interpolating their statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColourStats:
    """Per-channel mean and standard deviation of an RGB image in [0, 1]."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray) -> ColourStats:
        pixels = image.reshape(-1, 3).astype(np.float64)
        return cls(pixels.mean(0).astype(np.float32), pixels.std(0).astype(np.float32))

    def mix(self, other: ColourStats, t: float) -> ColourStats:
        """``t`` = 0 gives ``self``, 1 gives ``other``, exactly."""
        if t == 0.0:
            return self
        if t == 1.0:
            return other
        return ColourStats(
            ((1 - t) * self.mean + t * other.mean).astype(np.float32),
            ((1 - t) * self.std + t * other.std).astype(np.float32),
        )

    def to_list(self) -> list[float]:
        return [*map(float, self.mean), *map(float, self.std)]

    @classmethod
    def from_list(cls, values: list[float]) -> ColourStats:
        return cls(np.array(values[:3], np.float32), np.array(values[3:6], np.float32))


def transfer_colours(texture: np.ndarray, target: ColourStats) -> np.ndarray:
    """Match the texture's per-channel mean and deviation to ``target``'s."""
    own = ColourStats.of(texture)
    scaled = (texture - own.mean) / (own.std + 1e-6) * target.std + target.mean
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def colour_transfer(texture: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Match the texture's per-channel mean and deviation to the style image's."""
    return transfer_colours(texture, ColourStats.of(style))
