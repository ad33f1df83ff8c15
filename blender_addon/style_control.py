"""Style control of an imported head: new style or prompt, mix of two styles, strength.

The backend's colour net turns a style image (or a prompt, through CLIP) into a new
texture in about a second; the texture arrives as a new Blender image assigned to the
head's texture node. The previous image stays in the file, so Undo (one step is pushed
per change) brings the old style back.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import bpy

from . import session
from .capture_format import CaptureExportError
from .client import ClientError
from .importer import BACKEND_KEY, JOB_KEY, image_texture_node, stylized_heads
from .job_request import ApplyStyleRequest, StyleSource
from .jobs import Call
from .operators import report_outcome, style_sources, work_dir
from .preferences import make_client


def assign_texture(obj: bpy.types.Object, png: bytes, label: str) -> bpy.types.Image:
    """A new packed image from ``png`` on every textured material of ``obj``."""
    with tempfile.TemporaryDirectory(prefix="stylized-heads-") as tmp:
        path = Path(tmp) / "texture.png"
        path.write_bytes(png)
        image = bpy.data.images.load(str(path))
        image.pack()
    image.name = label
    image.filepath_raw = ""
    assigned = 0
    for slot in obj.material_slots:
        node = image_texture_node(slot.material)
        if node is not None:
            node.image = image
            assigned += 1
    if not assigned:
        raise ClientError(f"'{obj.name}' has no image texture node to receive the new style")
    return image


def chosen_style(control, folder: Path) -> tuple[StyleSource | None, str]:
    """The control's new style: its prompt when it uses one, else its style entry."""
    if not control.use_prompt:
        return style_sources([control.style], folder)[0], ""
    prompt = control.prompt.strip()
    if not prompt:
        raise ClientError("type a prompt, or turn off Use Prompt and choose a style")
    return None, prompt


class STYLIZED_HEADS_OT_apply_style(bpy.types.Operator):
    """Apply the chosen style or prompt (optionally mixed) to the active head with its colour net"""

    bl_idname = "stylized_heads.apply_style"
    bl_label = "Apply Style"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        return bool(obj and stylized_heads([obj])) and not session.state().applying

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = context.active_object
        control = context.scene.stylized_heads_control
        folder = work_dir()
        try:
            client = make_client(context, str(obj.get(BACKEND_KEY) or ""))
            style, prompt = chosen_style(control, folder)
            mix = style_sources([control.mix], folder)[0] if control.use_mix else None
        except (ClientError, CaptureExportError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        t = control.t if control.use_mix else 0.0
        request = ApplyStyleRequest(style, mix, t, control.strength, prompt=prompt)
        job_id, name = str(obj[JOB_KEY]), obj.name
        label = f"{name} {prompt or style.builtin or style.path.stem}"
        if mix is not None:
            label += f" + {mix.builtin or mix.path.stem} {control.t:.2f}"

        def applied(call: Call) -> None:
            session.state().applying = False
            shutil.rmtree(folder, ignore_errors=True)
            target = bpy.data.objects.get(name)
            if call.error or target is None:
                report_outcome(call.error or f"'{name}' is gone", True)
                return
            try:
                image = assign_texture(target, call.result, label)
            except ClientError as exc:
                report_outcome(str(exc), True)
                return
            report_outcome(f"applied '{image.name}' in {call.seconds:.1f} s", False)
            if not bpy.app.background:
                bpy.ops.ed.undo_push(message="Apply Style")

        session.state().applying = True
        session.after(Call(lambda: request.send(client, job_id)), applied)
        if bpy.app.background:
            session.wait()
            state = session.state()
            if state.failed:
                self.report({"ERROR"}, state.report)
                return {"CANCELLED"}
        return {"FINISHED"}


CLASSES = (STYLIZED_HEADS_OT_apply_style,)
