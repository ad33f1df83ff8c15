"""Write and read textured meshes as binary glTF 2.0 (GLB).

glTF 2.0 is +Y up in metres; captures follow Blender's convention, +Z up, and Blender
captures are in metres. So positions are turned from capture coordinates into glTF's by
(x, y, z) -> (x, z, -y), the inverse of the rotation every glTF importer (Blender's
included) applies on the way in: any viewer shows the head upright, and Blender's own
importer puts it back where the capture's cameras look. The extras record this
(:data:`GLTF_AXES`); a GLB without that record was written before the convention and
holds raw capture coordinates, which :func:`read_glb` still reads.

The writer is our own (a few accessors and one material) so that every file carries
what viewers and the Khronos validator expect: accessor bounds, buffer-view targets,
smooth unit normals for lit shading, ``KHR_materials_unlit`` when asked for, a
clamped sampler (the atlas must not wrap). UVs are in glTF orientation (v = 0 at the
texture's first row) as :class:`TexturedMesh` keeps them. Reading goes through trimesh.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from backend.errors import BackendError
from backend.files import atomic_write
from backend.mesh.geometry import vertex_normals
from backend.mesh.textured import TexturedMesh

CAPTURE_TO_GLTF = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
GLTF_AXES: dict[str, object] = {
    "up": "+Y",
    "from_capture": "(x, y, z) -> (x, z, -y)",
    "units": "metres",
    "metres_per_capture_unit": 1.0,
}
MATERIALS = ("lit", "unlit")
TEXTURE_SIZES = (1024, 2048, 4096)  # the export choices artists are offered
FACE_BUDGETS = (1_000, 1_000_000)
GENERATOR = "stylized-heads backend"
_TRIMESH_KEYS = {"from_gltf_primitive"}  # what trimesh adds to the extras it reads
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_FLOAT, _UNSIGNED_INT = 5126, 5125
_LINEAR, _LINEAR_MIPMAP_LINEAR, _CLAMP_TO_EDGE = 9729, 9987, 33071


@dataclass(frozen=True)
class GltfExport:
    """How the head is written: ``lit`` is a PBR base colour (metallic 0, roughness 0.8)
    that the viewer shades; ``unlit`` (``KHR_materials_unlit``) shows the baked colours
    exactly as the previews do, whatever the viewer's lights."""

    material: str = "lit"

    def __post_init__(self) -> None:
        if self.material not in MATERIALS:
            listed = ", ".join(MATERIALS)
            raise BackendError(f"material must be one of {listed}, got {self.material!r}")


def write_glb(
    mesh: TexturedMesh,
    path: Path,
    extras: dict[str, object] | None = None,
    export: GltfExport | None = None,
) -> None:
    """``mesh`` (capture coordinates) as a +Y-up GLB at ``path``, written atomically."""
    export = export or GltfExport()
    everything = {**(extras or {}), **GLTF_AXES, "material": export.material}
    document, binary = _document(mesh, everything, export)
    data = _glb_bytes(document, binary)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


class _Buffer:
    """The binary chunk: views appended 4-byte aligned, accessors over them."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict[str, object]] = []
        self.accessors: list[dict[str, object]] = []

    def view(self, raw: bytes, target: int | None = None) -> int:
        self.data.extend(b"\0" * (-len(self.data) % 4))
        view: dict[str, object] = {"buffer": 0, "byteOffset": len(self.data)}
        view["byteLength"] = len(raw)
        if target is not None:
            view["target"] = target
        self.data.extend(raw)
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int, bounds: bool = False) -> int:
        component = _UNSIGNED_INT if array.dtype == np.uint32 else _FLOAT
        accessor: dict[str, object] = {
            "bufferView": self.view(array.tobytes(), target),
            "componentType": component,
            "count": len(array),
            "type": kind,
        }
        if bounds:
            accessor["min"] = np.atleast_1d(array.min(axis=0)).tolist()
            accessor["max"] = np.atleast_1d(array.max(axis=0)).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def _document(
    mesh: TexturedMesh, extras: dict[str, object], export: GltfExport
) -> tuple[dict[str, object], bytes]:
    positions = (np.asarray(mesh.vertices, np.float64) @ CAPTURE_TO_GLTF.T).astype(np.float32)
    faces = np.ascontiguousarray(mesh.faces, dtype=np.uint32)
    buffer = _Buffer()
    attributes = {
        "POSITION": buffer.accessor(positions, "VEC3", _ARRAY_BUFFER, bounds=True),
        "TEXCOORD_0": buffer.accessor(np.asarray(mesh.uvs, np.float32), "VEC2", _ARRAY_BUFFER),
    }
    if export.material == "lit":
        normals = vertex_normals(positions, faces)
        attributes["NORMAL"] = buffer.accessor(normals, "VEC3", _ARRAY_BUFFER)
    indices = buffer.accessor(faces.reshape(-1), "SCALAR", _ELEMENT_ARRAY_BUFFER, bounds=True)
    image = buffer.view(_png(mesh.texture))
    name = f"stylized_head_{extras['style']}" if extras.get("style") else "head"
    document: dict[str, object] = {
        "asset": {"version": "2.0", "generator": GENERATOR},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [
            {
                "name": name,
                "primitives": [{"attributes": attributes, "indices": indices, "material": 0}],
                "extras": _json_safe(extras),
            }
        ],
        "materials": [_material(export)],
        "textures": [{"sampler": 0, "source": 0}],
        "samplers": [
            {
                "magFilter": _LINEAR,
                "minFilter": _LINEAR_MIPMAP_LINEAR,
                "wrapS": _CLAMP_TO_EDGE,
                "wrapT": _CLAMP_TO_EDGE,
            }
        ],
        "images": [{"bufferView": image, "mimeType": "image/png"}],
        "accessors": buffer.accessors,
        "bufferViews": buffer.views,
        "buffers": [{"byteLength": len(buffer.data)}],
    }
    if export.material == "unlit":
        document["extensionsUsed"] = ["KHR_materials_unlit"]
    return document, bytes(buffer.data)


def _material(export: GltfExport) -> dict[str, object]:
    material: dict[str, object] = {
        "name": f"head_{export.material}",
        "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0},
            "metallicFactor": 0.0,
            "roughnessFactor": 0.8,
        },
    }
    if export.material == "unlit":
        material["extensions"] = {"KHR_materials_unlit": {}}
    return material


def _png(texture: np.ndarray) -> bytes:
    image = Image.fromarray((np.clip(texture, 0, 1) * 255 + 0.5).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _json_safe(value: object) -> object:
    """Extras as plain JSON (numpy scalars and tuples included)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else v))


def _glb_bytes(document: dict[str, object], binary: bytes) -> bytes:
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<III", 0x46546C67, 2, total),
            struct.pack("<II", len(text), 0x4E4F534A),
            text,
            struct.pack("<II", len(binary), 0x004E4942),
            binary,
        ]
    )


def read_glb(path: Path) -> tuple[TexturedMesh, dict[str, object]]:
    """The textured mesh in a GLB written by :func:`write_glb`, in capture coordinates,
    and its extras."""
    try:
        scene = trimesh.load(path, force="scene", process=False)
    except Exception as exc:
        raise BackendError(f"{path}: cannot read GLB ({exc})") from exc
    meshes = list(scene.geometry.values())
    if len(meshes) != 1 or not isinstance(meshes[0].visual, trimesh.visual.TextureVisuals):
        raise BackendError(f"{path}: expected one textured mesh")
    tm = meshes[0]
    uv = np.stack([tm.visual.uv[:, 0], 1.0 - tm.visual.uv[:, 1]], axis=1).astype(np.float32)
    image = tm.visual.material.baseColorTexture.convert("RGB")
    texture = np.asarray(image, dtype=np.float32) / 255.0
    extras = {k: v for k, v in tm.metadata.items() if k not in _TRIMESH_KEYS}
    vertices = np.asarray(tm.vertices)
    if is_gltf_axes(extras):
        vertices = vertices @ CAPTURE_TO_GLTF
    return TexturedMesh(vertices, np.asarray(tm.faces), uv, texture), extras


def export_of(extras: dict[str, object]) -> GltfExport:
    """The export choices a GLB was written with (older files: the defaults)."""
    return GltfExport(str(extras.get("material", GltfExport.material)))


def is_gltf_axes(extras: dict[str, object]) -> bool:
    """Whether a GLB's extras say it is +Y up (else it predates the convention)."""
    return extras.get("up") == GLTF_AXES["up"]
