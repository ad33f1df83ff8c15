"""The pipeline as the service drives it: progress reports, cancellation, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.errors import BackendError, JobCancelled
from backend.pipeline import Progress, RunRequest, Style, run_pipeline
from backend.style.builtin import BUILTIN_STYLES


def _request(capture: Path, out: Path, **changes) -> RunRequest:
    styles = [Style(name, BUILTIN_STYLES[name](64)) for name in ("ink", "mosaic")]
    options = {"steps": 60, "style_steps": 3, "face_budget": 5000}
    options |= {"download_weights": False, "device": "cpu"}
    return RunRequest(capture, styles, out, **{**options, **changes})


def test_progress_runs_in_order_and_a_cancelled_run_resumes_from_its_last_stage(
    tiny_capture_dir: Path, tmp_path: Path
):
    """One run cancelled in its second style, then resumed: progress advances through the
    stages in order in both, and the resumed run keeps every finished artifact."""
    out = tmp_path / "run"
    first: list[Progress] = []

    def cancel_in_second_style(event: Progress) -> None:
        first.append(event)
        if event.stage == "stylize" and "style 2/2" in event.message:
            raise JobCancelled("cancelled by the test")

    with pytest.raises(JobCancelled):
        run_pipeline(_request(tiny_capture_dir, out), progress=cancel_in_second_style)
    stages = [e.stage for e in first]
    assert [e.fraction for e in first] == sorted(e.fraction for e in first)
    assert stages.index("mesh") > stages.index("nerf")
    assert stages.index("stylize") > max(i for i, s in enumerate(stages) if s == "mesh")
    assert any(e.eta_seconds is not None and e.eta_seconds > 0 for e in first)
    assert sum(s == "nerf" for s in stages) >= 6
    assert not (out / "report.json").exists()
    finished = ["nerf/nerf.safetensors", "mesh.glb", "stylized_ink.glb"]
    before = {name: (out / name).read_bytes() for name in finished}
    assert not (out / "stylized_mosaic.glb").exists()

    events: list[Progress] = []
    report = run_pipeline(_request(tiny_capture_dir, out, resume=True), progress=events.append)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert events[-1].stage == "report" and events[-1].message == "done"
    assert {name: (out / name).read_bytes() for name in finished} == before
    assert [s["name"] for s in report["styles"]] == ["ink", "mosaic"]
    assert (out / "stylized_mosaic.glb").is_file()
    assert report["nerf"]["steps"] == 60
    assert not any(e.stage == "nerf" and "step" in e.message for e in events)
    assert json.loads((out / "report.json").read_text())["mesh"] == report["mesh"]


def test_resume_refuses_a_folder_made_with_other_settings(tiny_capture_dir: Path, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps(_request(tiny_capture_dir, out).record()))
    with pytest.raises(BackendError, match="other settings \\(steps\\)"):
        run_pipeline(_request(tiny_capture_dir, out, steps=80, resume=True))


def test_a_fresh_run_into_a_used_folder_forgets_its_finished_stages(tiny_capture_dir, tmp_path):
    out = tmp_path / "run"
    records = [out / "stages" / "mesh.json", out / "nerf" / "result.json"]
    records.append(out / "colornet_styles" / "ink.json")
    for record in records:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("{}")

    def stop(event: Progress) -> None:
        raise JobCancelled("stop before training")

    with pytest.raises(JobCancelled):
        run_pipeline(_request(tiny_capture_dir, out), progress=stop)
    assert not any(record.exists() for record in records)
    assert json.loads((out / "run.json").read_text())["steps"] == 60
