"""Uploaded captures and style images, checked before anything is kept.

A capture zip is untrusted: an entry could escape the job folder (``../``, an absolute
path), be a symbolic link, claim a huge size, or carry something that is no image.
Each is refused with a message naming the entry, before a byte of it is written.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from backend.errors import BackendError
from backend.files import write_png
from backend.pipeline import safe_name
from backend.server.config import Limits
from backend.style.images import read_style_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "TIFF", "MPO"}
CAPTURE_FILES = ("transforms.json", "transforms_train.json")
EXTRA_FILES = {"gt_mesh.ply"}
# Metadata that archivers add on their own; skipped rather than refused.
IGNORED_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db"}
CHUNK = 1 << 20


class UploadError(BackendError):
    """An upload that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ZipEntry:
    info: zipfile.ZipInfo
    path: PurePosixPath


def extract_capture_zip(source: BinaryIO, label: str, dest: Path, limits: Limits) -> Path:
    """Unpack a capture zip into ``dest``; returns the folder holding transforms*.json."""
    try:
        with zipfile.ZipFile(source) as archive:
            entries = _checked_entries(archive, label, limits)
            dest.mkdir(parents=True, exist_ok=True)
            for entry in entries:
                _extract(archive, entry, label, dest)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"{label}: not a readable zip file ({exc})") from exc
    except (EOFError, OSError, ValueError, zlib.error, NotImplementedError) as exc:
        raise UploadError(f"{label}: the zip file is damaged ({exc})") from exc
    root = _capture_root(dest, entries, label)
    for entry in entries:
        if entry.path.suffix.lower() in IMAGE_SUFFIXES:
            check_image_file(dest / entry.path, f"{label}: {entry.path}", limits)
    return root


def _checked_entries(archive: zipfile.ZipFile, label: str, limits: Limits) -> list[ZipEntry]:
    infos = archive.infolist()
    if len(infos) > limits.max_zip_entries:
        raise UploadError(
            f"{label}: {len(infos)} entries, more than the {limits.max_zip_entries} allowed"
        )
    entries, seen, images, total = [], set(), 0, 0
    for info in infos:
        path = _entry_path(info, label)
        if path is None:
            continue
        if path.as_posix().lower() in seen:
            raise UploadError(f"{label}: entry '{info.filename}' appears twice")
        seen.add(path.as_posix().lower())
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise UploadError(
                f"{label}: unpacks to more than {limits.max_unpacked_bytes} bytes", status=413
            )
        images += path.suffix.lower() in IMAGE_SUFFIXES
        entries.append(ZipEntry(info, path))
    if images > limits.max_images:
        raise UploadError(f"{label}: {images} images, more than the {limits.max_images} allowed")
    return entries


def _entry_path(info: zipfile.ZipInfo, label: str) -> PurePosixPath | None:
    """The entry's safe relative path, or None for folders and archiver metadata."""
    name = info.filename
    where = f"{label}: entry '{name}'"
    parts = PurePosixPath(name).parts
    if (
        "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or ".." in parts
    ):
        raise UploadError(f"{where} escapes the job folder (absolute path, '..' or '\\')")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError(f"{where} is a symbolic link; links are not accepted")
    if info.flag_bits & 0x1:
        raise UploadError(f"{where} is encrypted")
    if any(p in IGNORED_PARTS or p.startswith("._") for p in parts) or info.is_dir():
        return None
    path = PurePosixPath(*[p for p in parts if p != "."])
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES and suffix != ".json" and path.name not in EXTRA_FILES:
        raise UploadError(
            f"{where} is not an image ({', '.join(sorted(IMAGE_SUFFIXES))}) "
            "or a transforms JSON file"
        )
    return path


def _extract(archive: zipfile.ZipFile, entry: ZipEntry, label: str, dest: Path) -> None:
    """Copy one entry, trusting neither its declared size nor an existing file there."""
    target = dest.joinpath(*entry.path.parts)
    if not target.resolve().is_relative_to(dest.resolve()):
        raise UploadError(f"{label}: entry '{entry.info.filename}' escapes the job folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    written = 0
    with archive.open(entry.info) as src, os.fdopen(os.open(target, flags, 0o600), "wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > entry.info.file_size:
                raise UploadError(f"{label}: entry '{entry.info.filename}' is bigger than declared")
            out.write(chunk)


def _capture_root(dest: Path, entries: list[ZipEntry], label: str) -> Path:
    """transforms*.json at the zip's root, or inside its single top-level folder."""
    if any(len(e.path.parts) == 1 and e.path.name in CAPTURE_FILES for e in entries):
        return dest
    tops = {e.path.parts[0] for e in entries if len(e.path.parts) > 1}
    if len(tops) == 1:
        top = dest / tops.pop()
        if any((top / name).is_file() for name in CAPTURE_FILES):
            return top
    raise UploadError(
        f"{label}: no transforms.json (or transforms_train.json) at the zip's root "
        "or in its one top-level folder"
    )


def check_image_file(path: Path, label: str, limits: Limits) -> None:
    """Refuse files that are no image, or too large to decode, from their header alone."""
    try:
        with Image.open(path) as image:
            kind, (width, height) = image.format, image.size
    except UnidentifiedImageError as exc:
        raise UploadError(f"{label}: not an image file") from exc
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadError(f"{label}: cannot read the image ({exc})") from exc
    if kind not in IMAGE_FORMATS:
        raise UploadError(f"{label}: {kind} images are not accepted")
    if max(width, height) > limits.max_image_side:
        raise UploadError(
            f"{label}: {width}x{height} pixels; the limit is {limits.max_image_side} per side"
        )


def load_style(source: Path, shown: str, limits: Limits) -> np.ndarray:
    """A checked style image as RGB float (H, W, 3); refusals call it ``shown``."""
    check_image_file(source, f"style image {shown}", limits)
    try:
        return read_style_image(source)
    except BackendError as exc:
        raise UploadError(str(exc).replace(str(source), shown)) from exc


def save_style(source: Path, shown: str, name: str, styles_dir: Path, limits: Limits) -> None:
    """Check a style image, then keep it as ``styles_dir/<name>.png`` for the worker."""
    write_png(styles_dir / f"{name}.png", load_style(source, shown, limits))


def load_style_upload(source: BinaryIO, shown: str, limits: Limits) -> np.ndarray:
    """A style image sent in a request and not kept (apply-style)."""
    with tempfile.TemporaryDirectory(prefix="style-") as tmp:
        path = Path(tmp) / "upload"
        copy_upload(source, path)
        return load_style(path, shown, limits)


def style_name(filename: str | None, fallback: str) -> str:
    """A style's name from its file name without extension (file-name safe)."""
    stem = PurePosixPath((filename or "").replace("\\", "/")).stem
    return safe_name(stem) if stem else fallback


def copy_upload(source: BinaryIO, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
