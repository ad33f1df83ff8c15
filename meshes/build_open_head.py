"""Build ``meshes/open_head.glb``: the sample head open at the back, as scans often are.

The sample head's surface (see ``build_head.py``) without the faces behind a vertical
plane a quarter of the head's depth behind its centre: a shell of zero thickness whose
rim the side cameras see edge-on and whose inside they glimpse. The capture's truth is
then the open shell, so the product's closed head can only be measured where the shell
is (its accuracy), and the rest must be a plausible back, not a copy of the truth.
Run: ``python meshes/build_open_head.py`` (needs the ``bpy`` module from the dev extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import head_shape
from build_head import export_vertex_coloured, head_object

OUT = Path(__file__).resolve().parent / "open_head.glb"
# The cut, in the head's unscaled units (it faces -Y and reaches y = 0.86 at the back).
CUT_Y = 0.25


def build(out: Path = OUT) -> None:
    whole = head_object("OpenHead").data
    points = np.array([v.co[:] for v in whole.vertices], dtype=np.float64)
    faces = np.array([p.vertices[:] for p in whole.polygons], dtype=np.int64)
    kept = points[:, 1] <= CUT_Y * head_shape.SCALE
    faces = faces[kept[faces].all(axis=1)]
    index = np.cumsum(kept) - 1
    shell = bpy.data.meshes.new("OpenHead")
    shell.from_pydata(points[kept].tolist(), [], index[faces].tolist())
    shell.materials.append(whole.materials[0])
    bpy.context.active_object.data = shell
    bpy.data.meshes.remove(whole)
    export_vertex_coloured(shell, head_shape.colour(points[kept] / head_shape.SCALE), out)


if __name__ == "__main__":
    build()
