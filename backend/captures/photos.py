"""Read and check a folder of photos before any camera is estimated from it.

Structure from motion fails slowly and says little, so everything that can be checked
on the files alone is checked here first, each with one message naming the files: the
folder, how many photos, that every one decodes, that they share one size (one shared
camera), and near-identical frames (a video's frame dump repeats itself while the
camera stands still; such frames add no baseline, only matching time).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from backend.errors import CaptureError
from backend.imagefiles import open_image

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
MIN_PHOTOS = 8
MAX_PIXELS = 100_000_000
# Thumbnails whose grey levels differ by less than this on average (0..1) are the same
# frame: well under what a step of a degree or two around a head changes.
DUPLICATE_DIFFERENCE = 0.01
_THUMB = 32
_NAMES_SHOWN = 3


@dataclass(frozen=True)
class PhotoSet:
    """The usable photos of a folder, in name order, and what was left out and why."""

    folder: Path
    names: list[str]
    width: int
    height: int
    duplicates: dict[str, str]  # dropped name -> the kept photo it repeats
    ignored: list[str]  # files that are not JPEG or PNG photos


def is_photo_folder(folder: Path) -> bool:
    """A folder of photos with no camera file: what ``run`` and the service give to
    capture-from-photos before anything else."""
    if not folder.is_dir() or any(folder.glob("transforms*.json")):
        return False
    return any(p.suffix.lower() in PHOTO_SUFFIXES for p in folder.iterdir() if p.is_file())


def read_photo_folder(folder: Path, min_photos: int = MIN_PHOTOS) -> PhotoSet:
    """The folder's photos, checked; raises :class:`CaptureError` with the reason."""
    if not folder.is_dir():
        raise CaptureError(f"photo folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    photos = [p for p in files if p.suffix.lower() in PHOTO_SUFFIXES]
    ignored = [p.name for p in files if p not in photos]
    _require_count(folder, len(photos), min_photos, "")
    thumbs, sizes = {}, {}
    for path in photos:
        image = open_image(path, f"photo {path.name}", CaptureError, MAX_PIXELS)
        sizes[path.name] = image.size
        thumbs[path.name] = _thumbnail(image)
    width, height = _shared_size(folder, sizes)
    duplicates = near_duplicates(thumbs)
    names = [p.name for p in photos if p.name not in duplicates]
    note = f" after dropping {len(duplicates)} near-duplicate frames" if duplicates else ""
    _require_count(folder, len(names), min_photos, note)
    return PhotoSet(folder, names, width, height, duplicates, ignored)


def _require_count(folder: Path, count: int, min_photos: int, note: str) -> None:
    if count < min_photos:
        raise CaptureError(
            f"{folder}: {count} JPEG or PNG photos{note}; at least {min_photos} are needed "
            "to estimate cameras (a face capture usually has 30 or more, all around the front "
            "of the head)"
        )


def _shared_size(folder: Path, sizes: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """The one size all photos have; mixed sizes would need one camera each."""
    counts = Counter(sizes.values())
    if len(counts) == 1:
        return next(iter(counts))
    found = ", ".join(
        f"{w}x{h} ({n} photos, e.g. {next(k for k, v in sizes.items() if v == (w, h))})"
        for (w, h), n in counts.most_common()
    )
    raise CaptureError(
        f"{folder}: the photos must all have the same size (they share one camera); "
        f"found {found}. Resize or crop them to one size, or remove the odd ones"
    )


def _thumbnail(image: Image.Image) -> np.ndarray:
    """A small grey image: cheap to compare, blind to noise and compression."""
    grey = image.convert("L").resize((_THUMB, _THUMB), Image.BOX)
    return np.asarray(grey, dtype=np.float32).ravel() / 255.0


def near_duplicates(thumbs: dict[str, np.ndarray]) -> dict[str, str]:
    """Photos (after the first of each kind, in order) that repeat an earlier kept one:
    dropped name -> kept name."""
    kept_names: list[str] = []
    kept = np.empty((len(thumbs), _THUMB * _THUMB), dtype=np.float32)
    dropped = {}
    for name, thumb in thumbs.items():
        difference = np.abs(kept[: len(kept_names)] - thumb).mean(axis=1)
        if len(kept_names) and difference.min() < DUPLICATE_DIFFERENCE:
            dropped[name] = kept_names[int(difference.argmin())]
            continue
        kept[len(kept_names)] = thumb
        kept_names.append(name)
    return dropped


def some(names: list[str]) -> str:
    """A few names for a message, and how many more there are."""
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
