"""Make the marching-cubes output a clean, consistently oriented mesh."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from backend.errors import BackendError

MIN_COMPONENT_FRACTION = 0.01
REPAIR_ROUNDS = 3


def clean_mesh(mesh: trimesh.Trimesh, face_budget: int | None = None) -> trimesh.Trimesh:
    """Merge vertices, drop floaters (components under 1% of the faces), orient normals
    outward, and optionally decimate to at most ``face_budget`` faces.

    Floaters are dropped again after decimation: collapsing edges pinches off slivers of
    a few faces (39 pieces on the sample head's 20k mesh), each a speck in the atlas.
    Where it pinches two sheets together or folds a pair of faces back to back (a
    poor capture's 4k-face head had 3 such flaps and a pinched edge), the faces there
    go and the holes they leave are filled, so the head stays closed."""
    mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    if len(mesh.faces) == 0:
        raise BackendError("the NeRF produced no surface: is the capture's subject in view?")
    mesh = _drop_floaters(mesh)
    if face_budget is not None and len(mesh.faces) > face_budget:
        mesh = _repaired(_drop_floaters(mesh.simplify_quadric_decimation(face_count=face_budget)))
    trimesh.repair.fix_normals(mesh, multibody=True)
    if mesh.is_watertight and mesh.volume < 0:
        mesh.invert()
    mesh.remove_unreferenced_vertices()
    return mesh


def _drop_floaters(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The mesh without its components under ``MIN_COMPONENT_FRACTION`` of the faces; the
    largest is kept whatever its share, for fog that shatters into many small pieces."""
    parts = sorted(mesh.split(only_watertight=False), key=lambda p: len(p.faces), reverse=True)
    total = sum(len(p.faces) for p in parts)
    kept = parts[:1] + [p for p in parts[1:] if len(p.faces) >= MIN_COMPONENT_FRACTION * total]
    return trimesh.util.concatenate(kept) if len(kept) > 1 else kept[0]


def _repaired(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """``mesh`` without back-to-back face pairs and the faces around edges that more than
    two faces share, its holes filled by fans; as it was if it is already closed."""
    for _ in range(REPAIR_ROUNDS):
        if mesh.is_watertight:
            break
        faces = _without_duplicate_faces(mesh.faces)
        edges, counts = np.unique(_sorted_edges(faces), axis=0, return_counts=True)
        pinched = np.unique(edges[counts > 2])
        faces = faces[~np.isin(faces, pinched).any(axis=1)]
        mesh = _drop_floaters(trimesh.Trimesh(mesh.vertices, faces))
        trimesh.repair.fill_holes(mesh, use_fan=True)
    return mesh


def _without_duplicate_faces(faces: np.ndarray) -> np.ndarray:
    """Faces whose three vertices no other face uses (a flap is two faces on the same
    three vertices, back to back)."""
    _, index, counts = np.unique(
        np.sort(faces, axis=1), axis=0, return_inverse=True, return_counts=True
    )
    return faces[counts[index.ravel()] == 1]


def _sorted_edges(faces: np.ndarray) -> np.ndarray:
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.sort(edges, axis=1)


def chamfer_distance(a: trimesh.Trimesh, b: trimesh.Trimesh, samples: int = 50_000) -> float:
    """Symmetric Chamfer distance: mean of the two mean nearest-surface-point distances."""
    rng = np.random.default_rng(0)
    points_a = a.sample(samples, seed=int(rng.integers(1 << 31)))
    points_b = b.sample(samples, seed=int(rng.integers(1 << 31)))
    a_to_b = cKDTree(points_b).query(points_a, workers=-1)[0].mean()
    b_to_a = cKDTree(points_a).query(points_b, workers=-1)[0].mean()
    return float((a_to_b + b_to_a) / 2.0)
