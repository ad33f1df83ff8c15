"""The prepared GPU script, run dry on the CPU: every step it will take on a lent GPU works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _probe_wheel(folder: Path) -> Path:
    """A one-module pure-Python wheel built offline, standing in for the carried wheels."""
    source = folder / "probe"
    (source / "gpu_probe").mkdir(parents=True)
    (source / "gpu_probe" / "__init__.py").write_text("VALUE = 7\n")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "gpu-probe"\nversion = "1.0"\n'
    )
    wheels = folder / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(wheels), str(source)], check=True)
    return wheels


@pytest.mark.slow
def test_the_dry_run_takes_every_step_and_writes_one_json(tmp_path: Path, tiny_capture_dir: Path):
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run"]
    command += ["--out", str(out), "--wheels", str(_probe_wheel(tmp_path))]
    command += ["--capture", str(tiny_capture_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads((out / "gpu_check.json").read_text())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    steps = report["steps"]
    expected = ["environment", "wheels", "imports", "nvdiffrast", "parity", "nerf_budget"]
    assert list(steps) == [*expected, "pipeline", "apply_style"]
    assert all(step["ok"] for step in steps.values())
    assert report["dry_run"] is True
    assert steps["wheels"]["installed"] == ["gpu_probe-1.0-py3-none-any.whl"]
    assert steps["parity"]["within_tolerance"] and steps["parity"]["same_triangle"] == 1.0
    assert steps["nerf_budget"]["psnr_heldout"] > 10.0
    pipeline = steps["pipeline"]
    assert pipeline["device"] == "cpu" and pipeline["raster_backend"] == "torch"
    assert pipeline["mesh_seconds"] > 0 and len(pipeline["style_seconds"]) == 1
    assert pipeline["colornet_seconds"] > 0
    assert steps["apply_style"]["median_seconds"] > 0


def test_a_failing_step_is_recorded_and_the_others_still_run(tmp_path: Path):
    command = [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run"]
    command += ["--out", str(tmp_path), "--wheels", str(tmp_path / "none"), "--capture"]
    command += [str(tmp_path / "missing")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    steps = json.loads((tmp_path / "gpu_check.json").read_text())["steps"]
    assert done.returncode == 1
    assert not steps["wheels"]["ok"] and "no wheels" in steps["wheels"]["error"]
    assert steps["parity"]["ok"]
    assert not steps["nerf_budget"]["ok"] and not steps["pipeline"]["ok"]
    assert "apply_style" not in steps
