"""Add-on preferences: where the backend is, how to authenticate, how to start one."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .client import DEFAULT_URL, BackendClient, ClientError, default_token_file, read_token


class StylizedHeadsPreferences(bpy.types.AddonPreferences):
    """Saved with Blender's user preferences, so every .blend uses the same backend."""

    bl_idname = __package__

    backend_url: StringProperty(
        name="Backend URL",
        description="Address of the stylization backend (python -m backend serve)",
        default=DEFAULT_URL,
    )
    token: StringProperty(
        name="Token",
        description="Bearer token of the backend; empty to read it from the token file",
        subtype="PASSWORD",
        default="",
    )
    token_file: StringProperty(
        name="Token File",
        description="File the backend writes its token to at first start",
        subtype="FILE_PATH",
        default=str(default_token_file()),
    )
    start_command: StringProperty(
        name="Start Command",
        description=(
            "Command that starts a local backend when none answers, e.g. "
            "'python -m backend serve --port 8765' (add --clip-weights DIR for prompts; "
            "empty: never start one)"
        ),
        default="",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "backend_url")
        layout.prop(self, "token")
        layout.prop(self, "token_file")
        layout.prop(self, "start_command")
        row = layout.row()
        row.operator("stylized_heads.check_backend", icon="URL")
        row.operator("stylized_heads.start_backend", icon="PLAY")


def preferences(context: bpy.types.Context | None = None) -> StylizedHeadsPreferences:
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def make_client(context: bpy.types.Context | None = None, url: str = "") -> BackendClient:
    """A client for ``url`` (else the preferences' URL) with the token the preferences give.

    Refuses non-local URLs while Blender's online access is off, as extensions must.
    """
    prefs = preferences(context)
    token = read_token(prefs.token, prefs.token_file)
    client = BackendClient(url or prefs.backend_url, token)
    if not client.is_local and not bpy.app.online_access:
        raise ClientError(
            f"{client.url} is not on this machine and Blender's online access is off; "
            "allow it in Preferences > System > Network, or use a local backend"
        )
    return client


CLASSES = (StylizedHeadsPreferences,)
