"""Image quality metrics."""

from __future__ import annotations

import math

import numpy as np


def psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1]."""
    mse = float(np.mean((np.asarray(prediction, np.float64) - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0.0 else -10.0 * math.log10(mse)


def composite_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA (straight alpha) over white, as NeRF benchmarks evaluate RGBA captures."""
    alpha = rgba[..., 3:4]
    return rgba[..., :3] * alpha + (1.0 - alpha)
