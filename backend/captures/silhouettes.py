"""The space a capture's silhouettes allow the subject to fill (the visual hull's test).

A point outside a view's frame says nothing about what that view would have seen: to that
view it is unknown, not empty. A point is kept when every view that frames it sees the
subject there (alpha above ``ALPHA_EMPTY`` somewhere in the point's footprint), and it
counts only if at least one view frames it. So a head that leaves the frame at the bottom
in one view keeps its chin there, from the views that see it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from backend.captures.frame import Frame
from backend.captures.scene_box import SceneBox

ALPHA_EMPTY = 0.05
# The scene box grows to hold the subject where tight framing let it cross the box the
# cameras' common view gives; the silhouettes are searched this far out, this finely.
EXTENT_MARGIN = 2.0
EXTENT_RESOLUTION = 48
FRAMED_BY = 0.5


def inside_silhouettes(
    frames: list[Frame],
    box: SceneBox,
    points: np.ndarray,
    footprint: float,
    depths: list[np.ndarray] | None = None,
    framed_by: float = 0.0,
) -> np.ndarray:
    """Which normalized ``points`` (N, 3) every framing view keeps and some view frames.

    ``footprint`` is each point's radius in normalized units (a voxel's): silhouettes are
    dilated by its projection, so a point that any pixel of the subject touches is kept.
    With ``depths`` (per frame, normalized units along each pixel's ray, inf for no
    surface), points a view sees through, more than two footprints in front of its
    surface, are dropped too. ``framed_by`` > 0 keeps only points that at least that
    fraction of the views frame.
    """
    world = box.to_world(points)
    alive = np.arange(len(world))
    framing = np.zeros(len(world), dtype=np.int32)
    for index, frame in enumerate(frames):
        # Only points no earlier view has dropped are tested: the work shrinks per view.
        camera, candidates = frame.camera, world[alive]
        pixels, depth = camera.project(candidates)
        distance = np.linalg.norm(camera.center - box.center)
        radius_px = camera.intrinsics.fx * footprint * box.scale / distance
        alpha = neighbourhood_max(frame.rgba[..., 3], int(np.ceil(radius_px)) + 1)
        col, row = np.floor(pixels[:, 0]).astype(int), np.floor(pixels[:, 1]).astype(int)
        in_frame = (depth > 0) & (col >= 0) & (row >= 0)
        in_frame &= (col < frame.width) & (row < frame.height)
        values = np.ones(len(candidates), dtype=np.float32)
        values[in_frame] = alpha[row[in_frame], col[in_frame]]
        keep = values > ALPHA_EMPTY
        framing[alive[in_frame]] += 1
        if depths is not None:
            surface = np.full(len(candidates), np.inf)
            farthest = neighbourhood_max(depths[index].astype(np.float32), 1)
            surface[in_frame] = farthest[row[in_frame], col[in_frame]]
            reach = np.linalg.norm(candidates - camera.center, axis=1) / box.scale
            keep &= reach >= surface - 2.0 * footprint
        alive = alive[keep]
    inside = np.zeros(len(world), dtype=bool)
    inside[alive] = True
    return inside & (framing >= max(1, framed_by * len(frames)))


def neighbourhood_max(image: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a square neighbourhood (alpha, depth or a mask; one channel)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image))[None, None]
    return F.max_pool2d(tensor, 2 * radius + 1, stride=1, padding=radius)[0, 0].numpy()


def grown_to_subject(frames: list[Frame], box: SceneBox) -> SceneBox:
    """``box``, grown where the silhouettes put the subject beyond it (a tightly framed
    capture: the cameras' common view is smaller than the head); unchanged when no
    silhouette reaches its frame's border (at low resolution the dilated silhouettes
    would otherwise spill beyond a loosely framed head)."""
    if not any(_crosses_frame(frame) for frame in frames):
        return box
    half = EXTENT_MARGIN
    axis = np.linspace(-half, half, EXTENT_RESOLUTION + 1)
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    step = axis[1] - axis[0]
    inside = inside_silhouettes(frames, box, points, step / 2.0, framed_by=FRAMED_BY)
    if not inside.any():
        return box
    low = np.minimum(points[inside].min(0) - step, -1.0)
    high = np.maximum(points[inside].max(0) + step, 1.0)
    if (low >= -1.0).all() and (high <= 1.0).all():
        return box
    return SceneBox.from_aabb(box.to_world(low), box.to_world(high))


def _crosses_frame(frame: Frame) -> bool:
    """Whether the subject reaches the frame's outermost pixels."""
    alpha = frame.rgba[..., 3]
    border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
    return bool((border > ALPHA_EMPTY).any())
