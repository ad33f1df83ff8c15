"""Two independent glTF clients, run with Node over GLBs the product wrote.

The Khronos validator (npm ``gltf-validator``) and ``@gltf-transform/core``, pinned in
``tests/gltf_clients/package-lock.json`` and installed there with ``npm ci`` on first use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CLIENTS = Path(__file__).parent / "gltf_clients"


def _installed() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node and npm run the glTF validator: install Node 18 or newer")
    if not (CLIENTS / "node_modules" / "gltf-validator").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, check=True, capture_output=True
        )
    return Path(node)


def read_with_clients(*glbs: Path) -> dict[str, dict]:
    """What the validator and glTF-Transform say about each GLB, keyed by its path."""
    node = _installed()
    proc = subprocess.run(
        [str(node), str(CLIENTS / "check.mjs"), *map(str, glbs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def assert_valid_and_upright(
    glb: Path, capture_vertices: np.ndarray, material: str = "lit"
) -> dict:
    """0 validator errors and warnings; the mesh +Y up (the capture's +Z), textured, lit
    (with normals) or unlit as asked."""
    (seen,) = read_with_clients(glb).values()
    assert seen["validator"]["errors"] == 0, seen["validator"]["messages"]
    assert seen["validator"]["warnings"] == 0, seen["validator"]["messages"]
    assert seen["meshes"] == 1
    lo, hi = capture_vertices.min(axis=0), capture_vertices.max(axis=0)
    expected_min = [lo[0], lo[2], -hi[1]]
    expected_max = [hi[0], hi[2], -lo[1]]
    np.testing.assert_allclose(seen["bounds"]["min"], expected_min, atol=1e-5)
    np.testing.assert_allclose(seen["bounds"]["max"], expected_max, atol=1e-5)
    (written,) = seen["materials"]
    assert written["mime"] == "image/png" and min(written["size"]) >= 8
    assert written["unlit"] == (material == "unlit")
    (attributes,) = seen["attributes"]
    expected = ["POSITION", "TEXCOORD_0"] + (["NORMAL"] if material == "lit" else [])
    assert sorted(attributes) == sorted(expected)
    (extras,) = seen["extras"]
    assert extras["up"] == "+Y" and extras["units"] == "metres"
    assert extras["material"] == material
    return seen
