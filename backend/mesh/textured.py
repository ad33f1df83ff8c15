"""The textured mesh that stage 2 produces and the later stages consume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TexturedMesh:
    """Vertices in the capture's own coordinates, UVs in [0, 1] (glTF orientation:
    v = 0 is the texture's first row), texture (H, W, 3) float32 in [0, 1]."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    texture: np.ndarray

    def with_texture(self, texture: np.ndarray) -> TexturedMesh:
        return TexturedMesh(self.vertices, self.faces, self.uvs, texture)
