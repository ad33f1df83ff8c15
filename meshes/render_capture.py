"""Render a multi-view capture of a mesh with Blender Cycles (CPU), NeRF-synthetic layout.

Run by ``python -m backend capture-synth`` in a separate process (the backend package never
imports bpy). Writes ``train/r_*.png``, ``test/r_*.png`` (RGBA), ``transforms_train.json``,
``transforms_test.json`` and ``gt_mesh.ply`` (the surface in the capture's coordinates).
The first held-out view is a straight frontal portrait, the others fill the gaps of the
training spiral.

Lighting is a fixed key and fill sun plus an albedo-proportional ambient term, with no
indirect bounces, so shading carries no Monte Carlo noise; pixels are anti-aliased with
Cycles' default 1.5 px Blackman-Harris filter, as a real camera integrates over its pixels
and as the NeRF-synthetic scenes were rendered. The only sampling noise left is in the
anti-aliasing of edges, which ``--samples`` (default 64) keeps well below 8-bit steps.

Options make a capture look more like a real one: ``--framing`` below 1 moves the cameras
in so that the subject leaves the frame (0.6: the neck leaves the bottom in most views);
``--background textured`` puts the head inside an opaque, textured room (no alpha, as
photos come; something for feature matching to hold on to) and writes the head's true
coverage in the held-out views to ``gt_alpha/test/r_*.png``, which no transforms file
names: it is there to score a model on the head's pixels, never to train one;
``--jitter`` moves each camera off its ideal position and aim, and rolls it;
``--albedo-detail`` multiplies dark spots and fine noise into the albedo (freckles, pores,
stubble: detail a real skin has).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Quaternion, Vector

GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
FOCAL_MM, SENSOR_MM = 50.0, 36.0
AMBIENT = 0.22


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mesh", type=Path, required=True)
    parser.add_argument("--views", type=int, required=True)
    parser.add_argument("--heldout", type=int, default=8)
    parser.add_argument("--res", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--distance", type=float, default=0.0, help="0: fit the mesh")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--framing", type=float, default=1.0, help="< 1: the subject leaves")
    parser.add_argument("--background", choices=("none", "textured"), default="none")
    parser.add_argument("--jitter", type=float, default=0.0, help="camera jitter, 0 to 1")
    parser.add_argument("--albedo-detail", type=float, default=0.0, help="skin spots, 0 to 1")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def hemisphere_directions(count: int, offset: float) -> np.ndarray:
    """Directions from the head towards the cameras: a Fibonacci spiral over the front.

    Front is -Y. Elevations stay within [-35, 65] degrees so no camera looks straight up
    the neck or down the scalp, which a real face capture rig would not do either.
    """
    out = []
    for i in range(count):
        t = (i + 0.5 + offset) / count
        elevation = math.radians(-35.0 + 100.0 * t)
        azimuth = (i + offset) * GOLDEN_ANGLE
        azimuth = math.radians(-85.0) + (azimuth % math.radians(170.0))
        out.append(
            (
                math.cos(elevation) * math.sin(azimuth),
                -math.cos(elevation) * math.cos(azimuth),
                math.sin(elevation),
            )
        )
    return np.asarray(out, dtype=np.float64).reshape(-1, 3)  # (0, 3) when count is 0


def import_mesh(path: Path, detail: float = 0.0) -> bpy.types.Object:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.suffix.lower() in (".glb", ".gltf"):
        bpy.ops.import_scene.gltf(filepath=str(path))
    elif path.suffix.lower() == ".ply":
        bpy.ops.wm.ply_import(filepath=str(path))
    elif path.suffix.lower() == ".obj":
        bpy.ops.wm.obj_import(filepath=str(path))
    else:
        raise SystemExit(f"error: unsupported mesh format {path.suffix} (glb, gltf, ply, obj)")
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    if not meshes:
        raise SystemExit(f"error: {path} holds no mesh")
    for obj in meshes:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = meshes[0]
    if len(meshes) > 1:
        bpy.ops.object.join()
    obj = bpy.context.view_layer.objects.active
    obj.data.materials.clear()
    obj.data.materials.append(material(obj, detail))
    return obj


def material(obj: bpy.types.Object, detail: float = 0.0) -> bpy.types.Material:
    """Albedo from the mesh's colour attribute (grey without one), diffuse plus ambient;
    ``detail`` > 0 multiplies in dark spots a few pixels wide (freckles, moles: what
    feature matching finds on a real face; pixel grain alone gave it no point on the
    head) and fine noise (pores, stubble), both fixed to the surface."""
    mat = bpy.data.materials.new("CaptureAlbedo")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.6
    bsdf.inputs["Specular IOR Level"].default_value = 0.25
    attributes = obj.data.color_attributes
    if len(attributes):
        albedo = nodes.new("ShaderNodeVertexColor")
        albedo.layer_name = attributes[0].name
        colour = albedo.outputs["Color"]
    else:
        grey = nodes.new("ShaderNodeRGB")
        grey.outputs["Color"].default_value = (0.7, 0.7, 0.7, 1.0)
        colour = grey.outputs["Color"]
    if detail > 0.0:
        colour = _spotted(nodes, links, colour, detail, scale=40.0)
        colour = _speckled(nodes, links, colour, detail, scale=400.0)
    links.new(colour, bsdf.inputs["Base Color"])
    links.new(colour, bsdf.inputs["Emission Color"])
    bsdf.inputs["Emission Strength"].default_value = AMBIENT
    return mat


def _speckled(nodes, links, colour, amount: float, scale: float):
    """``colour`` darkened by up to ``amount`` by fine noise in object space."""
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = scale
    noise.inputs["Detail"].default_value = 4.0
    return _darkened(nodes, links, colour, noise.outputs["Fac"], amount)


def _spotted(nodes, links, colour, amount: float, scale: float):
    """``colour`` darkened by up to ``amount`` in a small round spot in each Voronoi
    cell (of varying size: the surface cuts the 3D cells anywhere)."""
    cells = nodes.new("ShaderNodeTexVoronoi")
    cells.inputs["Scale"].default_value = scale
    edge = nodes.new("ShaderNodeMapRange")
    edge.inputs["From Min"].default_value = 0.15
    edge.inputs["From Max"].default_value = 0.25
    links.new(cells.outputs["Distance"], edge.inputs["Value"])
    return _darkened(nodes, links, colour, edge.outputs["Result"], amount)


def _patched(nodes, links, colour, amount: float, scale: float):
    """``colour`` darkened by up to ``amount`` by a value that is constant over each
    Voronoi cell and jumps at its border."""
    cells = nodes.new("ShaderNodeTexVoronoi")
    cells.inputs["Scale"].default_value = scale
    value = nodes.new("ShaderNodeRGBToBW")
    links.new(cells.outputs["Color"], value.inputs["Color"])
    return _darkened(nodes, links, colour, value.outputs["Val"], amount)


def _darkened(nodes, links, colour, fac, amount: float):
    """``colour`` times (1 - amount + amount * fac), fac in [0, 1]."""
    ramp = nodes.new("ShaderNodeMapRange")
    ramp.inputs["To Min"].default_value = 1.0 - amount
    ramp.inputs["To Max"].default_value = 1.0
    links.new(fac, ramp.inputs["Value"])
    mix = nodes.new("ShaderNodeMix")
    mix.data_type, mix.blend_type = "RGBA", "MULTIPLY"
    mix.inputs["Factor"].default_value = 1.0
    links.new(colour, mix.inputs["A"])
    links.new(ramp.outputs["Result"], mix.inputs["B"])
    return mix.outputs["Result"]


def add_room(centre: np.ndarray, radius: float) -> bpy.types.Object:
    """An opaque sphere around the scene, inside textured with soft blotches, flat patches
    of other brightness with sharp borders (as a real room's furniture, frames and tiles
    give feature matching corners to hold on to; blotches alone left the views from below
    with a few dozen points) and fine grain; lit by the ambient term only, so it looks the
    same from every camera."""
    bpy.ops.mesh.primitive_uv_sphere_add(
        segments=64, ring_count=32, radius=radius, location=Vector(centre)
    )
    room = bpy.context.active_object
    mat = bpy.data.materials.new("Room")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.remove(nodes["Principled BSDF"])
    voronoi = nodes.new("ShaderNodeTexVoronoi")
    voronoi.inputs["Scale"].default_value = 6.0
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (0.15, 0.22, 0.35, 1.0)
    ramp.color_ramp.elements[1].color = (0.85, 0.7, 0.45, 1.0)
    links.new(voronoi.outputs["Distance"], ramp.inputs["Fac"])
    colour = _patched(nodes, links, ramp.outputs["Color"], 0.6, scale=10.0)
    colour = _speckled(nodes, links, colour, 0.5, scale=60.0)
    emission = nodes.new("ShaderNodeEmission")
    links.new(colour, emission.inputs["Color"])
    links.new(emission.outputs["Emission"], nodes["Material Output"].inputs["Surface"])
    room.data.materials.append(mat)
    return room


def setup_scene(res: int, samples: int, opaque: bool = False) -> None:
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0
    scene.cycles.filter_width = 1.5
    scene.cycles.seed = 0
    scene.render.film_transparent = not opaque
    scene.render.resolution_x = scene.render.resolution_y = res
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.image_settings.color_depth = "8"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    world = bpy.data.worlds.new("Black")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.0
    scene.world = world
    for name, energy, rotation in (("Key", 2.6, (50, 10, -35)), ("Fill", 1.0, (70, 0, 60))):
        light = bpy.data.lights.new(name, "SUN")
        light.energy = energy
        light.angle = 0.0
        obj = bpy.data.objects.new(name, light)
        obj.rotation_euler = [math.radians(a) for a in rotation]
        scene.collection.objects.link(obj)


def bounds(obj: bpy.types.Object) -> tuple[np.ndarray, float]:
    corners = np.array([obj.matrix_world @ Vector(c) for c in obj.bound_box])
    centre = (corners.min(axis=0) + corners.max(axis=0)) / 2.0
    return centre, float(np.linalg.norm(corners.max(axis=0) - corners.min(axis=0)) / 2.0)


def add_camera(position: np.ndarray, target: np.ndarray, roll: float = 0.0) -> bpy.types.Object:
    data = bpy.data.cameras.new("CaptureCam")
    data.lens, data.sensor_width, data.sensor_fit = FOCAL_MM, SENSOR_MM, "HORIZONTAL"
    data.clip_start, data.clip_end = 0.01, 100.0
    cam = bpy.data.objects.new("CaptureCam", data)
    bpy.context.scene.collection.objects.link(cam)
    cam.location = Vector(position)
    aim = (Vector(target) - cam.location).to_track_quat("-Z", "Y")
    cam.rotation_mode = "QUATERNION"
    cam.rotation_quaternion = aim @ Quaternion((0.0, 0.0, 1.0), roll)
    bpy.context.view_layer.update()
    return cam


def render_split(
    split: str, dirs: np.ndarray, centre, distance, out: Path, jitter: float, rng
) -> list[bpy.types.Object]:
    scene = bpy.context.scene
    frames, cameras = [], []
    for i, direction in enumerate(dirs):
        position, target, roll = centre + distance * direction, np.asarray(centre), 0.0
        if jitter > 0.0:
            position = position + rng.normal(0.0, 0.05 * jitter * distance, 3)
            target = target + rng.normal(0.0, 0.05 * jitter * distance, 3)
            roll = rng.normal(0.0, math.radians(5.0) * jitter)
        cam = add_camera(position, target, roll)
        cameras.append(cam)
        scene.camera = cam
        scene.render.filepath = str(out / split / f"r_{i}.png")
        bpy.ops.render.render(write_still=True)
        matrix = [list(row) for row in cam.matrix_world]
        frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": matrix})
        print(f"rendered {split} {i + 1}/{len(dirs)}", flush=True)
    angle_x = 2.0 * math.atan(SENSOR_MM / (2.0 * FOCAL_MM))
    meta = {"camera_angle_x": angle_x, "frames": frames}
    (out / f"transforms_{split}.json").write_text(json.dumps(meta, indent=2))
    return cameras


def render_true_alpha(room: bpy.types.Object, cameras: list, out: Path) -> None:
    """Render the held-out cameras again without the room, on transparent film, to keep
    the head's coverage as ground truth for scoring (``gt_alpha/test/``)."""
    scene = bpy.context.scene
    room.hide_render = True
    scene.render.film_transparent = True
    for i, cam in enumerate(cameras):
        scene.camera = cam
        scene.render.filepath = str(out / "gt_alpha" / "test" / f"r_{i}.png")
        bpy.ops.render.render(write_still=True)


def write_ground_truth(obj: bpy.types.Object, out: Path) -> None:
    import trimesh

    mesh = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    mesh.calc_loop_triangles()
    verts = np.array([obj.matrix_world @ v.co for v in mesh.vertices], dtype=np.float64)
    faces = np.array([t.vertices[:] for t in mesh.loop_triangles], dtype=np.int64)
    trimesh.Trimesh(verts, faces, process=False).export(out / "gt_mesh.ply")


def main(argv: list[str]) -> None:
    args = parse(argv)
    obj = import_mesh(args.mesh, args.albedo_detail)
    setup_scene(args.res, args.samples, opaque=args.background == "textured")
    centre, radius = bounds(obj)
    half_fov = math.atan(SENSOR_MM / (2.0 * FOCAL_MM))
    distance = args.distance or radius / math.sin(half_fov) * 0.8 * args.framing
    room = add_room(centre, 3.0 * distance) if args.background == "textured" else None
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    split = (centre, distance, args.out, args.jitter, rng)
    render_split("train", hemisphere_directions(args.views, 0.0), *split)
    if args.heldout:
        front = np.array([[0.0, -1.0, 0.0]])
        test_dirs = np.vstack([front, hemisphere_directions(args.heldout - 1, 0.5)])
        cameras = render_split("test", test_dirs, *split)
        if room is not None:
            render_true_alpha(room, cameras, args.out)
    write_ground_truth(obj, args.out)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:])
