"""From a calibrated camera to the clip space both rasterizer backends take."""

from __future__ import annotations

import numpy as np

from backend.captures import Camera

NEAR, FAR = 0.01, 100.0


def clip_matrix(camera: Camera) -> np.ndarray:
    """World -> clip (4x4) for nvdiffrast conventions; raster row 0 is the image bottom.
    Lens distortion is left out: rasterized views are pinhole views."""
    k = camera.intrinsics
    n, f = NEAR, FAR
    projection = np.array(
        [
            [2 * k.fx / k.width, 0.0, 1.0 - 2 * k.cx / k.width, 0.0],
            [0.0, 2 * k.fy / k.height, 2 * k.cy / k.height - 1.0, 0.0],
            [0.0, 0.0, -(f + n) / (f - n), -2 * f * n / (f - n)],
            [0.0, 0.0, -1.0, 0.0],
        ]
    )
    return projection @ np.linalg.inv(camera.c2w)
