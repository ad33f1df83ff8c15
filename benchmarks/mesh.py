"""Mesh stage on several heads: shape against the truth, sheets, what was seen, time.

    python benchmarks/mesh.py --work DIR [--repeat 3] [--pictures DIR]
    python benchmarks/mesh.py --head CAPTURE RUN [--head CAPTURE RUN ...] [...]

With ``--work``, the three heads of the project (the sample capture; Suzanne and the
head open at the back, each rendered by Blender at 128 px, 56 + 4 front-hemisphere
views) get a NeRF each from ``python -m backend nerf``, all kept in ``DIR`` and reused
by later runs (about 8 minutes the first time on two cores). Otherwise each ``RUN`` is
a folder written by ``python -m backend nerf|run|demo`` on ``CAPTURE`` (its ``nerf/``
is used). The stage runs with the default settings (20k faces, 1024 px
texture) ``--repeat`` times; the fastest run is timed, the last one measured:

- Chamfer distance to the capture's ``gt_mesh.ply`` (mean of both directions, relative
  to the truth's diagonal), and the truth-to-mesh direction alone (``accuracy``: the
  only fair one when the truth is open, as a scan is);
- ``back_overhang``: how far the mesh reaches behind the truth's back (+Y), relative to
  the truth's depth (a head open at the back should close near its cut);
- sheets: the share of surface whose solid is thinner than two field voxels, and the
  largest connected patch of it, in field voxels squared;
- closed (watertight) and the seen fraction the report carries.

Prints one JSON object and a table; ``--pictures`` writes one PNG per head (six views
around it, 60 degrees apart, starting behind the left shoulder).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from backend.captures import Capture, load_capture
from backend.captures.synth import SAMPLE_HEAD, SynthRequest, render_capture
from backend.files import write_png
from backend.mesh.stage import MeshResult, MeshSettings, run_mesh_stage
from backend.mesh.thickness import thin_sheets
from backend.nerf.checkpoint import load_model
from backend.raster import TorchRasterizer
from backend.sample import sample_capture_dir
from backend.views.cameras import orbit_views
from backend.views.render import MeshTensors, render

COLUMNS = (
    "chamfer_rel_diag",
    "accuracy_rel_diag",
    "back_overhang",
    "thin_area_fraction",
    "largest_sheet_voxels2",
    "closed",
    "seen_fraction",
    "seconds",
)
SAMPLES = 50_000
RENDERED_HEADS = {
    "suzanne": SAMPLE_HEAD.parent / "suzanne.glb",
    "open_head": SAMPLE_HEAD.parent / "open_head.glb",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--head", nargs=2, type=Path, action="append", default=[])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--pictures", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    heads = list(args.head) + (_prepared_heads(args.work) if args.work else [])
    if not heads:
        parser.error("give --work DIR or at least one --head CAPTURE RUN")
    rows = [_head(capture, run, args.repeat, args.pictures) for capture, run in heads]
    print(json.dumps({"heads": rows}, indent=2))
    print("| head | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for row in rows:
        print(f"| {row['head']} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")


def _prepared_heads(work: Path) -> list[tuple[Path, Path]]:
    """(capture, run) of each project head in ``work``, rendered and trained if absent."""
    heads = [(work / "sample_head", sample_capture_dir())]
    for name, mesh in RENDERED_HEADS.items():
        capture = work / name / "capture"
        if not (capture / "transforms_train.json").is_file():
            render_capture(SynthRequest(mesh, capture, 56, 4, 128))
        heads.append((work / name, capture))
    for folder, capture in heads:
        if not (folder / "run" / "nerf").is_dir():
            command = [sys.executable, "-m", "backend", "nerf", str(capture)]
            subprocess.run([*command, "--out", str(folder / "run")], check=True)
    return [(capture, folder / "run") for folder, capture in heads]


def _head(capture_dir: Path, run: Path, repeat: int, pictures: Path | None) -> dict:
    capture = load_capture(capture_dir)
    model, _ = load_model(run / "nerf", torch.device("cpu"))
    results = [run_mesh_stage(model, capture, MeshSettings()) for _ in range(max(1, repeat))]
    result = results[-1]
    seconds = min(sum(r.seconds.values()) for r in results)
    mesh = trimesh.Trimesh(result.mesh.vertices, result.mesh.faces)
    voxel = model.field.geometry.voxel * capture.box.scale
    sheets = thin_sheets(mesh, 2.0 * voxel)
    head = capture_dir.name if capture_dir.name != "capture" else capture_dir.parent.name
    row = {
        "head": head,
        "closed": bool(mesh.is_watertight),
        "seen_fraction": round(result.seen_fraction, 3),
        "thin_area_fraction": round(sheets.thin_area_fraction, 5),
        "largest_sheet_voxels2": round(sheets.largest_patch_area / voxel**2, 2),
        "field_voxel_mm": round(1000 * voxel, 2),
        "seconds": round(seconds, 2),
        "stage_seconds": {k: round(v, 2) for k, v in result.seconds.items()},
        **_against_truth(mesh, capture),
    }
    if pictures is not None:
        pictures.mkdir(parents=True, exist_ok=True)
        write_png(pictures / f"{head}.png", _around(result, capture))
    return row


def _against_truth(mesh: trimesh.Trimesh, capture: Capture) -> dict[str, float]:
    truth = trimesh.load(capture.gt_mesh_path, force="mesh")
    diagonal = float(np.linalg.norm(truth.bounds[1] - truth.bounds[0]))
    ours, theirs = mesh.sample(SAMPLES, seed=1), truth.sample(SAMPLES, seed=2)
    accuracy = cKDTree(ours).query(theirs)[0].mean() / diagonal
    completeness = cKDTree(theirs).query(ours)[0].mean() / diagonal
    depth = truth.bounds[1, 1] - truth.bounds[0, 1]
    return {
        "chamfer_rel_diag": round(float(accuracy + completeness) / 2.0, 5),
        "accuracy_rel_diag": round(float(accuracy), 5),
        "back_overhang": round(float(mesh.bounds[1, 1] - truth.bounds[1, 1]) / depth, 3),
    }


def _around(result: MeshResult, capture: Capture) -> np.ndarray:
    tensors = MeshTensors.of(result.mesh, torch.device("cpu"))
    texture = torch.from_numpy(result.mesh.texture)
    views = []
    for camera in orbit_views(capture, 6, 200, 300.0):
        frame = render(TorchRasterizer(), tensors, texture, camera, 2)
        cover = frame.coverage.numpy()[..., None]
        views.append(frame.image.numpy() * cover + (1.0 - cover))
    return np.concatenate(views, axis=1)


if __name__ == "__main__":
    main()
