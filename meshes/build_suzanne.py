"""Build ``meshes/suzanne.glb``: a head of harder shape than the sample head, with bpy.

Blender's own Suzanne, subdivided twice: large ears, deep eye sockets and a brow ridge
that hide surface from most cameras. It is placed off the origin and scaled, so that
nothing in the pipeline can rely on a unit head at the centre. Its albedo (a colour
attribute) is a light face mask on brown fur, dark eyes and a fine stripe pattern, so
that a stylized result shows whether the face stays readable.
Run: ``python meshes/build_suzanne.py`` (needs the ``bpy`` module from the dev extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_head import export_vertex_coloured

OUT = Path(__file__).resolve().parent / "suzanne.glb"
LOCATION = (0.35, -0.2, 0.25)
SCALE = 0.6
EYES = np.array([[0.47, -0.8, 0.2], [-0.47, -0.8, 0.2]])


def albedo(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Colour per vertex in Suzanne's own (unscaled) coordinates."""
    fur = np.array([0.35, 0.22, 0.12])
    face = np.array([0.85, 0.68, 0.52])
    front = np.clip((-normals[:, 1] - 0.2) * 3.0, 0.0, 1.0) * (points[:, 2] < 0.55)
    colour = fur + (face - fur) * front[:, None]
    stripes = 0.08 * np.sin(40.0 * points[:, 2] + 10.0 * points[:, 0])
    colour = colour * (1.0 + stripes[:, None])
    eye = np.min(np.linalg.norm(points[:, None] - EYES[None], axis=-1), axis=1) < 0.18
    colour[eye] = [0.05, 0.05, 0.08]
    return np.clip(colour, 0.0, 1.0)


def build(out: Path = OUT) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add(size=2.0)
    obj = bpy.context.active_object
    obj.name = obj.data.name = "Suzanne"
    modifier = obj.modifiers.new("Subdivision", "SUBSURF")
    modifier.levels = modifier.render_levels = 2
    bpy.ops.object.modifier_apply(modifier=modifier.name)
    mesh = obj.data
    points = np.array([v.co[:] for v in mesh.vertices], dtype=np.float64)
    normals = np.array([v.normal[:] for v in mesh.vertices], dtype=np.float64)
    mesh.vertices.foreach_set(
        "co", (points * SCALE + np.array(LOCATION)).astype(np.float32).ravel()
    )
    export_vertex_coloured(mesh, albedo(points, normals), out)


if __name__ == "__main__":
    build()
