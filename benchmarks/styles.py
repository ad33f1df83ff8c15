"""Stage 2 on real features: every built-in style on one or more heads, judged.

    python benchmarks/styles.py --run-dir OUT [--run-dir OUT2 ...] [--styles a,b,...]
        [--style-image FILE ...] [--set key=value ...] [--pictures DIR]

Each ``OUT`` is a folder written by ``python -m backend run`` or ``demo`` (its NeRF is
not used: its ``mesh.glb``, and the capture named in its ``run.json``). Every style is
optimized with the stage-2 settings of the run's preset, not its ``--style-steps``
(``--set`` overrides any :class:`StylizeSettings` field, e.g. ``--set
content_weight=0.5``), and judged as a run judges it: AlexNet statistics and LPIPS on
the held-out cameras, consistency RMSE and LPIPS on the arc, each beside the unstylized
head. Prints one JSON object and a table;
``--pictures`` writes one PNG per head (rows: unstylized, then each style; columns: the
first three held-out views at 256 px).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.files import write_png
from backend.mesh.glb import read_glb
from backend.methods.base import MethodContext
from backend.methods.hybrid.optimizer import TextureOptimizer
from backend.methods.hybrid.settings import StylizeSettings
from backend.pipeline import RunRequest, load_networks, style_from_file, stylize_settings
from backend.raster import make_rasterizer
from backend.style.builtin import BUILTIN_STYLES

COLUMNS = (
    "judge_meanstd_gain",
    "judge_cov_cosine_ratio",
    "content_lpips",
    "consistency_short_rmse",
    "consistency_long_rmse",
    "consistency_short_lpips",
    "consistency_long_lpips",
    "style_loss_reduction",
    "seconds",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, action="append", required=True)
    parser.add_argument("--styles", default=",".join(BUILTIN_STYLES))
    parser.add_argument("--style-image", type=Path, action="append", default=[])
    parser.add_argument("--set", action="append", default=[], help="StylizeSettings key=value")
    parser.add_argument("--pictures", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    styles = [(n, BUILTIN_STYLES[n]()) for n in args.styles.split(",") if n]
    styles += [(s.name, s.image) for s in map(style_from_file, args.style_image)]
    rows = []
    for run_dir in args.run_dir:
        rows += _head(run_dir, styles, _overrides(args.set), device, args.pictures)
    print(json.dumps(rows, indent=2))
    print(f"\n{'head':<14} {'style':<12} " + " ".join(f"{c[:14]:>14}" for c in COLUMNS))
    for row in rows:
        values = " ".join(f"{row[c]:>14.4g}" for c in COLUMNS)
        print(f"{row['head']:<14} {row['name']:<12} {values}")


def _overrides(pairs: list[str]) -> dict[str, object]:
    """``key=value`` pairs typed by the settings' fields; tuples are written ``a+b+c``."""
    types = {f.name: str(f.type) for f in fields(StylizeSettings)}
    out: dict[str, object] = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        kind = types[key]
        if kind.startswith("tuple"):
            out[key] = tuple(value.split("+"))
        elif kind.startswith("bool"):
            out[key] = value.lower() in ("1", "true", "yes")
        elif kind.startswith(("float", "int")):
            out[key] = float(value) if kind.startswith("float") else int(value)
        else:
            out[key] = value
    return out


def _head(run_dir: Path, styles, overrides, device, pictures: Path | None) -> list[dict]:
    record = json.loads((run_dir / "run.json").read_text())
    capture = load_capture(Path(record["capture"]))
    mesh, _ = read_glb(run_dir / "mesh.glb")
    settings = replace(stylize_settings({**record, "style_steps": None}), **overrides)
    backbone, judge = load_networks(RunRequest(Path(), [], Path()), device)
    stylizer = TextureOptimizer(
        MethodContext.create(
            mesh, capture, None, backbone, judge, make_rasterizer("auto", device), settings, device
        )
    )
    rows, grid = [], [_strip(stylizer, stylizer.original)]
    for name, image in styles:
        result = stylizer.stylize(name, image)
        rows.append({"head": run_dir.name, **result.summary()})
        grid.append(_strip(stylizer, torch.tensor(result.mesh.texture, device=device)))
    if pictures is not None:
        write_png(pictures / f"{run_dir.name}.png", np.vstack(grid))
    return rows


def _strip(stylizer: TextureOptimizer, texture: torch.Tensor) -> np.ndarray:
    images, _ = stylizer.measures.heldout.renders(texture)
    return np.hstack([image.cpu().numpy() for image in images[:3]])


if __name__ == "__main__":
    main()
