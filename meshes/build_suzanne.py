"""Build ``meshes/suzanne.glb``: a head of harder shape than the sample head, with bpy.

Blender's own Suzanne, subdivided twice: large ears, deep eye sockets and a brow ridge
that hide surface from most cameras. It is placed off the origin and scaled, so that
nothing in the pipeline can rely on a unit head at the centre. Its albedo (a colour
attribute) is a light face mask on brown fur, dark eyes and a fine stripe pattern, so
that a stylized result shows whether the face stays readable.
Run: ``python meshes/build_suzanne.py`` (needs the ``bpy`` module from the dev extra).
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

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
    colours = albedo(points, normals)
    attribute = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
    rgba = np.concatenate([colours, np.ones((len(colours), 1))], axis=1).astype(np.float32)
    attribute.data.foreach_set("color", rgba.ravel())
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    mesh.vertices.foreach_set(
        "co", (points * SCALE + np.array(LOCATION)).astype(np.float32).ravel()
    )
    mesh.update()
    bpy.ops.export_scene.gltf(
        filepath=str(out),
        export_format="GLB",
        export_vertex_color="ACTIVE",
        export_all_vertex_colors=False,
        export_normals=True,
        export_texcoords=False,
    )
    print(f"wrote {out} ({len(mesh.vertices)} vertices, {len(mesh.polygons)} faces)")


if __name__ == "__main__":
    build()
