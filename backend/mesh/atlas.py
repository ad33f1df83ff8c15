"""UV atlas with xatlas: every vertex gets a texture coordinate, seams split vertices."""

from __future__ import annotations

import numpy as np
import trimesh
import xatlas

ATLAS_PADDING = 8
MAX_MIP_LEVEL = 3  # 2**3 texels: a lookup at this level stays within the padding


def uv_atlas(mesh: trimesh.Trimesh, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, faces, uvs) with charts packed for a ``resolution``-texel texture."""
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution = resolution
    pack.padding = ATLAS_PADDING
    pack.bilinear = True
    atlas.generate(pack_options=pack)
    mapping, faces, uvs = atlas[0]
    return mesh.vertices[mapping], faces.astype(np.int64), uvs.astype(np.float32)
