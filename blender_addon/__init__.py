"""Stylized Heads: turn a multi-view face capture into a stylized textured head.

The add-on is a thin client: a local backend (``python -m backend serve``) does the
training; this package exports captures, follows jobs without blocking Blender, and
imports the results with Blender's glTF importer. Standard library only.
"""

from __future__ import annotations

import bpy

from . import operators, panel, preferences, properties, session, style_control

_CLASSES = (
    *preferences.CLASSES,
    *properties.CLASSES,
    *operators.CLASSES,
    *style_control.CLASSES,
    *panel.CLASSES,
)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register()


def unregister() -> None:
    session.reset()
    operators.stop_started_backends()
    properties.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
