"""Write and read textured meshes as binary glTF (GLB) with trimesh.

UVs are kept in glTF orientation (v = 0 at the texture's first row); trimesh works in
OpenGL orientation and flips v on export and import, so both directions flip here.
Settings and provenance go into the glTF ``extras`` of the mesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from backend.errors import BackendError
from backend.files import atomic_write
from backend.mesh.textured import TexturedMesh


def write_glb(mesh: TexturedMesh, path: Path, extras: dict[str, object] | None = None) -> None:
    image = Image.fromarray((np.clip(mesh.texture, 0, 1) * 255 + 0.5).astype(np.uint8))
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=image, metallicFactor=0.0, roughnessFactor=0.8, doubleSided=False
    )
    uv_opengl = np.stack([mesh.uvs[:, 0], 1.0 - mesh.uvs[:, 1]], axis=1)
    visual = trimesh.visual.TextureVisuals(uv=uv_opengl, material=material)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, visual=visual, process=False)
    tm.metadata.update(extras or {})
    data = trimesh.Scene(tm).export(file_type="glb")
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def read_glb(path: Path) -> tuple[TexturedMesh, dict[str, object]]:
    """The textured mesh in a GLB written by :func:`write_glb`, and its extras."""
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
    return TexturedMesh(np.asarray(tm.vertices), np.asarray(tm.faces), uv, texture), dict(
        tm.metadata
    )
