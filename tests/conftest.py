"""Shared fixtures: a tiny capture of the sample head rendered by Blender (bpy, Cycles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.captures.synth import SAMPLE_HEAD, SynthRequest, render_capture

TINY_RES = 48


@pytest.fixture(scope="session")
def tiny_capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 training + 4 held-out views of the sample head at 48 px (a few seconds)."""
    pytest.importorskip("bpy", reason="bpy renders the test capture: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("tiny") / "capture"
    return render_capture(SynthRequest(SAMPLE_HEAD, out, 16, 4, TINY_RES))
