"""Blender properties: job settings saved with the scene, job progress kept per session."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

BUILTIN_STYLES = (
    "strokes",
    "stipple",
    "mosaic",
    "ink",
    "waves",
    "plaid",
    "shards",
    "hatch",
    "halftone",
    "painting",
)


class StyleEntry(bpy.types.PropertyGroup):
    """One style for a job: an image file, a Blender image or a built-in style."""

    kind: EnumProperty(
        name="Kind",
        items=(
            ("FILE", "File", "An image file on disk"),
            ("IMAGE", "Image", "An image loaded in Blender"),
            ("BUILTIN", "Built-in", "A style that ships with the backend"),
        ),
        default="FILE",
    )
    filepath: StringProperty(name="File", subtype="FILE_PATH")
    image: PointerProperty(name="Image", type=bpy.types.Image)
    builtin: EnumProperty(
        name="Style", items=[(s, s.title(), f"The built-in '{s}' style") for s in BUILTIN_STYLES]
    )


class StylizeSettings(bpy.types.PropertyGroup):
    """What the Stylize button sends; saved with the .blend like render settings."""

    source: EnumProperty(
        name="Capture",
        items=(
            ("CAMERAS", "Selected Cameras", "The selected cameras, each with its image"),
            (
                "FOLDER",
                "Capture Folder",
                "A transforms.json capture folder, or a folder of photos (the backend "
                "estimates their cameras with COLMAP)",
            ),
            ("MESH", "Render Selected Mesh", "Render views of the active mesh with Cycles"),
        ),
        default="CAMERAS",
    )
    folder: StringProperty(name="Folder", subtype="DIR_PATH")
    views: IntProperty(name="Views", default=32, min=2, max=512)
    resolution: IntProperty(name="Resolution", default=256, min=16, max=4096, subtype="PIXEL")
    samples: IntProperty(name="Samples", default=32, min=1, max=4096)
    styles: CollectionProperty(type=StyleEntry)
    prompt: StringProperty(
        name="Prompt",
        description=(
            "Describe a look in words (e.g. 'a bronze statue'): the backend adds a CLIP edit, "
            "with or without style images. It needs CLIP weights (serve --clip-weights DIR)"
        ),
        default="",
    )
    preset: EnumProperty(
        name="Preset",
        items=(("fast", "Fast", "Minutes on a CPU"), ("quality", "Quality", "Longer, sharper")),
        default="fast",
    )
    device: EnumProperty(
        name="Device",
        items=(("auto", "Auto", "GPU when there is one"), ("cpu", "CPU", ""), ("cuda", "CUDA", "")),
        default="auto",
    )
    colornet: BoolProperty(
        name="Style Control",
        description=(
            "Also train the colour network that applies new styles in about a second "
            "(adds the built-in training styles to the job: several minutes on a CPU)"
        ),
        default=True,
    )
    steps: IntProperty(name="NeRF Steps", description="0: the preset's", default=0, min=0)
    style_steps: IntProperty(name="Style Steps", description="0: the preset's", default=0, min=0)
    colornet_steps: IntProperty(
        name="Style Control Steps", description="0: the preset's", default=0, min=0
    )
    max_side: IntProperty(name="Max Side", description="0: the backend's", default=0, min=0)
    method: EnumProperty(
        name="Method",
        items=(
            ("hybrid", "Hybrid", "Texture optimized through the mesh: consistent from every side"),
            ("mutual", "Mutual (StylizedNeRF)", "A NeRF and a 2D stylizer trained together"),
            ("per-view", "Per View (2D)", "Each view stylized on its own (inconsistent baseline)"),
            ("nerf-on-2d", "NeRF on 2D", "The NeRF's colour retrained on 2D-stylized views"),
        ),
        default="hybrid",
    )
    material: EnumProperty(
        name="Material",
        items=(
            ("lit", "Lit", "PBR base colour: the scene's lights shade the head"),
            ("unlit", "Unlit", "The baked colours exactly, whatever the lights"),
        ),
        default="lit",
    )
    texture_size: EnumProperty(
        name="Texture Size",
        items=(
            ("1024", "1k", "1024 x 1024"),
            ("2048", "2k", "2048 x 2048"),
            ("4096", "4k", "4096 x 4096 (slower bake, larger files)"),
        ),
        default="1024",
    )
    face_budget: IntProperty(
        name="Faces", description="0: the preset's (20k fast, 100k quality)", default=0, min=0
    )


class StyleControl(bpy.types.PropertyGroup):
    """The style control of an imported head: new style or prompt, mix style, slider,
    strength."""

    style: PointerProperty(type=StyleEntry)
    use_prompt: BoolProperty(
        name="Use Prompt",
        description="Describe the new style in words instead of choosing a style image",
        default=False,
    )
    prompt: StringProperty(
        name="Prompt",
        description="The new style in words, through the job's colour net and CLIP",
        default="",
    )
    mix: PointerProperty(type=StyleEntry)
    use_mix: BoolProperty(name="Mix", description="Blend with a second style", default=False)
    t: FloatProperty(
        name="Mix",
        description="0: first style only, 1: second style only",
        default=0.5,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
    )
    strength: FloatProperty(
        name="Strength",
        description="0: the original appearance",
        default=1.0,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
    )


class JobResult(bpy.types.PropertyGroup):
    """A job listed by the backend (name is the job's label)."""

    job_id: StringProperty()
    state: StringProperty()
    styles: StringProperty()
    has_colornet: BoolProperty()


class SessionState(bpy.types.PropertyGroup):
    """Progress of the running job and the backend's job list; never saved."""

    job_id: StringProperty()
    busy: BoolProperty()
    progress: FloatProperty(min=0.0, max=1.0, subtype="FACTOR")
    stage: StringProperty()
    message: StringProperty()
    eta_seconds: FloatProperty(default=-1.0)
    report: StringProperty(description="The last error or outcome, shown in the panel")
    failed: BoolProperty(description="The last job or call ended in an error")
    results: CollectionProperty(type=JobResult)
    results_index: IntProperty()
    applying: BoolProperty()


CLASSES = (StyleEntry, StylizeSettings, StyleControl, JobResult, SessionState)


def register() -> None:
    bpy.types.Scene.stylized_heads = PointerProperty(type=StylizeSettings)
    bpy.types.Scene.stylized_heads_control = PointerProperty(type=StyleControl)
    bpy.types.WindowManager.stylized_heads = PointerProperty(type=SessionState)


def unregister() -> None:
    del bpy.types.WindowManager.stylized_heads
    del bpy.types.Scene.stylized_heads_control
    del bpy.types.Scene.stylized_heads
