"""How thick the solid behind each face is: the measure of sheets, fins and flaps.

A sheet of surface is two faces of the mesh closer than the solid they should enclose;
a head has none thinner than a few voxels (ears are the thinnest part: 6-8 field voxels
on the sample head and Suzanne). Each face casts a ray from its centre into the solid
(against its outward normal) and finds the first face it meets; only faces within
``limit`` of the centre are tried, so the cost grows with the mesh, not its square.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

# Rays start this far (relative to ``limit``) inside their own face, so that they do not
# meet it, nor its neighbours where the surface bends.
START_OFFSET = 1e-3


@dataclass(frozen=True)
class Sheets:
    """Faces whose solid is thinner than ``limit``, as connected patches."""

    limit: float
    thin_area_fraction: float
    largest_patch_area: float
    patches: int

    def summary(self) -> dict[str, float | int]:
        return {
            "limit": round(self.limit, 6),
            "thin_area_fraction": round(self.thin_area_fraction, 5),
            "largest_patch_area": round(self.largest_patch_area, 8),
            "patches": self.patches,
        }


def inward_thickness(mesh: trimesh.Trimesh, limit: float) -> np.ndarray:
    """Per face: distance from its centre, against its normal, to the next face; ``inf``
    where none is nearer than ``limit``. Normals must point out of the solid."""
    triangles = mesh.triangles
    centres = triangles.mean(axis=1)
    directions = -mesh.face_normals
    origins = centres + directions * (START_OFFSET * limit)
    reach = limit + np.linalg.norm(triangles - centres[:, None], axis=2).max()
    pairs = cKDTree(centres).query_ball_point(origins, r=reach, return_sorted=False)
    rays = np.repeat(np.arange(len(pairs)), [len(p) for p in pairs])
    hits = np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs])
    keep = rays != hits
    rays, hits = rays[keep], hits[keep]
    distance = _ray_triangle(origins[rays], directions[rays], triangles[hits])
    thickness = np.full(len(triangles), np.inf)
    near = distance < limit
    np.minimum.at(thickness, rays[near], distance[near] + START_OFFSET * limit)
    return thickness


def thin_sheets(mesh: trimesh.Trimesh, limit: float) -> Sheets:
    """The faces thinner than ``limit`` grouped into edge-connected patches."""
    thin = inward_thickness(mesh, limit) < limit
    areas = mesh.area_faces
    total = float(areas.sum())
    if not thin.any():
        return Sheets(limit, 0.0, 0.0, 0)
    pairs = mesh.face_adjacency
    pairs = pairs[thin[pairs].all(axis=1)]
    graph = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(areas), len(areas))
    )
    _, labels = connected_components(graph, directed=False)
    patch_areas = np.bincount(labels[thin], weights=areas[thin])
    patch_areas = patch_areas[patch_areas > 0]
    return Sheets(
        limit, float(areas[thin].sum()) / total, float(patch_areas.max()), len(patch_areas)
    )


def _ray_triangle(origins: np.ndarray, directions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Distance along each ray to its triangle (Moller-Trumbore), ``inf`` on a miss or
    behind the origin."""
    edge1 = triangles[:, 1] - triangles[:, 0]
    edge2 = triangles[:, 2] - triangles[:, 0]
    p = np.cross(directions, edge2)
    det = np.einsum("ij,ij->i", edge1, p)
    ok = np.abs(det) > 1e-18
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = origins - triangles[:, 0]
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, edge1)
    v = np.einsum("ij,ij->i", directions, q) * inv
    t = np.einsum("ij,ij->i", edge2, q) * inv
    hit = ok & (u >= 0.0) & (v >= 0.0) & (u + v <= 1.0) & (t > 0.0)
    return np.where(hit, t, np.inf)
