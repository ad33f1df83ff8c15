"""``capture-from-photos``: a capture folder (nerfstudio ``transforms.json``) from photos.

The photos are checked (``photos.py``), their cameras estimated by COLMAP
(``colmap.py``) and placed upright around the origin at a stated scale
(``alignment.py``); the registered photos are copied into ``images/`` beside a
``transforms.json`` that the capture loader reads like any other. Everything is written
into a hidden folder beside ``--out``, checked by loading it, and only then renamed into
place: a failure or an interrupt never leaves half a capture behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.captures.alignment import Similarity, upright_similarity
from backend.captures.capture import HELDOUT_EVERY, load_capture
from backend.captures.colmap import (
    Cameras,
    SfmSettings,
    estimate_cameras,
    import_pycolmap,
    weakly_placed,
)
from backend.captures.photos import PhotoSet, read_photo_folder, some
from backend.errors import BackendError, CaptureError
from backend.files import write_json
from backend.progress import Progress, ProgressSink

# Mean distance from the cameras to the head, in capture units (metres): the synthetic
# captures' (meshes/render_capture.py frames the sample head from 0.46 m with a 50 mm
# lens), so a head photographed like them comes out about life size.
CAMERA_DISTANCE = 0.46
RECORD_KEY = "from_photos"
IMAGES = "images"
STAGE = "photos"


@dataclass(frozen=True)
class PhotosRequest:
    """Photos in, capture folder out; ``overwrite`` replaces a capture this command
    wrote before (never any other folder)."""

    photos: Path
    out: Path
    settings: SfmSettings = field(default_factory=SfmSettings)
    overwrite: bool = False


def capture_from_photos(request: PhotosRequest, progress: ProgressSink | None = None) -> Path:
    """Write the capture folder and return it; raises :class:`CaptureError` (bad photos,
    too few registered) or :class:`BackendError` (``--out``, pycolmap missing)."""

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(Progress(STAGE, round(fraction, 4), message))

    _check_out(request)
    import_pycolmap()  # before the photos are read, not after
    report(0.0, f"reading {request.photos}")
    photos = read_photo_folder(request.photos)
    for note in _photo_notes(photos):
        report(0.02, note)
    request.out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{request.out.name}.", dir=request.out.parent))
    try:
        cameras = estimate_cameras(
            photos,
            partial / "colmap",
            request.settings,
            lambda done, text: report(0.05 + 0.85 * done, text),
        )
        shutil.rmtree(partial / "colmap")
        report(0.92, f"writing {len(cameras.c2w)} frames and their photos")
        _write_capture(partial, photos, cameras)
        capture = load_capture(partial)
        _publish(partial, request)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    report(
        1.0,
        f"wrote {request.out}: {len(capture.train)} training and {len(capture.heldout)} "
        f"held-out frames at {photos.width}x{photos.height}",
    )
    return request.out


def _photo_notes(photos: PhotoSet) -> list[str]:
    notes = []
    if photos.duplicates:
        notes.append(
            f"dropped {len(photos.duplicates)} near-duplicate photos "
            f"({some(sorted(photos.duplicates))}): each repeats an earlier one"
        )
    if photos.ignored:
        notes.append(f"ignored {len(photos.ignored)} files that are not JPEG or PNG")
    return notes


def _check_out(request: PhotosRequest) -> None:
    """Refuse an --out that holds anything but a capture this command may replace."""
    out = request.out
    if request.photos.resolve().is_relative_to(out.resolve()):
        raise BackendError(f"--out {out} holds the photos; give a folder outside them")
    if out.exists() and not out.is_dir():
        raise BackendError(f"--out {out} is a file; give a folder for the capture")
    if not out.exists() or not any(out.iterdir()):
        return
    ours = _written_here(out)
    if request.overwrite and ours:
        return
    if request.overwrite:
        raise BackendError(
            f"--out {out} is not a capture written by capture-from-photos; --overwrite only "
            "replaces those. Give a new or empty folder"
        )
    hint = " or add --overwrite to replace the capture in it" if ours else ""
    raise BackendError(f"--out {out} is not empty; give a new or empty folder{hint}")


def _written_here(folder: Path) -> bool:
    try:
        meta = json.loads((folder / "transforms.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and RECORD_KEY in meta


def _write_capture(folder: Path, photos: PhotoSet, cameras: Cameras) -> None:
    """images/ with the registered photos, and transforms.json (nerfstudio keys)."""
    try:
        placement = upright_similarity(np.stack(list(cameras.c2w.values())), CAMERA_DISTANCE)
    except ValueError as exc:
        raise CaptureError(
            f"{photos.folder}: {exc}; capture-from-photos needs photos taken around a head"
        ) from exc
    (folder / IMAGES).mkdir()
    for name in cameras.c2w:
        shutil.copy2(photos.folder / name, folder / IMAGES / name)
    frames = [
        {
            "file_path": f"{IMAGES}/{name}",
            "transform_matrix": placement.apply_to_pose(c2w).tolist(),
        }
        for name, c2w in cameras.c2w.items()
    ]
    write_json(
        folder / "transforms.json",
        {
            **_lens(cameras),
            "frames": frames,
            RECORD_KEY: _record(photos, cameras, placement),
        },
    )


def _lens(cameras: Cameras) -> dict[str, object]:
    k = cameras.intrinsics
    lens: dict[str, object] = {
        "camera_model": cameras.camera_model,
        "fl_x": k.fx,
        "fl_y": k.fy,
        "cx": k.cx,
        "cy": k.cy,
        "w": k.width,
        "h": k.height,
    }
    if cameras.camera_model == "OPENCV":
        distortion = k.distortion
        lens.update(k1=distortion.k1, k2=distortion.k2, p1=distortion.p1, p2=distortion.p2)
    return lens


def _record(photos: PhotoSet, cameras: Cameras, placement: Similarity) -> dict[str, object]:
    """What was done to the photos, stated in the file: how the world was placed (the
    scale is a choice, photos do not know it), what was left out and why."""
    return {
        "tool": cameras.tool,
        "colmap_camera_model": cameras.colmap_model,
        "photos": len(photos.names),
        "registered": len(cameras.c2w),
        "unregistered": cameras.unregistered,
        "duplicates_dropped": photos.duplicates,
        "ignored_files": photos.ignored,
        "mapper": cameras.mapper,
        "focal_start": cameras.focal_start,
        "reprojection_error_px": round(cameras.reprojection_error, 4),
        "points3D": cameras.points,
        "points_per_photo": cameras.points_seen,
        "weakly_placed": sorted(weakly_placed(cameras.points_seen)),
        "world": {
            "origin": "the point closest to all optical axes (the head)",
            "up": "+Z, the direction most orthogonal to the cameras' right axes",
            "front": "-Y, the cameras' mean direction from the head",
            "camera_distance": CAMERA_DISTANCE,
            "scale_note": "mean camera distance to the origin; photos carry no absolute scale",
            "world_from_colmap": placement.matrix().tolist(),
        },
        "heldout": f"every {HELDOUT_EVERY}th frame from the first (the loader's rule "
        "without split files)",
    }


def _publish(partial: Path, request: PhotosRequest) -> None:
    """Rename the finished capture into place; an old one (--overwrite) goes only after."""
    out = request.out
    if not out.exists():
        os.replace(partial, out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        os.replace(partial, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(partial, out)
    shutil.rmtree(old, ignore_errors=True)
