"""One view of a capture: its camera and its image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.captures.cameras import Camera
from backend.captures.images import downscale


@dataclass(frozen=True)
class Frame:
    """One view: its camera and its image (straight alpha, (H, W, 4) float32)."""

    name: str
    camera: Camera
    rgba: np.ndarray

    @property
    def height(self) -> int:
        return self.rgba.shape[0]

    @property
    def width(self) -> int:
        return self.rgba.shape[1]

    def downscaled(self, max_side: int) -> Frame:
        """The frame with its long side at most ``max_side`` pixels, intrinsics following."""
        if max(self.width, self.height) <= max_side:
            return self
        factor = max_side / max(self.width, self.height)
        size = (max(1, round(self.width * factor)), max(1, round(self.height * factor)))
        camera = Camera(self.camera.intrinsics.resized(*size), self.camera.c2w)
        return Frame(self.name, camera, downscale(self.rgba, *size))
