"""Which parts of the mesh the capture's cameras saw, and colour where none did.

The field holds whatever training left in space no camera looked at: behind the ears,
under the chin, the back of the head of a front-only capture. Baking it there paints a
grey sheet or noise onto the head. So the mesh stage finds the surface that some
training camera saw and continues the seen colours smoothly over the rest.

A vertex counts as seen from a camera when it projects inside the frame, faces the
camera (within 75 degrees), and is not hidden: its depth is within a tolerance of the
depth the rasterized mesh shows at its pixel. Testing vertices rather than rasterized
faces stays right at capture resolution, where most faces of a 20k-face head are
smaller than a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from scipy.sparse import linalg as splinalg

from backend.captures import Camera
from backend.mesh.geometry import face_areas, vertex_normals, welded
from backend.raster import TorchRasterizer
from backend.raster.projection import clip_matrix

# A surface seen only at a grazing angle (over 75 degrees from its normal) gets a few
# smeared pixels in a view, not a colour to trust.
MIN_COSINE = 0.25
# A weak pull towards the seen surface's mean colour, so that a part of the mesh with no
# seen vertex still gets a colour (and the system stays solvable).
ANCHOR = 1e-8
# Cameras beyond this many add little: neighbours in a capture see nearly the same
# surface. The most different directions are kept, and the stage stays within seconds.
MAX_CAMERAS = 24
# Depth slack, as a fraction of the mesh's bounding-box diagonal (about 4 mm on a head):
# more than a face's depth change across a pixel, less than a nose or an ear.
DEPTH_TOLERANCE = 0.01


@dataclass(frozen=True)
class Visibility:
    """Per-vertex flags and the share of the surface area that a camera saw."""

    seen: np.ndarray
    seen_fraction: float


def visible_vertices(vertices: np.ndarray, faces: np.ndarray, cameras: list[Camera]) -> Visibility:
    """Which vertices any of ``cameras`` saw, and the seen share of the surface area
    (faces with all three vertices seen). Normals come from the welded surface, so a
    vertex on an atlas seam faces where its whole neighbourhood faces."""
    points, welded_faces, position = welded(vertices, faces)
    normals = vertex_normals(points, welded_faces)[position]
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    seen = np.zeros(len(vertices), dtype=bool)
    for camera in spread_out(cameras, vertices.mean(axis=0), MAX_CAMERAS):
        seen |= _seen_from(camera, clip_matrix(camera), vertices, faces, normals, diagonal)
    area = face_areas(vertices, faces)
    face_seen = seen[faces].all(axis=1)
    fraction = float(area[face_seen].sum() / max(area.sum(), 1e-20))
    return Visibility(seen, fraction)


def spread_out(cameras: list[Camera], centre: np.ndarray, count: int) -> list[Camera]:
    """At most ``count`` of ``cameras`` whose viewing directions differ most (greedy
    farthest-point choice on the directions from ``centre``)."""
    if len(cameras) <= count:
        return list(cameras)
    directions = np.array([c.center - centre for c in cameras])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    chosen = [0]
    distance = np.linalg.norm(directions - directions[0], axis=1)
    while len(chosen) < count:
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(directions - directions[chosen[-1]], axis=1))
    return [cameras[i] for i in chosen]


def _seen_from(
    camera: Camera,
    world_to_clip: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    diagonal: float,
) -> np.ndarray:
    k = camera.intrinsics
    homogeneous = np.concatenate([vertices, np.ones((len(vertices), 1))], axis=1)
    clip = homogeneous @ world_to_clip.T
    depth = clip[:, 3]
    in_front = depth > 1e-6
    ndc = clip[:, :2] / np.where(in_front, depth, 1.0)[:, None]
    col = np.floor((ndc[:, 0] + 1.0) * 0.5 * k.width).astype(np.int64)
    row = np.floor((ndc[:, 1] + 1.0) * 0.5 * k.height).astype(np.int64)
    inside = in_front & (col >= 0) & (col < k.width) & (row >= 0) & (row < k.height)
    towards = camera.center - vertices
    cosine = np.sum(normals * towards, axis=1) / np.linalg.norm(towards, axis=1)
    facing = cosine > MIN_COSINE
    depth_map = _depth_map(clip, faces, (k.height, k.width))
    shown = np.full(len(vertices), np.inf)
    shown[inside] = depth_map[row[inside], col[inside]]
    return inside & facing & (depth <= shown + DEPTH_TOLERANCE * diagonal)


def _depth_map(clip: np.ndarray, faces: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Camera depth of the nearest surface per pixel (raster rows, bottom first); inf
    where the mesh does not cover the pixel."""
    raster = TorchRasterizer()
    pos = torch.tensor(clip, dtype=torch.float32)[None]
    tri = torch.tensor(faces, dtype=torch.int32)
    rast = raster.rasterize(pos, tri, size)
    depth = raster.interpolate(pos[0, :, 3:4].contiguous(), rast, tri)[0, ..., 0].numpy()
    return np.where(rast[0, ..., 3].numpy() > 0, depth, np.inf)


def harmonic_fill(values: np.ndarray, known: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per-vertex ``values`` (V, C) kept where ``known``, and elsewhere the smoothest
    continuation over the mesh (each unknown vertex the mean of its neighbours): colour
    fades across an unseen region from the seen colours around it, without the
    patches a nearest-texel copy leaves. Parts with no known vertex get the known mean."""
    count = len(values)
    unknown = ~known
    if not known.any() or not unknown.any():
        return values
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    adjacency = sparse.coo_matrix(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(count, count)
    ).tocsr()
    adjacency.data[:] = 1.0
    laplacian = sparse.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    lu = laplacian[unknown][:, unknown] + ANCHOR * sparse.identity(int(unknown.sum()))
    mean = values[known].mean(axis=0)
    rhs = -(laplacian[unknown][:, known] @ values[known]) + ANCHOR * mean
    filled = values.astype(np.float64).copy()
    filled[unknown] = np.stack(
        [splinalg.spsolve(lu.tocsc(), rhs[:, c]) for c in range(values.shape[1])], axis=1
    )
    return filled.astype(values.dtype)
