"""Per-face and per-vertex quantities of a triangle mesh given as arrays."""

from __future__ import annotations

import numpy as np


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    corners = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return 0.5 * np.linalg.norm(cross, axis=1)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted smooth normals of unit length; a vertex on no face of positive area
    gets +Y (glTF requires unit normals)."""
    corners = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros((len(vertices), 3))
    for k in range(3):
        np.add.at(normals, np.asarray(faces[:, k], np.int64), face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    unit = np.divide(normals, length, out=np.zeros_like(normals), where=length > 1e-20)
    unit[length[:, 0] <= 1e-20] = (0.0, 1.0, 0.0)
    return unit.astype(np.float32)


def welded(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shared positions (P, 3), the faces over them, and each vertex's position
    index: a UV atlas splits vertices along its seams, which cuts the surface's
    neighbourhoods there."""
    rounded = np.round(np.asarray(vertices, np.float64), 9)
    points, inverse = np.unique(rounded, axis=0, return_inverse=True)
    position = inverse.reshape(-1)
    return points, position[np.asarray(faces, np.int64)], position
