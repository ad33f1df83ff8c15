"""Every stylization method on one head, the same style images, the same judge: one table.

    python benchmarks/methods.py --run-dir OUT [--styles a,b] [--style-image FILE ...]
        [--methods hybrid,per-view,...] [--clip-weights DIR] [--pictures FILE] [--json FILE]

``OUT`` is a folder written by ``python -m backend run`` or ``demo``: its NeRF
(``nerf/``), its ``mesh.glb`` and the capture named in its ``run.json`` are shared by
every method, so the table compares stylization alone. Each registered method (the
default; ``clip`` treats the style images as exemplars and needs CLIP's weights) runs
with the run's preset settings, built and called the same way. Printed: one JSON list
and a table of consistency RMSE and LPIPS (short: views 10 degrees apart, long: 60), the
judge's style gain and covariance ratio, content LPIPS and seconds, with the unstylized
head's consistency as the first row.
``--pictures`` writes one PNG: rows are the unstylized head, then per method and style
the images the figures were measured on (a 2D network's, a NeRF's, or the hybrid
texture's renders) and, where those are not the texture's, the baked texture beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from backend.captures import load_capture
from backend.device import resolve_device
from backend.files import write_json, write_png
from backend.mesh.glb import read_glb
from backend.methods.base import MethodContext
from backend.methods.registry import REGISTERED, build_method
from backend.nerf.stage import load_nerf_result
from backend.pipeline import RunRequest, load_networks, style_from_file, stylize_settings
from backend.pretrained.clip import load_clip
from backend.raster import make_rasterizer
from backend.style.builtin import BUILTIN_STYLES

COLUMNS = (
    ("consistency_short_rmse", "short RMSE"),
    ("consistency_long_rmse", "long RMSE"),
    ("consistency_short_lpips", "short LPIPS"),
    ("consistency_long_lpips", "long LPIPS"),
    ("judge_meanstd_gain", "judge gain"),
    ("judge_cov_cosine_ratio", "cov x"),
    ("content_lpips", "content LPIPS"),
    ("seconds", "seconds"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--styles", default="strokes,mosaic")
    parser.add_argument("--style-image", type=Path, action="append", default=[])
    parser.add_argument("--methods", default=None, help="default: every registered method")
    parser.add_argument("--clip-weights", type=Path, default=None, help="for the clip method")
    parser.add_argument("--pictures", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    styles = [(n, BUILTIN_STYLES[n]()) for n in args.styles.split(",") if n]
    styles += [(s.name, s.image) for s in map(style_from_file, args.style_image)]
    methods = args.methods.split(",") if args.methods else list(REGISTERED)
    rows, strips = compare(args.run_dir, methods, styles, args.device, args.clip_weights)
    print(json.dumps(rows, indent=2))
    print(table(rows))
    if args.json is not None:
        write_json(args.json, rows)
    if args.pictures is not None:
        write_png(args.pictures, np.vstack(strips))


def compare(
    run_dir: Path, methods: list[str], styles, device_name: str, clip_weights: Path | None = None
):
    """Rows of figures (the unstylized head first) and picture strips. A method that
    scores by CLIP (style images as exemplars) needs ``clip_weights`` (or transformers'
    cache); without them it stops with the line that says how to get them."""
    device = resolve_device(device_name)
    needs_clip = any(REGISTERED[m].needs_clip for m in methods)
    clip = load_clip(clip_weights, download=False).to(device) if needs_clip else None
    record = json.loads((run_dir / "run.json").read_text())
    capture = load_capture(Path(record["capture"]))
    nerf = load_nerf_result(run_dir, device)
    if nerf is None:
        raise SystemExit(f"{run_dir}: no finished NeRF stage")
    mesh, _ = read_glb(run_dir / "mesh.glb")
    backbone, judge = load_networks(RunRequest(Path(), [], Path()), device)
    settings = stylize_settings({**record, "style_steps": None})
    rasterizer = make_rasterizer("auto", device)
    context = MethodContext.create(
        mesh, capture, nerf.model, backbone, judge, rasterizer, settings, device, clip=clip
    )
    measures = context.measures
    rows = [{"method": "unstylized", "style": "-", **_unstylized(measures)}]
    strips = [_strip(measures.heldout.original_images)]
    for method in methods:
        runner = build_method(method, context)
        for name, image in styles:
            result = runner.stylize(name, image)
            rows.append({"method": method, "style": name, **result.summary()})
            baked = measures.heldout.renders(torch.tensor(result.mesh.texture, device=device))[0]
            measured = result.judge_images
            strip = _strip(baked if measured is None else measured)
            if measured is not None:
                strip = np.hstack([strip, _strip(baked)])
            strips.append(strip)
    width = max(s.shape[1] for s in strips)
    padded = [
        np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=1.0) for s in strips
    ]
    return rows, padded


def _unstylized(measures) -> dict[str, float]:
    figures = measures.unstylized_consistency().summary()
    return {**figures, "content_lpips": 0.0, "seconds": 0.0}


def _strip(images: torch.Tensor) -> np.ndarray:
    return np.hstack([image.cpu().numpy() for image in images[:3]])


def table(rows: list[dict]) -> str:
    """A Markdown table of the rows' figures."""
    head = "| method | style | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = [_cell(row.get(key)) for key, _ in COLUMNS]
        lines.append(f"| {row['method']} | {row['style']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
