"""Turning a checked POST /jobs form into a job: its folder first, then its row.

The folder is assembled under a hidden temporary name and renamed into place, and the
row is inserted only after that, so the worker never sees a job with half its inputs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from backend.captures import load_capture
from backend.captures.photos import is_photo_folder, read_photo_folder
from backend.device import resolve_device
from backend.errors import BackendError
from backend.files import write_png
from backend.server.config import ServerConfig
from backend.server.options import JobOptions, JobSpec
from backend.server.store import JobRecord, JobStore
from backend.server.uploads import (
    UploadError,
    copy_upload,
    extract_capture_zip,
    save_style,
    style_name,
)
from backend.style.builtin import BUILTIN_STYLES

# load_capture checks every image and pose; small frames make that cheap (the intrinsics
# are checked against the full-size images before downscaling).
VALIDATE_SIDE = 32


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    file: BinaryIO


@dataclass(frozen=True)
class JobForm:
    """The fields of POST /jobs, as sent (nothing checked yet)."""

    capture: UploadedFile | None = None
    capture_path: str | None = None
    styles: list[UploadedFile] = field(default_factory=list)
    style_paths: list[str] = field(default_factory=list)
    builtin_styles: list[str] = field(default_factory=list)
    options: str | None = None
    client_is_local: bool = False


@dataclass(frozen=True)
class Capture:
    """Where the job's capture is once the job folder is in place, and its default name."""

    path: Path
    name: str


def create_job(form: JobForm, config: ServerConfig, store: JobStore) -> JobRecord:
    options = JobOptions.parse(form.options, config.limits.max_image_side)
    _check_counts(form, config, options)
    if config.executor == "local":  # a Ray cluster's GPUs are checked when it dispatches
        try:
            resolve_device(options.device)
        except BackendError as exc:
            raise UploadError(f"options: {exc}") from exc
    job_id = uuid.uuid4().hex
    config.jobs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=config.jobs_dir))
    final = config.jobs_dir / job_id
    try:
        capture = _capture(form, staging, final, config, options)
        names = _styles(form, staging / "input" / "styles", config)
        JobSpec(str(capture.path), names, options).save(staging)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        return store.create(job_id, options.name or capture.name, names)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise


def _check_counts(form: JobForm, config: ServerConfig, options: JobOptions) -> None:
    """One capture; styles within the limit, and at least one unless a prompt edits."""
    if (form.capture is None) == (form.capture_path is None):
        raise UploadError("send exactly one of 'capture' (a zip file) and 'capture_path'")
    count = len(form.styles) + len(form.style_paths) + len(form.builtin_styles)
    if count == 0 and options.prompt is None:
        raise UploadError(
            "send at least one 'style', 'style_path' or 'builtin_style', "
            'or a prompt in the options ({"prompt": "a bronze statue"})'
        )
    if count > config.limits.max_styles:
        raise UploadError(f"{count} styles; at most {config.limits.max_styles} per job")


def _capture(
    form: JobForm, staging: Path, final: Path, config: ServerConfig, options: JobOptions
) -> Capture:
    """Unpack or locate the capture and check it as the pipeline will load it."""
    if form.capture_path is not None:
        root = local_path(form.capture_path, "capture_path", form.client_is_local)
        _validate_capture(root, str(root), str(root))
        return Capture(root, root.name or "capture")
    upload = form.capture
    assert upload is not None  # _check_counts: exactly one of the two
    label = PurePosixPath((upload.filename or "capture.zip").replace("\\", "/")).name
    dest = staging / "input" / "capture"
    root = extract_capture_zip(upload.file, label, dest, config.limits)
    _validate_capture(root, str(dest), label)
    name = root.name if root != dest else PurePosixPath(label).stem
    return Capture(final / root.relative_to(staging), name or "capture")


def _validate_capture(root: Path, shown: str, label: str) -> None:
    """A capture folder as the pipeline loads it; a folder of photos as
    capture-from-photos reads it (the job estimates its cameras first)."""
    try:
        if is_photo_folder(root):
            read_photo_folder(root)
        else:
            load_capture(root, max_side=VALIDATE_SIDE)
    except BackendError as exc:
        raise UploadError(f"capture: {str(exc).replace(shown, label)}") from exc


def _styles(form: JobForm, styles_dir: Path, config: ServerConfig) -> list[str]:
    """Save every style as ``<name>.png``; names are unique within the job."""
    styles_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for index, upload in enumerate(form.styles):
        shown = repr(upload.filename or f"upload {index + 1}")
        name = _unique(style_name(upload.filename, f"style{index + 1}"), names)
        raw = styles_dir.parent / f".upload-{index}"
        copy_upload(upload.file, raw)
        save_style(raw, shown, name, styles_dir, config.limits)
        raw.unlink()
        names.append(name)
    for text in form.style_paths:
        path = local_path(text, "style_path", form.client_is_local)
        if not path.is_file():
            raise UploadError(f"style_path: no image file at {path}")
        name = _unique(style_name(path.name, "style"), names)
        save_style(path, str(path), name, styles_dir, config.limits)
        names.append(name)
    for builtin in form.builtin_styles:
        if builtin not in BUILTIN_STYLES:
            raise UploadError(
                f"builtin_style: unknown style {builtin!r} "
                f"(choose from {', '.join(BUILTIN_STYLES)})"
            )
        name = _unique(builtin, names)
        write_png(styles_dir / f"{name}.png", BUILTIN_STYLES[builtin]())
        names.append(name)
    return names


def _unique(name: str, taken: list[str]) -> str:
    candidate, count = name, 1
    while candidate in taken:
        count += 1
        candidate = f"{name}_{count}"
    return candidate


def local_path(text: str, field_name: str, client_is_local: bool) -> Path:
    """A path on the server's machine, accepted only from a client on that machine."""
    if not client_is_local:
        raise UploadError(
            f"{field_name} is accepted only from this machine; upload the file instead", 403
        )
    if "\x00" in text or not os.path.isabs(text):
        raise UploadError(f"{field_name} must be an absolute path, got {text!r}")
    return Path(text)
