"""Drive the Blender extension through the bpy module, each scenario in its own process.

bpy is process-global state (and does not mix well with torch in one process), so every
scenario runs in a fresh Python with Blender's user folders pointed into a temporary
"home": the extension is installed there from the built zip, exactly as a user would.
Scenario functions below run inside that process and print one ``RESULT <json>`` line.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import threading
from email import message_from_bytes
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADDON = "bl_ext.user_default.stylized_heads"
RESULT = "RESULT "


def blender_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key, sub in (
        ("CONFIG", "config"),
        ("SCRIPTS", "scripts"),
        ("EXTENSIONS", "extensions"),
        ("DATAFILES", "datafiles"),
    ):
        env[f"BLENDER_USER_{key}"] = str(home / sub)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def run_scenario(name: str, home: Path, timeout: float = 240.0, **kwargs: Any) -> dict:
    """Run ``name(**kwargs)`` from this module in a fresh bpy process; its result dict."""
    code = (
        "import json, sys; from tests import addon_helpers as h; "
        f"h.emit(h.{name}(**json.loads(sys.argv[1])))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kwargs)],
        env=blender_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        raise AssertionError(
            f"scenario {name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1][len(RESULT) :])


def emit(result: dict) -> None:
    print(RESULT + json.dumps(result), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- inside Blender ---------------------------------------------------------------------


def addon():
    """The installed, enabled extension module (preferences loaded from the home folder)."""
    import bpy

    bpy.ops.wm.read_userpref()
    return sys.modules[ADDON]


def set_prefs(**values: str) -> None:
    import bpy

    prefs = bpy.context.preferences.addons[ADDON].preferences
    for key, value in values.items():
        setattr(prefs, key, value)


class StubLayout:
    """Stands in for UILayout (which only exists while Blender draws a region) and checks
    that every property and operator the panel names exists."""

    def __init__(self, log: list) -> None:
        self.log = log
        self.use_property_split = False

    def row(self, **_: Any) -> StubLayout:
        return StubLayout(self.log)

    column = box = row

    def label(self, text: str = "", **_: Any) -> None:
        self.log.append(["label", text])

    def prop(self, data: Any, name: str, **_: Any) -> None:
        assert name in data.bl_rna.properties, f"{data} has no property {name}"
        self.log.append(["prop", name])

    def operator(self, idname: str, **_: Any) -> SimpleNamespace:
        import bpy

        module, op = idname.split(".")
        getattr(getattr(bpy.ops, module), op).get_rna_type()
        self.log.append(["operator", idname])
        return SimpleNamespace()

    def progress(self, factor: float = 0.0, text: str = "", **_: Any) -> None:
        self.log.append(["progress", factor, text])


def draw_panels() -> dict[str, list]:
    """Draw every panel of the extension that polls true, into stub layouts."""
    import bpy

    out = {}
    for name in (
        "STYLIZED_HEADS_PT_main",
        "STYLIZED_HEADS_PT_options",
        "STYLIZED_HEADS_PT_results",
        "STYLIZED_HEADS_PT_style_control",
    ):
        cls = getattr(bpy.types, name)
        if hasattr(cls, "poll") and not cls.poll(bpy.context):
            continue
        log: list = []
        cls.draw(SimpleNamespace(layout=StubLayout(log)), bpy.context)
        out[name] = log
    return out


def user_objects_state() -> dict[str, list]:
    """What the user's objects look like, to check the add-on left them alone (matrices
    rounded: Blender recomposes a matrix set by a script from location, rotation, scale)."""
    import bpy

    bpy.context.view_layer.update()
    return {
        o.name: [
            [[round(x, 5) for x in row] for row in o.matrix_world],
            o.data.name if o.data else "",
            sorted(c.name for c in o.users_collection),
        ]
        for o in bpy.data.objects
    }


def install(zip_path: str, prefs: dict[str, str]) -> dict:
    """Install the built zip like Blender's 'Install from Disk', set and save preferences."""
    import bpy

    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    set_prefs(**prefs)
    bpy.context.preferences.use_preferences_save = True
    bpy.ops.wm.save_userpref()
    return {"install": sorted(result), "addons": [a.module for a in bpy.context.preferences.addons]}


def prefs_and_panels() -> dict:
    """After a restart: are the saved preferences back, and do the panels draw?"""
    import bpy

    mod = addon()
    prefs = bpy.context.preferences.addons[ADDON].preferences
    idle = draw_panels()
    mod.session.repeat(lambda: False)  # pretend a job is running: progress and Cancel
    state = bpy.context.window_manager.stylized_heads
    state.progress, state.stage, state.message, state.eta_seconds = 0.4, "nerf", "step 5", 75
    busy = draw_panels()
    mod.session.reset()
    return {
        "backend_url": prefs.backend_url,
        "start_command": prefs.start_command,
        "idle": idle,
        "busy": busy,
    }


def stylize_refused(capture: str, url: str) -> dict:
    """Press Stylize against a backend that cannot be used; collect what the user sees."""
    import bpy

    addon()
    set_prefs(backend_url=url, token="x")
    settings = bpy.context.scene.stylized_heads
    settings.source, settings.folder = "FOLDER", capture
    settings.styles.add().kind = "BUILTIN"
    try:
        result, error = sorted(bpy.ops.stylized_heads.stylize()), ""
    except RuntimeError as exc:  # Blender turns an operator's ERROR report into this
        result, error = ["CANCELLED"], str(exc)
    state = bpy.context.window_manager.stylized_heads
    return {"result": result, "error": error, "report": state.report, "failed": state.failed}


def _head():
    import bpy

    before = set(bpy.data.objects)
    bpy.ops.import_scene.gltf(filepath=str(ROOT / "meshes" / "head.glb"))
    head = next(o for o in bpy.data.objects if o not in before and o.type == "MESH")
    return head


def export_scene_cameras(out: str) -> dict:
    """Cameras of three lens set-ups around the head, each with an image; export them and
    record where Blender projects some head vertices in each image."""
    import bpy
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    mod = addon()
    bpy.ops.wm.read_homefile(use_empty=True)
    head = _head()
    scene = bpy.context.scene
    setups = [  # name, size, fit, shift, object scale
        ("Cam.Landscape", (64, 48), "AUTO", (0.0, 0.0), 1.0),
        ("Cam Portrait", (40, 56), "VERTICAL", (0.1, -0.05), 1.0),
        ("CamScaled", (48, 48), "HORIZONTAL", (0.0, 0.08), 2.0),
    ]
    verts = [head.matrix_world @ v.co for v in list(head.data.vertices)[::97]]
    centre = sum(verts, Vector()) / len(verts)
    projections = {}
    for i, (name, (w, h), fit, shift, scale) in enumerate(setups):
        data = bpy.data.cameras.new(name)
        data.lens, data.sensor_fit = 40.0 + 10 * i, fit
        data.shift_x, data.shift_y = shift
        cam = bpy.data.objects.new(name, data)
        scene.collection.objects.link(cam)
        direction = Vector((0.6 * (i - 1), -1.0, 0.2 * i)).normalized()
        cam.location = centre + 1.2 * direction
        cam.rotation_euler = direction.to_track_quat("Z", "Y").to_euler()
        cam.scale = (scale, scale, scale)
        image = bpy.data.images.new(name, w, h)
        if i == 0:  # this one is a file on disk, used as the camera's background image
            image.filepath_raw = str(Path(out).parent / "photo.png")
            image.file_format = "PNG"
            image.save()
            data.background_images.new().image = image
            image.name = "photo"
        cam.select_set(True)
        bpy.context.view_layer.update()
        scene.render.resolution_x, scene.render.resolution_y = w, h
        pts = []
        for v in verts:
            x, y, _ = world_to_camera_view(scene, cam, v)
            pts.append([x * w, (1.0 - y) * h, *v])
        projections[name] = pts
    before = user_objects_state()
    cameras = [o for o in bpy.context.selected_objects if o.type == "CAMERA"]
    mod.capture_export.export_cameras(cameras, Path(out))
    return {
        "projections": projections,
        "untouched": before == user_objects_state(),
        "images": {i.name: i.filepath for i in bpy.data.images},
    }


def render_mesh_capture(out: str, views: int, resolution: int) -> dict:
    """Render a capture of the selected head; the user's scene must come back unchanged."""
    import bpy

    mod = addon()
    bpy.ops.wm.read_homefile(use_empty=True)
    head = _head()
    before = user_objects_state()
    counts = (len(bpy.data.scenes), len(bpy.data.cameras), len(bpy.data.lights))
    renderer = mod.capture_export.MeshCaptureRenderer(head, Path(out), views, resolution, 4)
    while not renderer.done:
        renderer.render_next()
    renderer.finish()
    after = (len(bpy.data.scenes), len(bpy.data.cameras), len(bpy.data.lights))
    verts = [list(head.matrix_world @ v.co) for v in list(head.data.vertices)[::53]]
    return {"untouched": before == user_objects_state() and counts == after, "vertices": verts}


def import_and_restyle(glb: str, png: str) -> dict:
    """Import a result GLB into the default scene, then give the head a new texture."""
    import bpy

    mod = addon()
    before = user_objects_state()
    collection = mod.importer.import_results([Path(glb)], "f" * 32, "my job", "http://x:1")
    heads = [o for o in collection.objects if o.type == "MESH"]
    head = heads[0]
    node = mod.importer.image_texture_node(head.material_slots[0].material)
    old = node.image.name
    new = mod.style_control.assign_texture(head, Path(png).read_bytes(), "restyled")
    untouched = all(before[k] == v for k, v in user_objects_state().items() if k in before)
    return {
        "collection": collection.name,
        "collection_in_scene": collection.name in bpy.context.scene.collection.children,
        "props": {k: v for k, v in head.items() if k.startswith("stylized_heads")},
        "vertices": [list(head.matrix_world @ v.co) for v in head.data.vertices],
        "old_image": old,
        "new_image": new.name,
        "node_image": node.image.name,
        "images": [i.name for i in bpy.data.images],
        "packed": new.packed_file is not None,
        "untouched": untouched and set(before) <= set(user_objects_state()),
    }


def import_with_blender_defaults(glb: str) -> dict:
    """Blender's own glTF importer, default settings, no add-on: the world vertices."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert "FINISHED" in bpy.ops.import_scene.gltf(filepath=glb)
    (head,) = [o for o in bpy.data.objects if o.type == "MESH"]
    return {"vertices": [list(head.matrix_world @ v.co) for v in head.data.vertices]}


def _cameras_from_capture(capture: Path, count: int) -> list:
    """The capture's training cameras as Blender cameras, each with an image of its name."""
    import math

    import bpy
    from mathutils import Matrix

    meta = json.loads((capture / "transforms_train.json").read_text())
    cameras = []
    for i, frame in enumerate(meta["frames"][:count]):
        data = bpy.data.cameras.new(f"CaptureCam{i:02d}")
        data.sensor_fit, data.sensor_width = "HORIZONTAL", 36.0
        data.lens = 18.0 / math.tan(meta["camera_angle_x"] / 2.0)
        cam = bpy.data.objects.new(data.name, data)
        bpy.context.scene.collection.objects.link(cam)
        cam.matrix_world = Matrix(frame["transform_matrix"])
        image = bpy.data.images.load(str(capture / (frame["file_path"] + ".png")))
        image.name = cam.name
        cam.select_set(True)
        cameras.append(cam)
    return cameras


def _on_head(cameras: list, head) -> float:
    """Share of the head's vertices that project onto opaque pixels of the cameras' images."""
    import bpy
    from bpy_extras.object_utils import world_to_camera_view

    scene = bpy.context.scene
    hits = total = 0
    verts = [head.matrix_world @ v.co for v in list(head.data.vertices)[::7]]
    for cam in cameras:
        image = bpy.data.images[cam.name]
        w, h = image.size
        scene.render.resolution_x, scene.render.resolution_y = w, h
        alpha = image.pixels[:][3::4]
        for v in verts:
            x, y, _ = world_to_camera_view(scene, cam, v)
            if 0 <= x < 1 and 0 <= y < 1:
                total += 1
                hits += (
                    alpha[int(y * h) * w + int(x * w)] > 0.5
                )  # pixels[] rows start at the bottom
    return hits / max(total, 1)


def stylize_cameras(
    capture: str, url: str, token_file: str, style: str, options: dict, cancel: bool = False
) -> dict:
    """Select a tiny capture's cameras in a scene and press Stylize (blocking: background)."""
    import bpy

    mod = addon()
    set_prefs(backend_url=url, token="", token_file=token_file)
    cameras = _cameras_from_capture(Path(capture), 16)
    before = user_objects_state()
    settings = bpy.context.scene.stylized_heads
    settings.source = "CAMERAS"
    entry = settings.styles.add()
    entry.kind, entry.filepath = "FILE", style
    settings.steps, settings.style_steps = options["steps"], options["style_steps"]
    settings.colornet = options.get("colornet", False)
    settings.colornet_steps = options.get("colornet_steps", 0)
    settings.max_side = 48
    progress: list[float] = []
    show = mod.session._show

    def record(view) -> None:
        progress.append(view.progress)
        if cancel and view.state == "running" and not mod.session._job.task._cancel.is_set():
            bpy.ops.stylized_heads.cancel()
        show(view)

    mod.session._show = record
    try:
        result, error = sorted(bpy.ops.stylized_heads.stylize()), ""
    except RuntimeError as exc:
        result, error = ["CANCELLED"], str(exc)
    state = bpy.context.window_manager.stylized_heads
    out = {
        "result": result,
        "error": error,
        "report": state.report,
        "failed": state.failed,
        "progress": progress,
        "job_id": state.job_id,
    }
    collections = [c for c in bpy.data.collections if c.get("stylized_heads_job")]
    out["collections"] = [c.name for c in collections]
    after = user_objects_state()
    out["changed"] = {k: [v, after.get(k)] for k, v in before.items() if after.get(k) != v}
    out["untouched"] = not out["changed"]
    if collections:
        heads = [o for o in collections[0].objects if o.type == "MESH"]
        head = heads[0]
        node = mod.importer.image_texture_node(head.material_slots[0].material)
        out["heads"] = len(heads)
        out["props"] = {k: v for k, v in head.items() if k.startswith("stylized_heads")}
        out["texture"] = list(node.image.size) if node and node.image else None
        out["on_head"] = _on_head(cameras, head)
        if options.get("colornet"):
            control = bpy.context.scene.stylized_heads_control
            control.style.kind, control.style.builtin = "BUILTIN", "ink"
            control.strength = 1.0
            bpy.context.view_layer.objects.active = head
            old = node.image.name
            bpy.ops.stylized_heads.apply_style()
            out["apply"] = {
                "old": old,
                "new": node.image.name,
                "report": state.report,
                "old_still_there": old in bpy.data.images,
            }
    return out


def check_backend(url: str, token: str) -> dict:
    import bpy

    addon()
    set_prefs(backend_url=url, token=token)
    try:
        result, error = sorted(bpy.ops.stylized_heads.check_backend()), ""
    except RuntimeError as exc:
        result, error = ["CANCELLED"], str(exc)
    state = bpy.context.window_manager.stylized_heads
    return {"result": result, "error": error, "report": state.report, "failed": state.failed}


def reopen(blend: str) -> dict:
    """Open a saved .blend and describe the stylized heads in it."""
    import bpy

    addon()
    bpy.ops.wm.open_mainfile(filepath=blend)
    heads = [o for o in bpy.data.objects if o.type == "MESH" and o.get("stylized_heads_job")]
    images = []
    for head in heads:
        for slot in head.material_slots:
            for node in slot.material.node_tree.nodes:
                if node.type == "TEX_IMAGE" and node.image is not None:
                    images.append(
                        [node.image.name, list(node.image.size), node.image.packed_file is not None]
                    )
    return {
        "heads": [h.name for h in heads],
        "images": images,
        "collections": [c.name for c in bpy.data.collections],
    }


def form_fields(content_type: str, body: bytes) -> list[list[str]]:
    """[name, value] of each multipart field in order; a file's value is 'file:<name>'."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    fields = []
    for part in message_from_bytes(head + body, policy=HTTP).iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        fields.append([name, f"file:{filename}" if filename else part.get_content()])
    return fields


class RecordingBackend:
    """A stand-in backend on 127.0.0.1 that records the form of every POST: a new job is
    answered as failed at once (nothing to run), an apply-style with ``png``."""

    JOB_ID = "e" * 32

    def __init__(self, png: bytes) -> None:
        self.requests: list[dict] = []
        self.png = png
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str) -> tuple[int, str, bytes]:
        if path.endswith("/apply-style"):
            return 200, "image/png", self.png
        job = {"id": self.JOB_ID, "name": "recorded", "state": "failed", "stage": "queued"}
        job["error"] = "recorded by the stand-in backend"
        return 201, "application/json", json.dumps(job).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fields = form_fields(self.headers["Content-Type"], body)
                backend.requests.append({"path": self.path, "fields": fields})
                status, content_type, content = backend.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


def _press(operator) -> dict:
    """Run an operator as a button press; what the user sees afterwards."""
    import bpy

    try:
        result, error = sorted(operator()), ""
    except RuntimeError as exc:  # Blender turns an operator's ERROR report into this
        result, error = ["CANCELLED"], str(exc)
    state = bpy.context.window_manager.stylized_heads
    return {"result": result, "error": error, "report": state.report, "failed": state.failed}


def prompt_requests(capture: str, glb: str, png: str) -> dict:
    """Against a recording stand-in backend: Stylize with neither style nor prompt, then
    with a prompt alone (and the mutual method); import a head and apply a prompt with its
    style control; and the headless script's options for a prompt."""
    import bpy

    mod = addon()
    backend = RecordingBackend(Path(png).read_bytes())
    set_prefs(backend_url=backend.url, token="x")
    settings = bpy.context.scene.stylized_heads
    settings.source, settings.folder = "FOLDER", capture
    refused = _press(bpy.ops.stylized_heads.stylize)
    settings.prompt, settings.method = "  a bronze statue ", "mutual"
    submitted = _press(bpy.ops.stylized_heads.stylize)
    collection = mod.importer.import_results([Path(glb)], "f" * 32, "my job", backend.url)
    head = next(o for o in collection.objects if o.type == "MESH")
    bpy.context.view_layer.objects.active = head
    control = bpy.context.scene.stylized_heads_control
    control.use_prompt, control.prompt = True, "a bronze statue"
    applied = _press(bpy.ops.stylized_heads.apply_style)
    node = mod.importer.image_texture_node(head.material_slots[0].material)
    return {
        "refused": refused,
        "submitted": submitted,
        "applied": applied,
        "requests": backend.requests,
        "image": node.image.name,
        "panels": draw_panels(),
        "headless": _headless_prompt(capture),
    }


def _headless_prompt(capture: str) -> dict:
    """The headless script's job options and backend command for a prompt alone."""
    batch = importlib.import_module(f"{ADDON}.batch")
    args = ["--capture", capture, "--out", "x.blend", "--prompt", " a bronze statue "]
    args += ["--method", "per-view"]
    parsed = batch.parse([*args, "--clip-weights", "/weights/clip"])
    try:
        batch.parse(["--capture", capture, "--out", "x.blend"])
        refused = False
    except SystemExit:
        refused = True
    command = batch.default_start_command(
        "http://127.0.0.1:8765", Path("/t/token"), parsed.clip_weights
    )
    return {"options": batch.options(parsed), "command": command, "no_style_refused": refused}
