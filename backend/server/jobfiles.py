"""A job's folder: its inputs, the pipeline's outputs, and what a client may see of them.

Layout: ``jobs/<id>/job.json`` (the spec), ``input/`` (capture, styles), ``out/`` (the
pipeline's folder). Artifacts are the finished files in ``out/``: the pipeline writes
every file to a hidden temporary name and renames it, so a visible file is complete.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
# Bookkeeping the pipeline keeps for resuming, not results.
INTERNAL = {"run.json"}
INTERNAL_DIRS = {"stages"}
COLORNET_FILES = ("colornet.safetensors", "colornet.json")


@dataclass(frozen=True)
class JobFiles:
    """Paths of one job's folder."""

    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def inputs(self) -> Path:
        return self.root / "input"

    def artifacts(self) -> list[str]:
        """Finished output files, as paths relative to ``out/`` ('nerf/heldout_r_0.png')."""
        if not self.out.is_dir():
            return []
        names = []
        for path in self.out.rglob("*"):
            relative = path.relative_to(self.out)
            if (
                path.is_file()
                and not path.is_symlink()
                and not any(part.startswith(".") for part in relative.parts)
                and relative.parts[0] not in INTERNAL_DIRS
                and relative.as_posix() not in INTERNAL
            ):
                names.append(relative.as_posix())
        return sorted(names, key=lambda n: (n.count("/"), n))

    def has_colornet(self) -> bool:
        return all((self.out / name).is_file() for name in COLORNET_FILES)

    def metrics(self, styles: list[str]) -> dict[str, object]:
        """report.json once written; before that, the sections of the finished stages."""
        report = _read(self.out / "report.json")
        if report is not None:
            return report
        sections: dict[str, object] = {}
        if (nerf := _read(self.out / "nerf" / "result.json")) is not None:
            sections["nerf"] = nerf
        if (mesh := _read(self.out / "stages" / "mesh.json")) is not None:
            sections["mesh"] = mesh
        finished = [_read(self.out / "stages" / f"style_{name}.json") for name in styles]
        if any(s is not None for s in finished):
            sections["styles"] = [s for s in finished if s is not None]
        if (colornet := _read(self.out / "stages" / "colornet.json")) is not None:
            sections["colornet"] = colornet
        return sections


def _read(path: Path) -> dict | None:
    """A JSON object from a finished file, or None (absent, or not readable as one)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
