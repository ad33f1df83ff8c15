"""Similarity transforms of camera sets: placing estimated cameras, and scoring them.

Structure from motion knows the cameras only up to a similarity (where, which way up, how
large). This module chooses that similarity for a capture from photos (head at the
origin, +Z up, a stated camera distance), and measures estimated cameras against true
ones after the best similarity between them (Umeyama's method), as the tests and the
photos benchmark do.

Every pose here is camera-to-world with OpenGL camera axes (looks down -Z, +Y up), the
capture convention of ``backend/captures/cameras.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.captures.cameras import Camera, Intrinsics

# The right vectors of level cameras span a plane; below this ratio of the smallest to
# the middle eigenvalue that plane (and so the up direction) is well determined.
_LEVEL_PLANE_RATIO = 0.5


@dataclass(frozen=True)
class Similarity:
    """x -> scale * rotation @ x + translation."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map points (N, 3)."""
        return self.scale * np.asarray(points) @ self.rotation.T + self.translation

    def apply_to_pose(self, c2w: np.ndarray) -> np.ndarray:
        """Map a camera-to-world pose: rotate its axes, move and scale its centre."""
        out = np.eye(4)
        out[:3, :3] = self.rotation @ c2w[:3, :3]
        out[:3, 3] = self.apply(c2w[None, :3, 3])[0]
        return out

    def matrix(self) -> np.ndarray:
        """The 4x4 homogeneous matrix."""
        out = np.eye(4)
        out[:3, :3] = self.scale * self.rotation
        out[:3, 3] = self.translation
        return out


@dataclass(frozen=True)
class PoseErrors:
    """Estimated cameras against true ones, after the best similarity between their
    centres: rotation errors in degrees, position errors as a fraction of the true
    cameras' mean distance to the point they look at."""

    rotation_deg: np.ndarray
    position_rel: np.ndarray
    alignment: Similarity

    def summary(self) -> dict[str, float]:
        return {
            "rotation_deg_max": float(self.rotation_deg.max()),
            "rotation_deg_mean": float(self.rotation_deg.mean()),
            "position_pct_max": float(100.0 * self.position_rel.max()),
            "position_pct_mean": float(100.0 * self.position_rel.mean()),
            "alignment_scale": self.alignment.scale,
        }


def umeyama(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The similarity that maps ``source`` (N, 3) onto ``target`` (N, 3) with the least
    squared error (Umeyama 1991: SVD of the cross-covariance, reflection excluded)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[0] < 3:
        raise ValueError(f"need two (N >= 3, 3) point sets, got {source.shape}, {target.shape}")
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    centred_s, centred_t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(centred_t.T @ centred_s / len(source))
    sign = np.ones(3)
    sign[2] = np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (centred_s**2).sum() / len(source)
    scale = float((sigma * sign).sum() / variance)
    return Similarity(scale, rotation, mu_t - scale * rotation @ mu_s)


def pose_errors(estimated: np.ndarray, true: np.ndarray) -> PoseErrors:
    """Errors of estimated poses (N, 4, 4) against true ones after aligning the centres."""
    alignment = umeyama(estimated[:, :3, 3], true[:, :3, 3])
    aligned = np.stack([alignment.apply_to_pose(c2w) for c2w in estimated])
    relative = np.einsum("nji,njk->nik", true[:, :3, :3], aligned[:, :3, :3])
    cosine = np.clip((np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    distance = np.linalg.norm(true[:, :3, 3] - focus_point(true), axis=1).mean()
    offsets = np.linalg.norm(aligned[:, :3, 3] - true[:, :3, 3], axis=1)
    return PoseErrors(np.degrees(np.arccos(cosine)), offsets / distance, alignment)


def focus_point(c2w: np.ndarray, max_condition: float = 1e8) -> np.ndarray:
    """The point closest to all optical axes in the least-squares sense: where an
    object-centric capture's cameras look, i.e. the subject. Raises ValueError when the
    axes are too close to parallel (the system's condition number above
    ``max_condition``)."""
    centres, forward = c2w[:, :3, 3], -c2w[:, :3, 2]
    forward = forward / np.linalg.norm(forward, axis=1, keepdims=True)
    projectors = np.eye(3) - np.einsum("ni,nj->nij", forward, forward)
    lhs = projectors.sum(axis=0)
    if np.linalg.cond(lhs) > max_condition:
        raise ValueError("the cameras' optical axes are parallel: they share no focus point")
    return np.linalg.solve(lhs, np.einsum("nij,nj->i", projectors, centres))


def subject_in_view(c2w: np.ndarray, intrinsics: Intrinsics) -> float:
    """The share of cameras (N, 4, 4) whose frame holds the point their optical axes meet
    at (0.0 when the axes share no point).

    Photos of a head are taken around it, so every camera sees that point. A structure
    from motion result that reprojects well can still have cameras facing away from it
    (on a small, noisy render set global mapping placed 40 cameras 135 degrees from it on
    average, at 0.39 px): such cameras describe no capture of one subject.
    """
    try:
        target = focus_point(c2w)
    except ValueError:
        return 0.0
    seen = 0
    for pose in c2w:
        (pixel,), (depth,) = Camera(intrinsics, pose).project(target[None])
        inside = 0.0 <= pixel[0] <= intrinsics.width and 0.0 <= pixel[1] <= intrinsics.height
        seen += int(depth > 0 and inside)
    return seen / len(c2w)


def up_direction(c2w: np.ndarray) -> np.ndarray:
    """World up as the cameras see it.

    People hold cameras level: each camera's right axis is then horizontal, so up is the
    direction most orthogonal to all of them; unlike the mean of the cameras' up axes,
    that does not tilt when the cameras look down on or up at the head. Where the right
    axes do not span a plane (all cameras turned alike) the mean up axis decides alone;
    it always decides the sign.
    """
    mean_up = c2w[:, :3, 1].mean(axis=0)
    mean_up /= np.linalg.norm(mean_up)
    right = c2w[:, :3, 0]
    values, vectors = np.linalg.eigh(right.T @ right)
    if values[0] >= _LEVEL_PLANE_RATIO * values[1]:
        return mean_up
    up = vectors[:, 0]
    return up if up @ mean_up >= 0.0 else -up


def upright_similarity(c2w: np.ndarray, camera_distance: float) -> Similarity:
    """The similarity that puts the cameras' focus point at the origin, their up
    direction on +Z, their mean direction from the subject on -Y (the front of the
    synthetic captures) and their mean distance to the subject at ``camera_distance``."""
    centre = focus_point(c2w)
    up = up_direction(c2w)
    offsets = c2w[:, :3, 3] - centre
    front = offsets.mean(axis=0)
    front -= (front @ up) * up
    if np.linalg.norm(front) < 1e-9:  # cameras all around: any heading will do
        front = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    front /= np.linalg.norm(front)
    # Rows: where the world x, y, z axes come from (x = front x up keeps it right-handed).
    rotation = np.stack([np.cross(-front, up), -front, up])
    scale = camera_distance / np.linalg.norm(offsets, axis=1).mean()
    return Similarity(scale, rotation, -scale * rotation @ centre)
