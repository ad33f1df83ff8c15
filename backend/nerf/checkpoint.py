"""Save and load a trained field: tensors in safetensors, everything else in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from backend.captures import SceneBox
from backend.errors import CheckpointError
from backend.files import atomic_write, write_json
from backend.nerf.background import Background
from backend.nerf.config import NerfConfig
from backend.nerf.field import VoxelField
from backend.nerf.grid import GridGeometry, SparseGrid
from backend.nerf.model import NerfModel
from backend.nerf.sampler import Sampler

FORMAT = "stylized-heads-nerf"
VERSION = 1
TENSORS = "nerf.safetensors"
META = "nerf.json"


def save_model(model: NerfModel, config: NerfConfig, directory: Path) -> None:
    """Write ``nerf.safetensors`` and ``nerf.json`` into ``directory`` atomically.

    Rows are stored with the flat indices of their vertices (rows are in vertex order), so
    the dense index volume is rebuilt on load instead of being stored.
    """
    grid = model.field.grid
    tensors = {
        "table": grid.table.detach().cpu().contiguous(),
        "vertices": grid.row_vertices.cpu().to(torch.int64),
    }
    if model.background.shells is not None:
        tensors["background_shells"] = model.background.shells.detach().cpu().contiguous()
    geometry = grid.geometry
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "geometry": {
            "low": geometry.low.tolist(),
            "voxel": geometry.voxel,
            "dims": list(geometry.dims),
        },
        "scene_box": model.capture_box.to_dict(),
        "background_radii": model.background.radii,
        "step_ratio": model.sampler.step_ratio,
        "config": config.to_dict(),
    }
    atomic_write(directory / TENSORS, lambda tmp: save_file(tensors, str(tmp)))
    write_json(directory / META, meta)


def load_model(directory: Path, device: torch.device) -> tuple[NerfModel, NerfConfig]:
    meta = _read_meta(directory / META)
    try:
        tensors = load_file(str(directory / TENSORS), device=str(device))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{directory / TENSORS}: cannot read the field ({exc})") from exc
    try:
        g = meta["geometry"]
        geometry = GridGeometry(
            torch.tensor(g["low"], device=device),
            float(g["voxel"]),
            tuple(int(d) for d in g["dims"]),
        )
        index = torch.zeros(geometry.dims, dtype=torch.long, device=device)
        vertices = tensors["vertices"]
        index.view(-1)[vertices] = torch.arange(1, len(vertices) + 1, device=device)
        field = VoxelField(SparseGrid(geometry, index, tensors["table"]))
        background = _background(meta, tensors, directory).to(device)
        sampler = Sampler(float(meta["step_ratio"]))
        sampler.refresh(field)
        model = NerfModel(field, sampler, background, SceneBox.from_dict(meta["scene_box"]))
        return model, NerfConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{directory}: the saved field is incomplete ({exc})") from exc


def _background(meta: dict, tensors: dict, directory: Path) -> Background:
    if meta.get("learned_background"):
        raise CheckpointError(
            f"{directory}: saved with the old environment-map background, which this "
            "program no longer reads: train the NeRF stage again"
        )
    radii = meta.get("background_radii")
    if radii is None:
        return Background()
    background = Background(tuple(float(r) for r in radii))
    background.shells.data.copy_(tensors["background_shells"])
    return background


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read the field's description ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a saved field of this program")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: saved by format version {meta.get('version')}, "
            f"this program reads version {VERSION}"
        )
    return meta
