"""Captures out of a Blender scene: selected cameras with their images, or renders of a mesh.

Only reads the user's data: images are written as new files (a temporary copy when an
image lives only in memory), and renders happen in a scene of their own that is removed
afterwards, so the user's scenes, objects and images stay as they were.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import bpy
from mathutils import Matrix, Vector

from .capture_format import (
    BlenderLens,
    CaptureExportError,
    CaptureFrame,
    fit_distance,
    hemisphere_directions,
    pinhole,
    rigid,
    write_transforms,
)

IMAGE_FOLDER = "images"
RENDER_LENS = BlenderLens(50.0, 36.0, 36.0, "HORIZONTAL")
_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "OPEN_EXR": ".exr", "TIFF": ".tif", "WEBP": ".webp"}


def camera_image(camera: bpy.types.Object) -> bpy.types.Image | None:
    """The photo of a camera: its first background image, else an image named after it."""
    for background in camera.data.background_images:
        if background.source == "IMAGE" and background.image is not None:
            return background.image
    for image in bpy.data.images:
        if camera.name in (image.name, Path(image.name).stem):
            return image
    return None


def export_cameras(cameras: Iterable[bpy.types.Object], root: Path) -> Path:
    """Write ``root/transforms.json`` and the images of the given cameras; returns root."""
    cameras = sorted(cameras, key=lambda c: c.name)
    if not cameras:
        raise CaptureExportError("select the capture's cameras first (no camera is selected)")
    (root / IMAGE_FOLDER).mkdir(parents=True, exist_ok=True)
    frames = []
    for camera in cameras:
        if camera.type != "CAMERA" or camera.data.type != "PERSP":
            raise CaptureExportError(f"'{camera.name}' is not a perspective camera")
        image = camera_image(camera)
        if image is None:
            raise CaptureExportError(
                f"camera '{camera.name}' has no image: give it a background image or "
                f"load an image named '{camera.name}'"
            )
        width, height = image.size[:]
        if width == 0 or height == 0:
            raise CaptureExportError(f"image '{image.name}' of '{camera.name}' has no pixels")
        relative = f"{IMAGE_FOLDER}/{_safe(camera.name)}"
        written = write_image(image, root / relative)
        fl_x, fl_y, cx, cy = pinhole(_lens(camera.data), width, height)
        pose = rigid([list(row) for row in camera.matrix_world])
        frames.append(
            CaptureFrame(f"{IMAGE_FOLDER}/{written.name}", pose, fl_x, fl_y, cx, cy, width, height)
        )
    write_transforms(root, frames)
    return root


def _lens(data: bpy.types.Camera) -> BlenderLens:
    return BlenderLens(
        data.lens,
        data.sensor_width,
        data.sensor_height,
        data.sensor_fit,
        data.shift_x,
        data.shift_y,
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "camera"


def write_image(image: bpy.types.Image, stem: Path) -> Path:
    """Put the image's pixels in a file next to ``stem``, never changing the image itself."""
    source = Path(bpy.path.abspath(image.filepath)) if image.filepath else None
    dest = stem.parent / (stem.name + _suffix(image, source))
    if image.packed_file is None and source is not None and source.is_file():
        shutil.copyfile(source, dest)
        return dest
    if image.packed_file is not None:
        dest.write_bytes(image.packed_file.data)
        return dest
    copy = image.copy()
    try:
        copy.filepath_raw = str(dest)
        copy.file_format = "PNG"
        copy.save()
    finally:
        bpy.data.images.remove(copy)
    return dest


def _suffix(image: bpy.types.Image, source: Path | None) -> str:
    """The file suffix of what :func:`write_image` writes (names may contain dots)."""
    if image.packed_file is None and source is not None and source.is_file():
        return source.suffix.lower()
    if image.packed_file is not None:
        return _EXTENSIONS.get(image.file_format, ".png")
    return ".png"


class MeshCaptureRenderer:
    """Renders N views of one object with Cycles, one view per call, into a capture folder.

    One view per call lets the panel render from a timer and stay responsive between
    views (BlenderNeRF renders the same kind of spiral, but all at once).
    """

    def __init__(
        self, obj: bpy.types.Object, root: Path, views: int, resolution: int, samples: int
    ) -> None:
        if obj is None or obj.type != "MESH":
            raise CaptureExportError("select the mesh to render (the active object is no mesh)")
        if views < 2:
            raise CaptureExportError("render at least 2 views")
        self.root = root
        self.views = views
        self.resolution = resolution
        self.frames: list[CaptureFrame] = []
        self._scene = _render_scene(obj, resolution, samples)
        self._centre, radius = _bounds(obj)
        self._distance = fit_distance(radius, RENDER_LENS)
        self._directions = hemisphere_directions(views)
        (root / IMAGE_FOLDER).mkdir(parents=True, exist_ok=True)

    @property
    def done(self) -> bool:
        return len(self.frames) >= self.views

    def render_next(self) -> None:
        """Render the next view and record its frame."""
        index = len(self.frames)
        direction = Vector(self._directions[index])
        camera = self._scene.camera
        rotation = direction.to_track_quat("Z", "Y").to_matrix().to_4x4()
        pose_matrix = Matrix.Translation(self._centre + self._distance * direction) @ rotation
        camera.matrix_world = pose_matrix
        relative = f"{IMAGE_FOLDER}/view_{index:03d}.png"
        self._scene.render.filepath = str(self.root / relative)
        bpy.ops.render.render(write_still=True, scene=self._scene.name)
        fl_x, fl_y, cx, cy = pinhole(RENDER_LENS, self.resolution, self.resolution)
        pose = rigid([list(row) for row in pose_matrix])
        self.frames.append(
            CaptureFrame(relative, pose, fl_x, fl_y, cx, cy, self.resolution, self.resolution)
        )

    def finish(self) -> Path:
        """Write transforms.json and remove the render scene; returns the capture folder."""
        self.close()
        write_transforms(self.root, self.frames)
        return self.root

    def close(self) -> None:
        """Remove everything this renderer created in Blender (safe to call twice)."""
        scene, self._scene = self._scene, None
        if scene is None:
            return
        owned = [o for o in scene.collection.objects if o.get(_OWNED)]
        world = scene.world
        bpy.data.scenes.remove(scene)
        for obj in owned:
            data = obj.data
            bpy.data.objects.remove(obj)
            if isinstance(data, bpy.types.Camera):
                bpy.data.cameras.remove(data)
            elif isinstance(data, bpy.types.Light):
                bpy.data.lights.remove(data)
        if world is not None and world.get(_OWNED):
            bpy.data.worlds.remove(world)


_OWNED = "stylized_heads_render"


def _render_scene(obj: bpy.types.Object, resolution: int, samples: int) -> bpy.types.Scene:
    """A scene of its own holding the user's object (linked, not copied), lights, a camera."""
    scene = bpy.data.scenes.new("Stylized Heads capture render")
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.film_transparent = True
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.view_settings.view_transform = "Standard"
    world = bpy.data.worlds.new("Stylized Heads capture light")
    world[_OWNED] = True
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.6
    scene.world = world
    scene.collection.objects.link(obj)
    sun = bpy.data.objects.new("Capture key light", bpy.data.lights.new("Capture key", "SUN"))
    sun.data.energy = 2.5
    sun.rotation_euler = (math.radians(50), 0.0, math.radians(-35))
    data = bpy.data.cameras.new("Capture camera")
    data.lens, data.sensor_width, data.sensor_fit = (
        RENDER_LENS.lens_mm,
        RENDER_LENS.sensor_width,
        RENDER_LENS.sensor_fit,
    )
    data.clip_start, data.clip_end = 0.001, 1000.0
    camera = bpy.data.objects.new("Capture camera", data)
    for owned in (sun, camera):
        owned[_OWNED] = True
        scene.collection.objects.link(owned)
    scene.camera = camera
    return scene


def _bounds(obj: bpy.types.Object) -> tuple[Vector, float]:
    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    low = Vector([min(c[i] for c in corners) for i in range(3)])
    high = Vector([max(c[i] for c in corners) for i in range(3)])
    return (low + high) / 2.0, max((high - low).length / 2.0, 1e-3)
