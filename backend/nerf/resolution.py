"""The grid's resolution for a capture: fine enough for the size of its pixels.

A voxel that spans several pixels blurs every outline and texture the views show. The
configured resolutions suit the sample capture (its finest voxel spans 0.82 of a pixel's
footprint at the head); a capture whose pixels are smaller at the subject (a tighter
framing, larger images) gets proportionally more vertices, up to ``NerfConfig.max_refine``
times as many, and coarser captures keep the configured resolutions.
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
    ``config.voxel_footprints`` pixels."""
    if config.voxel_footprints is None:
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
