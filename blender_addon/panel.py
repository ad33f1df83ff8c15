"""The sidebar tab: View3D > Sidebar > Stylize."""

from __future__ import annotations

import bpy

from . import session
from .importer import JOB_KEY, STYLE_KEY, stylized_heads

CATEGORY = "Stylize"


def draw_style_entry(layout: bpy.types.UILayout, entry: bpy.types.PropertyGroup) -> None:
    row = layout.row(align=True)
    row.prop(entry, "kind", text="")
    if entry.kind == "FILE":
        row.prop(entry, "filepath", text="")
    elif entry.kind == "IMAGE":
        row.prop(entry, "image", text="")
    else:
        row.prop(entry, "builtin", text="")


def eta_text(seconds: float) -> str:
    if seconds < 0:
        return "ETA unknown"
    minutes, secs = divmod(round(seconds), 60)
    return f"ETA {minutes} min {secs:02d} s" if minutes else f"ETA {secs} s"


class STYLIZED_HEADS_PT_main(bpy.types.Panel):
    """Capture, styles and the Stylize button, with progress while a job runs."""

    bl_label = "Stylized Heads"
    bl_idname = "STYLIZED_HEADS_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.stylized_heads
        state = context.window_manager.stylized_heads

        layout.prop(settings, "source")
        if settings.source == "FOLDER":
            layout.prop(settings, "folder")
        elif settings.source == "MESH":
            col = layout.column(align=True)
            col.prop(settings, "views")
            col.prop(settings, "resolution")
            col.prop(settings, "samples")
        else:
            cameras = [o for o in context.selected_objects if o.type == "CAMERA"]
            layout.label(text=f"{len(cameras)} camera(s) selected", icon="CAMERA_DATA")

        box = layout.box()
        header = box.row()
        header.label(text="Styles", icon="BRUSH_DATA")
        header.operator("stylized_heads.style_add", text="", icon="ADD")
        for index, entry in enumerate(settings.styles):
            row = box.row(align=True)
            draw_style_entry(row, entry)
            remove = row.operator("stylized_heads.style_remove", text="", icon="X")
            remove.index = index
        box.prop(settings, "prompt", icon="FONT_DATA")

        layout.prop(settings, "preset")
        layout.prop(settings, "colornet")

        if session.busy():
            col = layout.column(align=True)
            col.progress(factor=state.progress, type="BAR", text=f"{state.progress:.0%}")
            col.label(text=f"{state.stage or 'starting'}: {state.message}")
            col.label(text=eta_text(state.eta_seconds))
            col.operator("stylized_heads.cancel", icon="CANCEL")
        else:
            layout.operator("stylized_heads.stylize", icon="SHADERFX")
        if state.report:
            layout.label(text=state.report, icon="ERROR" if state.failed else "INFO")


class STYLIZED_HEADS_PT_options(bpy.types.Panel):
    """Backend settings most users never change."""

    bl_label = "Options"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_parent_id = "STYLIZED_HEADS_PT_main"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (Blender reads a plain set)

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        settings = context.scene.stylized_heads
        keys = ("method", "device", "steps", "style_steps", "colornet_steps", "max_side")
        for key in (*keys, "material", "texture_size", "face_budget"):
            layout.prop(settings, key)
        row = layout.row()
        row.operator("stylized_heads.check_backend", icon="URL")
        row.operator("stylized_heads.start_backend", icon="PLAY")


class STYLIZED_HEADS_PT_results(bpy.types.Panel):
    """The backend's jobs; finished ones can be imported again."""

    bl_label = "Results"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_parent_id = "STYLIZED_HEADS_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = context.window_manager.stylized_heads
        layout.operator("stylized_heads.refresh_results", icon="FILE_REFRESH")
        for item in state.results:
            row = layout.row()
            row.label(text=f"{item.name} ({item.state})", icon="MESH_MONKEY")
            if item.state == "done":
                op = row.operator("stylized_heads.import_result", text="", icon="IMPORT")
                op.job_id = item.job_id


class STYLIZED_HEADS_PT_style_control(bpy.types.Panel):
    """New styles for the active stylized head through the backend's colour net."""

    bl_label = "Style Control"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_parent_id = "STYLIZED_HEADS_PT_main"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        return bool(obj and stylized_heads([obj]))

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        obj = context.active_object
        control = context.scene.stylized_heads_control
        layout.label(text=f"Job {str(obj[JOB_KEY])[:8]}, style '{obj.get(STYLE_KEY, '')}'")
        layout.prop(control, "use_prompt")
        if control.use_prompt:
            layout.prop(control, "prompt", text="", icon="FONT_DATA")
        else:
            draw_style_entry(layout, control.style)
        layout.prop(control, "use_mix")
        if control.use_mix:
            draw_style_entry(layout, control.mix)
            layout.prop(control, "t", slider=True)
        layout.prop(control, "strength", slider=True)
        layout.operator("stylized_heads.apply_style", icon="BRUSH_DATA")


CLASSES = (
    STYLIZED_HEADS_PT_main,
    STYLIZED_HEADS_PT_options,
    STYLIZED_HEADS_PT_results,
    STYLIZED_HEADS_PT_style_control,
)
