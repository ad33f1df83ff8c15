"""Operators of the panel: check or start the backend, stylize, cancel, list and import jobs.

Each operator does its Blender-side work at once (export the capture, read settings) and
hands the network side to a worker thread (session.py follows it), so no operator waits
on the network, except in background mode, where timers never run and so they block.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy

from . import session
from .backend_process import BackendProcess, wait_healthy
from .capture_export import MeshCaptureRenderer, export_cameras, write_image
from .capture_format import CaptureExportError
from .client import BackendClient, ClientError
from .importer import import_results
from .job_request import JobRequest, StyleSource
from .jobs import Call, JobTask, JobView
from .preferences import make_client, preferences

_started_backend: list[BackendProcess] = []


def report_outcome(text: str, failed: bool) -> None:
    """Show an outcome in the panel and on the console (timers cannot call self.report)."""
    state = session.state()
    state.report, state.failed = text, failed
    print(f"stylized heads: {'error: ' if failed else ''}{text}", flush=True)


def work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="stylized-heads-"))


def style_sources(entries, folder: Path) -> tuple[StyleSource, ...]:
    """Style entries as files or built-in names; Blender images are written to ``folder``."""
    out = []
    for entry in entries:
        if entry.kind == "BUILTIN":
            out.append(StyleSource(builtin=entry.builtin))
        elif entry.kind == "IMAGE":
            if entry.image is None:
                raise CaptureExportError("a style entry has no Blender image chosen")
            folder.mkdir(parents=True, exist_ok=True)
            out.append(StyleSource(path=write_image(entry.image, folder / _stem(entry.image))))
        else:
            path = Path(bpy.path.abspath(entry.filepath)) if entry.filepath else None
            if path is None or not path.is_file():
                raise CaptureExportError(f"style image not found: '{entry.filepath}'")
            out.append(StyleSource(path=path))
    return tuple(out)


def _stem(image: bpy.types.Image) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(image.name).stem)


def _client_or_report(operator: bpy.types.Operator, context) -> BackendClient | None:
    """The backend client from the preferences, or None after reporting why not."""
    try:
        return make_client(context)
    except ClientError as exc:
        operator.report({"ERROR"}, str(exc))
        return None


def job_options(settings) -> dict[str, object]:
    options: dict[str, object] = {
        "preset": settings.preset,
        "device": settings.device,
        "colornet": settings.colornet,
        "material": settings.material,
        "texture_size": int(settings.texture_size),
        "method": settings.method,
    }
    for key in ("steps", "style_steps", "colornet_steps", "max_side", "face_budget"):
        if getattr(settings, key):
            options[key] = getattr(settings, key)
    if settings.prompt.strip():
        options["prompt"] = settings.prompt.strip()
    return options


def follow(task: JobTask, folder: Path, url: str) -> None:
    """Show the job in the panel and import its results when it is done."""

    def finish(view: JobView) -> None:
        if view.error:
            report_outcome(view.error, True)
        elif view.state == "cancelled":
            report_outcome(f"job '{view.name}' was cancelled", False)
        elif not view.results:
            report_outcome(f"job '{view.name}' finished without a mesh to import", True)
        else:
            collection = import_results(view.results, view.job_id, view.name, url)
            report_outcome(
                f"imported {len(view.results)} result(s) into collection '{collection.name}'",
                False,
            )

    session.start_job(task.start(), folder, finish)


class STYLIZED_HEADS_OT_stylize(bpy.types.Operator):
    """Send the capture and styles to the backend; the stylized head is imported when done"""

    bl_idname = "stylized_heads.stylize"
    bl_label = "Stylize"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not session.busy()

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.stylized_heads
        folder = work_dir()
        try:
            client = make_client(context)
            if not len(settings.styles) and not settings.prompt.strip():
                raise CaptureExportError(
                    "add at least one style image or built-in style, or type a prompt"
                )
            styles = style_sources(settings.styles, folder / "styles")
            options = job_options(settings)
            if settings.source == "MESH":
                self._render_then_submit(context, client, styles, options, folder)
            else:
                capture, options["name"] = self._capture(context, settings, folder)
                self._submit(client, JobRequest(capture, styles, options), folder)
        except (ClientError, CaptureExportError) as exc:
            report_outcome(str(exc), True)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return self._finish_in_background()

    def _capture(self, context, settings, folder: Path) -> tuple[Path, str]:
        if settings.source == "FOLDER":
            root = Path(bpy.path.abspath(settings.folder)) if settings.folder else Path()
            if not settings.folder or not root.is_dir():
                raise CaptureExportError(f"capture folder not found: '{settings.folder}'")
            return root, root.name
        cameras = [o for o in context.selected_objects if o.type == "CAMERA"]
        return export_cameras(cameras, folder / "capture"), f"{context.scene.name} cameras"

    def _submit(self, client: BackendClient, request: JobRequest, folder: Path) -> None:
        task = JobTask(client, folder / "results", lambda c: request.submit(c, folder / "upload"))
        follow(task, folder, client.url)

    def _render_then_submit(self, context, client, styles, options, folder: Path) -> None:
        settings = context.scene.stylized_heads
        obj = context.active_object
        renderer = MeshCaptureRenderer(
            obj, folder / "capture", settings.views, settings.resolution, settings.samples
        )
        options["name"] = obj.name

        def step() -> bool:
            try:
                renderer.render_next()
                state = session.state()
                state.message = f"rendered view {len(renderer.frames)}/{renderer.views}"
                state.progress = 0.0
                if not renderer.done:
                    return False
                self._submit(client, JobRequest(renderer.finish(), styles, options), folder)
            except (CaptureExportError, RuntimeError) as exc:
                renderer.close()
                report_outcome(f"rendering the capture failed: {exc}", True)
            return True

        session.repeat(step)

    def _finish_in_background(self) -> set[str]:
        if not bpy.app.background:
            return {"FINISHED"}
        session.wait()
        state = session.state()
        if state.failed:
            self.report({"ERROR"}, state.report)
            return {"CANCELLED"}
        self.report({"INFO"}, state.report)
        return {"FINISHED"}


class STYLIZED_HEADS_OT_cancel(bpy.types.Operator):
    """Cancel the running job (the backend stops it within seconds)"""

    bl_idname = "stylized_heads.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not session.cancel_job():
            self.report({"WARNING"}, "no job is running")
            return {"CANCELLED"}
        return {"FINISHED"}


class STYLIZED_HEADS_OT_check_backend(bpy.types.Operator):
    """Ask the backend whether it is up and the token is accepted"""

    bl_idname = "stylized_heads.check_backend"
    bl_label = "Check Backend"

    def execute(self, context: bpy.types.Context) -> set[str]:
        client = _client_or_report(self, context)
        if client is None:
            return {"CANCELLED"}

        def check() -> str:
            version = client.health().get("version", "?")
            client.list_jobs()
            return f"backend {version} at {client.url} is up and accepts the token"

        return _run_call(
            self,
            Call(check),
            lambda call: report_outcome(call.error or str(call.result), bool(call.error)),
        )


class STYLIZED_HEADS_OT_start_backend(bpy.types.Operator):
    """Start a local backend with the command set in the preferences"""

    bl_idname = "stylized_heads.start_backend"
    bl_label = "Start Backend"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            client = make_client(context)
            process = BackendProcess(preferences(context).start_command)
        except ClientError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _started_backend.append(process)

        def started(call: Call) -> None:
            report_outcome(call.error or f"backend started at {client.url}", bool(call.error))

        return _run_call(self, Call(lambda: wait_healthy(client, process)), started)


class STYLIZED_HEADS_OT_refresh_results(bpy.types.Operator):
    """List the backend's jobs"""

    bl_idname = "stylized_heads.refresh_results"
    bl_label = "Refresh Jobs"

    def execute(self, context: bpy.types.Context) -> set[str]:
        client = _client_or_report(self, context)
        if client is None:
            return {"CANCELLED"}
        return _run_call(self, Call(client.list_jobs), _fill_results)


def _fill_results(call: Call) -> None:
    if call.error:
        report_outcome(call.error, True)
        return
    results = session.state().results
    results.clear()
    for job in call.result or []:
        item = results.add()
        item.name = str(job.get("name", ""))
        item.job_id = str(job.get("id", ""))
        item.state = str(job.get("state", ""))
        item.styles = ", ".join(str(s) for s in job.get("styles") or [])
        item.has_colornet = bool(job.get("has_colornet"))


class STYLIZED_HEADS_OT_import_result(bpy.types.Operator):
    """Download a finished job's stylized heads and import them into a new collection"""

    bl_idname = "stylized_heads.import_result"
    bl_label = "Import"

    job_id: bpy.props.StringProperty()

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not session.busy()

    def execute(self, context: bpy.types.Context) -> set[str]:
        client = _client_or_report(self, context)
        if client is None:
            return {"CANCELLED"}
        folder = work_dir()
        follow(JobTask(client, folder / "results", job_id=self.job_id), folder, client.url)
        if bpy.app.background:
            session.wait()
        return {"FINISHED"}


class STYLIZED_HEADS_OT_style_add(bpy.types.Operator):
    """Add a style image (file, Blender image or built-in style) to the job"""

    bl_idname = "stylized_heads.style_add"
    bl_label = "Add Style"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.scene.stylized_heads.styles.add()
        return {"FINISHED"}


class STYLIZED_HEADS_OT_style_remove(bpy.types.Operator):
    """Remove this style from the job"""

    bl_idname = "stylized_heads.style_remove"
    bl_label = "Remove Style"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    index: bpy.props.IntProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        styles = context.scene.stylized_heads.styles
        if not 0 <= self.index < len(styles):
            return {"CANCELLED"}
        styles.remove(self.index)
        return {"FINISHED"}


def _run_call(operator: bpy.types.Operator, call: Call, callback) -> set[str]:
    session.after(call, callback)
    if bpy.app.background:
        session.wait()
        state = session.state()
        operator.report({"ERROR"} if state.failed else {"INFO"}, state.report)
        return {"CANCELLED"} if state.failed else {"FINISHED"}
    return {"FINISHED"}


def stop_started_backends() -> None:
    while _started_backend:
        _started_backend.pop().stop()


CLASSES = (
    STYLIZED_HEADS_OT_stylize,
    STYLIZED_HEADS_OT_cancel,
    STYLIZED_HEADS_OT_check_backend,
    STYLIZED_HEADS_OT_start_backend,
    STYLIZED_HEADS_OT_refresh_results,
    STYLIZED_HEADS_OT_import_result,
    STYLIZED_HEADS_OT_style_add,
    STYLIZED_HEADS_OT_style_remove,
)
