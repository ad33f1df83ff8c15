"""The grid's resolution for a capture: fine enough for the size of its pixels.

A voxel that spans several pixels blurs every outline and texture the views show. The
configured resolutions suit the sample capture (its finest voxel spans 0.82 of a pixel's
footprint at the head); a capture whose pixels are smaller at the subject (a tighter
framing, larger images) gets proportionally more vertices, up to ``NerfConfig.max_refine``
times as many, and coarser captures keep the configured resolutions.

Captures without alpha keep the configured resolutions too. There the finer grid lost,
at the preset's steps: on the 48 photos of the sample head in its room (512 px, cameras
from COLMAP) 128 vertices gave 28.0 dB held-out in 170 s, 205 gave 26.5 dB in 314 s and
256 gave 25.6 dB in 454 s. With alpha it won: on the tightly framed sample head, 33.6 dB
at 128 vertices against 34.5 dB at 166 (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from backend.captures import Capture
from backend.nerf.config import NerfConfig


def pixel_footprint(capture: Capture) -> float:
    """The median training pixel's width at the scene box's centre, in normalized units."""
    widths = [
        np.linalg.norm(frame.camera.center - capture.box.center) / frame.camera.intrinsics.fx
        for frame in capture.train
    ]
    return float(np.median(widths)) / capture.box.scale


def refinement(config: NerfConfig, capture: Capture, extent: float) -> float:
    """How many times the configured resolutions the grid needs over a box whose longest
    side is ``extent``: 1 where the finest voxel already spans at most
    ``config.voxel_footprints`` pixels, and for a capture without alpha."""
    if config.voxel_footprints is None or not capture.has_alpha:
        return 1.0
    finest = extent / (config.resolutions[-1] - 1)
    wanted = config.voxel_footprints * pixel_footprint(capture)
    return float(np.clip(finest / wanted, 1.0, config.max_refine))


def fitted(config: NerfConfig, capture: Capture, extent: float) -> NerfConfig:
    """``config`` with its resolutions scaled by :func:`refinement`."""
    factor = refinement(config, capture, extent)
    if factor == 1.0:
        return config
    return replace(config, resolutions=tuple(round(r * factor) for r in config.resolutions))
