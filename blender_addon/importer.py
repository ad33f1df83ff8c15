"""Import result GLBs with Blender's own glTF importer into a collection of their own.

The backend writes glTF 2.0 (+Y up), so Blender's importer alone puts the head back in
the capture's coordinates (Blender world coordinates when the capture came from this
scene), lined up with its cameras. GLBs written before that convention hold raw capture
coordinates and carry no ``up`` record in their extras (which the importer puts on the
mesh data); for those the importer's +Y-up to +Z-up rotation is undone. Only objects this
module creates are touched; the user's selection and active collection are restored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import bpy
from mathutils import Matrix

JOB_KEY = "stylized_heads_job"
BACKEND_KEY = "stylized_heads_backend"
STYLE_KEY = "stylized_heads_style"
JOB_NAME_KEY = "stylized_heads_job_name"
UNDO_GLTF_AXES = Matrix.Rotation(math.radians(-90.0), 4, "X")


def style_of(glb: Path) -> str:
    """The style name a result file carries in its name (``stylized_<style>.glb``)."""
    stem = glb.stem
    return stem[len("stylized_") :] if stem.startswith("stylized_") else ""


def import_results(
    glbs: Iterable[Path],
    job_id: str,
    job_name: str,
    backend_url: str,
    scene: bpy.types.Scene | None = None,
) -> bpy.types.Collection:
    """A new collection named after the job holding every imported head, tagged."""
    scene = scene or bpy.context.scene
    collection = bpy.data.collections.new(job_name or f"Stylized {job_id[:8]}")
    collection[JOB_KEY], collection[BACKEND_KEY], collection[JOB_NAME_KEY] = (
        job_id,
        backend_url,
        job_name,
    )
    scene.collection.children.link(collection)
    for glb in glbs:
        for obj in import_glb(glb, collection, scene):
            obj[JOB_KEY], obj[BACKEND_KEY], obj[JOB_NAME_KEY] = job_id, backend_url, job_name
            obj[STYLE_KEY] = style_of(glb)
    return collection


def import_glb(
    glb: Path, collection: bpy.types.Collection, scene: bpy.types.Scene
) -> list[bpy.types.Object]:
    """Run the glTF importer with ``collection`` active; returns the objects it created."""
    view_layer = bpy.context.view_layer
    before = set(bpy.data.objects)
    active_collection = view_layer.active_layer_collection
    active_object = view_layer.objects.active
    view_layer.active_layer_collection = _layer_collection(view_layer.layer_collection, collection)
    try:
        result = bpy.ops.import_scene.gltf(filepath=str(glb), import_select_created_objects=False)
    finally:
        view_layer.active_layer_collection = active_collection
        view_layer.objects.active = active_object
    if "FINISHED" not in result:
        raise RuntimeError(f"Blender's glTF importer could not read {glb}")
    created = [o for o in bpy.data.objects if o not in before]
    for obj in created:
        for owner in list(obj.users_collection):
            if owner != collection:
                owner.objects.unlink(obj)
        if obj not in collection.objects[:]:
            collection.objects.link(obj)
        if obj.parent is None and _predates_gltf_axes(obj):
            obj.matrix_world = UNDO_GLTF_AXES @ obj.matrix_world
    return created


def _predates_gltf_axes(obj: bpy.types.Object) -> bool:
    """A backend mesh written in raw capture coordinates (no ``up`` in its extras)."""
    return obj.type == "MESH" and obj.data.get("up") != "+Y"


def _layer_collection(
    root: bpy.types.LayerCollection, collection: bpy.types.Collection
) -> bpy.types.LayerCollection:
    if root.collection == collection:
        return root
    for child in root.children:
        found = _layer_collection(child, collection)
        if found is not None:
            return found
    return None


def image_texture_node(material: bpy.types.Material) -> bpy.types.ShaderNodeTexImage | None:
    """The node that feeds the base colour (the glTF importer's texture node)."""
    if material is None or not material.use_nodes:
        return None
    nodes = [n for n in material.node_tree.nodes if n.type == "TEX_IMAGE"]
    for node in nodes:
        if any(link.to_socket.name == "Base Color" for link in node.outputs["Color"].links):
            return node
    return nodes[0] if nodes else None


def stylized_heads(objects: Iterable[bpy.types.Object]) -> list[bpy.types.Object]:
    return [o for o in objects if o.type == "MESH" and o.get(JOB_KEY)]
