"""Build the sample head asset ``meshes/head.glb`` with Blender (bpy).

Run: ``python meshes/build_head.py`` (needs the ``bpy`` module from the dev extra).
An icosphere from Blender's own primitives is displaced by the analytic head shape in
``head_shape.py`` and painted with its procedural albedo as a vertex colour attribute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import head_shape

SUBDIVISIONS = 7
OUT = Path(__file__).resolve().parent / "head.glb"


def build(out: Path = OUT) -> None:
    mesh = head_object("SampleHead").data
    points = np.array([v.co[:] for v in mesh.vertices], dtype=np.float64) / head_shape.SCALE
    export_vertex_coloured(mesh, head_shape.colour(points), out)


def head_object(name: str) -> bpy.types.Object:
    """A fresh scene holding the analytic head shape (life size) as object ``name``."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=SUBDIVISIONS, radius=1.0)
    obj = bpy.context.active_object
    obj.name = obj.data.name = name
    mesh = obj.data
    dirs = np.array([v.co[:] for v in mesh.vertices], dtype=np.float64)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    points = dirs * head_shape.radius(dirs)[:, None]
    mesh.vertices.foreach_set("co", (points * head_shape.SCALE).astype(np.float32).ravel())
    obj.data.materials.append(_vertex_colour_material())
    return obj


def export_vertex_coloured(mesh: bpy.types.Mesh, colours: np.ndarray, out: Path) -> None:
    """Paint ``colours`` (V, 3) as the mesh's colour attribute, shade it smooth, and
    export the scene as a GLB carrying those colours and normals, no UVs."""
    attribute = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
    rgba = np.concatenate([colours, np.ones((len(colours), 1))], axis=1).astype(np.float32)
    attribute.data.foreach_set("color", rgba.ravel())
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
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


def _vertex_colour_material() -> bpy.types.Material:
    material = bpy.data.materials.new("HeadSkin")
    material.use_nodes = True
    nodes = material.node_tree.nodes
    bsdf = nodes["Principled BSDF"]
    colour = nodes.new("ShaderNodeVertexColor")
    colour.layer_name = "Col"
    material.node_tree.links.new(colour.outputs["Color"], bsdf.inputs["Base Color"])
    return material


if __name__ == "__main__":
    build()
