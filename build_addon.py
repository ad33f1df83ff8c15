"""Build the installable Blender extension: ``python build_addon.py`` -> dist/<id>-<version>.zip.

The zip holds ``blender_addon/`` at its root (manifest first), without tests, caches or
hidden files. When Blender's ``bpy`` module is importable, the archive is checked with
Blender's own extension validator (the script behind ``blender --command extension
validate``); without it, the manifest checks that matter for installing are done here.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "blender_addon"
MANIFEST = "blender_manifest.toml"
EXCLUDE_DIRS = ("__pycache__", "tests", ".ruff_cache", ".pytest_cache")
EXCLUDE_FILES = ("*.pyc", "*.pyo", ".*", "*.orig", "*.rej", "*~")
REQUIRED = (
    "schema_version",
    "id",
    "version",
    "name",
    "tagline",
    "maintainer",
    "type",
    "blender_version_min",
    "license",
)


def included(path: Path) -> bool:
    parts = path.relative_to(SOURCE).parts
    if any(p in EXCLUDE_DIRS or p.startswith(".") for p in parts[:-1]):
        return False
    return not any(fnmatch.fnmatch(parts[-1], pattern) for pattern in EXCLUDE_FILES)


def read_manifest(source: Path = SOURCE) -> dict:
    with (source / MANIFEST).open("rb") as fh:
        return tomllib.load(fh)


def check_manifest(manifest: dict) -> list[str]:
    """The validator's rules this extension relies on, for machines without Blender."""
    problems = [f"missing key '{k}'" for k in REQUIRED if k not in manifest]
    if manifest.get("schema_version") != "1.0.0":
        problems.append('schema_version must be "1.0.0"')
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(manifest.get("id", ""))):
        problems.append("id must be an identifier (letters, digits, '_')")
    tagline = str(manifest.get("tagline", ""))
    if len(tagline) > 64 or tagline[-1:] in ".!?,;:":
        problems.append("tagline must be at most 64 characters, without final punctuation")
    if not all(str(lic).startswith("SPDX:") for lic in manifest.get("license", [])):
        problems.append("licenses must be SPDX identifiers ('SPDX:...')")
    for name, reason in manifest.get("permissions", {}).items():
        if not reason or len(reason) > 64 or reason[-1:] in ".!?,;:":
            problems.append(f"permission '{name}' needs a short reason without final punctuation")
    for key in ("version", "blender_version_min"):
        if not re.fullmatch(r"\d+\.\d+\.\d+", str(manifest.get(key, ""))):
            problems.append(f"{key} must be a version like 1.2.3")
    return problems


def blender_validator() -> Path | None:
    """Blender's extension CLI script, shipped in the bpy module's bundled add-ons."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        found = sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    return None


def validate(archive: Path) -> str:
    """Validate with Blender's validator when present, else with :func:`check_manifest`."""
    validator = blender_validator()
    if validator is None:
        with zipfile.ZipFile(archive) as zf:
            problems = check_manifest(tomllib.loads(zf.read(MANIFEST).decode("utf-8")))
        if problems:
            raise SystemExit("error: " + "; ".join(problems))
        return "manifest checked by build_addon.py (Blender's validator not available)"
    result = subprocess.run(
        [sys.executable, str(validator), "validate", str(archive)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"error: Blender's extension validator refused {archive}:\n"
            f"{(result.stdout + result.stderr).strip()}"
        )
    return f"validated by Blender's extension validator ({validator.name})"


def build(out_dir: Path) -> Path:
    manifest = read_manifest()
    problems = check_manifest(manifest)
    if problems:
        raise SystemExit("error: blender_manifest.toml: " + "; ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    files = sorted(p for p in SOURCE.rglob("*") if p.is_file() and included(p))
    files.sort(key=lambda p: p.name != MANIFEST)
    partial = archive.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, path.relative_to(SOURCE).as_posix())
    partial.replace(archive)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    args = parser.parse_args(argv)
    archive = build(args.out)
    print(f"{archive}: {validate(archive)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
