"""The Blender extension without a backend: build, install, panels, preferences, capture
export and import conventions, and clear reports when the backend cannot be used."""

from __future__ import annotations

import ast
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from tests.addon_helpers import free_port, run_scenario

pytest.importorskip("bpy", reason="the add-on tests drive Blender's bpy module")

import build_addon
from backend.style.builtin import BUILTIN_STYLES


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert build_addon.main(["--out", str(tmp_path_factory.mktemp("dist"))]) == 0
    return next(iter(Path(tmp_path_factory.getbasetemp()).glob("dist*/*.zip")))


@pytest.fixture
def home(tmp_path: Path, addon_zip: Path) -> Path:
    """A Blender user folder with the extension installed from the zip."""
    home = tmp_path / "home"
    run_scenario("install", home, zip_path=str(addon_zip), prefs={})
    return home


def _tetrahedron() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small tetrahedron off the origin, taller along the capture's +Z, with UVs."""
    vertices = np.array([[0.1, 0.2, 0.3], [1.0, 0.2, 0.3], [0.1, 1.5, 0.3], [0.1, 0.2, 2.0]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    uvs = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9]], dtype=np.float32)
    return vertices, faces, uvs


def test_build_writes_a_validated_zip_without_tests_or_caches(tmp_path, capsys):
    assert build_addon.main(["--out", str(tmp_path)]) == 0
    assert "validated by Blender's extension validator" in capsys.readouterr().out
    archive = tmp_path / "stylized_heads-0.1.0.zip"
    names = zipfile.ZipFile(archive).namelist()
    assert names[0] == "blender_manifest.toml" and "__init__.py" in names
    assert "headless.py" in names and "client.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "test" in n]


def test_manifest_rules_catch_what_the_validator_refuses():
    manifest = build_addon.read_manifest()
    assert build_addon.check_manifest(manifest) == []
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["permissions"]) == {"network", "files"}
    bad = dict(manifest, tagline="Ends with a full stop.", permissions={"network": ""})
    problems = build_addon.check_manifest(bad)
    assert any("tagline" in p for p in problems) and any("network" in p for p in problems)


def test_zip_installs_registers_and_preferences_persist(tmp_path, addon_zip):
    home = tmp_path / "home"
    prefs = {"backend_url": "http://127.0.0.1:9321", "start_command": "python -m backend serve"}
    installed = run_scenario("install", home, zip_path=str(addon_zip), prefs=prefs)
    assert installed["install"] == ["FINISHED"]
    assert "bl_ext.user_default.stylized_heads" in installed["addons"]
    after_restart = run_scenario("prefs_and_panels", home)
    assert after_restart["backend_url"] == prefs["backend_url"]
    assert after_restart["start_command"] == prefs["start_command"]
    idle, busy = after_restart["idle"], after_restart["busy"]
    assert ["operator", "stylized_heads.stylize"] in idle["STYLIZED_HEADS_PT_main"]
    assert "STYLIZED_HEADS_PT_results" in idle and "STYLIZED_HEADS_PT_options" in idle
    main = busy["STYLIZED_HEADS_PT_main"]
    assert any(e[0] == "progress" and abs(e[1] - 0.4) < 1e-6 and e[2] == "40%" for e in main)
    assert ["operator", "stylized_heads.cancel"] in main
    assert ["label", "ETA 1 min 15 s"] in main


def test_unreachable_backend_gives_a_clear_report(home, tmp_path):
    capture = tmp_path / "capture"
    capture.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    seen = run_scenario("stylize_refused", home, capture=str(capture), url=url)
    assert seen["result"] == ["CANCELLED"] and seen["failed"]
    assert "cannot reach the backend" in seen["report"] and url in seen["report"]


def test_remote_backend_needs_online_access(home, tmp_path):
    seen = run_scenario("stylize_refused", home, capture=str(tmp_path), url="http://10.9.8.7:1")
    assert seen["failed"] and "online access is off" in seen["report"]


def _ray_distance(camera, u: float, v: float, point: np.ndarray) -> float:
    """Distance of ``point`` from the backend's ray through pixel position (u, v)."""
    k = camera.intrinsics
    direction = camera.c2w[:3, :3] @ np.array([(u - k.cx) / k.fx, -(v - k.cy) / k.fy, -1.0])
    direction /= np.linalg.norm(direction)
    offset = point - camera.center
    return float(np.linalg.norm(offset - direction * (offset @ direction)))


def test_cameras_exported_from_a_scene_give_rays_through_the_object(home, tmp_path):
    from backend.captures import load_capture

    out = tmp_path / "capture"
    seen = run_scenario("export_scene_cameras", home, out=str(out))
    assert seen["untouched"]
    assert seen["images"]["Cam Portrait"] == ""  # the in-memory image was copied, not saved
    capture = load_capture(out)
    frames = {Path(f.name).stem: f for f in capture.train + capture.heldout}
    assert set(frames) == {"Cam.Landscape", "Cam_Portrait", "CamScaled"}
    for name, points in seen["projections"].items():
        frame = frames[name.replace(" ", "_")]
        for u, v, *world in points:
            assert _ray_distance(frame.camera, u, v, np.array(world)) < 1e-4, name
    assert (
        frames["Cam.Landscape"].width == 64
        and frames["Cam Portrait".replace(" ", "_")].height == 56
    )


def test_render_capture_from_mesh_lines_up_and_leaves_the_scene_alone(home, tmp_path):
    from backend.captures import load_capture

    out = tmp_path / "render"
    seen = run_scenario("render_mesh_capture", home, out=str(out), views=4, resolution=32)
    assert seen["untouched"]
    capture = load_capture(out)
    assert len(capture.train) + len(capture.heldout) == 4 and capture.has_alpha
    verts = np.array(seen["vertices"])
    for frame in capture.train + capture.heldout:
        k, w2c = frame.camera.intrinsics, np.linalg.inv(frame.camera.c2w)
        cam = (w2c[:3, :3] @ verts.T).T + w2c[:3, 3]
        u = k.fx * cam[:, 0] / -cam[:, 2] + k.cx
        v = -k.fy * cam[:, 1] / -cam[:, 2] + k.cy
        inside = (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
        assert inside.mean() > 0.95
        alpha = frame.rgba[v[inside].astype(int), u[inside].astype(int), 3]
        assert (alpha > 0.5).mean() > 0.9  # the head's own points land on the head


def test_import_keeps_capture_coordinates_and_restyle_keeps_the_old_image(home, tmp_path):
    from PIL import Image

    from backend.mesh.glb import write_glb
    from backend.mesh.textured import TexturedMesh

    vertices, faces, uvs = _tetrahedron()
    texture = np.zeros((8, 8, 3), np.float32)
    texture[..., 0] = 1.0
    glb = tmp_path / "stylized_ink.glb"
    write_glb(TexturedMesh(vertices, faces, uvs, texture), glb, {"style": "ink"})
    png = tmp_path / "new.png"
    Image.new("RGB", (8, 8), (0, 0, 255)).save(png)
    seen = run_scenario("import_and_restyle", home, glb=str(glb), png=str(png))
    assert seen["collection"] == "my job" and seen["collection_in_scene"]
    assert seen["props"] == {
        "stylized_heads_job": "f" * 32,
        "stylized_heads_backend": "http://x:1",
        "stylized_heads_job_name": "my job",
        "stylized_heads_style": "ink",
    }
    got = np.array(sorted(map(tuple, np.round(seen["vertices"], 5))))
    assert np.allclose(got, sorted(map(tuple, vertices)), atol=1e-5)
    assert seen["node_image"] == seen["new_image"] == "restyled" and seen["packed"]
    assert seen["old_image"] in seen["images"] and seen["old_image"] != "restyled"
    assert seen["untouched"]


def test_a_prompt_alone_makes_a_job_and_the_style_control_sends_a_prompt(home, tmp_path):
    """The requests reach a stand-in backend that records them (a real one would need CLIP
    weights and minutes of training; tests/test_server_clip.py covers its side)."""
    from PIL import Image

    from backend.mesh.glb import write_glb
    from backend.mesh.textured import TexturedMesh

    vertices, faces, uvs = _tetrahedron()
    glb, png = tmp_path / "stylized_ink.glb", tmp_path / "new.png"
    write_glb(TexturedMesh(vertices, faces, uvs, np.ones((8, 8, 3), np.float32)), glb, {})
    Image.new("RGB", (8, 8), (0, 0, 255)).save(png)
    capture = tmp_path / "capture"
    capture.mkdir()
    seen = run_scenario("prompt_requests", home, capture=str(capture), glb=str(glb), png=str(png))
    assert seen["refused"]["failed"] and "or type a prompt" in seen["refused"]["report"]
    job, apply = seen["requests"]  # the refused press sent nothing
    assert job["path"] == "/jobs" and "stand-in backend" in seen["submitted"]["report"]
    names = [name for name, _ in job["fields"]]
    assert sorted(names) == ["capture_path", "options"]
    options = json.loads(dict(job["fields"])["options"])
    assert options["prompt"] == "a bronze statue" and options["colornet"] is True
    assert options["method"] == "mutual"
    assert ["prop", "method"] in seen["panels"]["STYLIZED_HEADS_PT_options"]

    assert apply["path"] == f"/jobs/{'f' * 32}/apply-style"
    fields = dict(apply["fields"])
    assert fields["prompt"] == "a bronze statue" and fields["format"] == "png"
    assert not {"style", "builtin_style"} & set(fields)
    assert not seen["applied"]["failed"], seen["applied"]["report"]
    assert seen["image"].endswith(" a bronze statue")
    for panel in ("STYLIZED_HEADS_PT_main", "STYLIZED_HEADS_PT_style_control"):
        assert ["prop", "prompt"] in seen["panels"][panel]

    headless = seen["headless"]
    assert headless["options"]["prompt"] == "a bronze statue" and headless["no_style_refused"]
    assert headless["options"]["method"] == "per-view"
    assert headless["command"].endswith(" --clip-weights /weights/clip")


def test_an_old_glb_in_capture_coordinates_still_imports_lined_up(home, tmp_path):
    """GLBs written before the +Y-up convention carry no ``up`` record: the add-on turns
    them back itself."""
    from PIL import Image

    vertices, faces, uvs = _tetrahedron()
    legacy = trimesh.Trimesh(vertices, faces, process=False)
    legacy.visual = trimesh.visual.TextureVisuals(uv=uvs, image=Image.new("RGB", (8, 8)))
    legacy.metadata = {"style": "ink"}
    glb, png = tmp_path / "stylized_ink.glb", tmp_path / "new.png"
    legacy.export(glb)
    Image.new("RGB", (8, 8), (0, 0, 255)).save(png)
    seen = run_scenario("import_and_restyle", home, glb=str(glb), png=str(png))
    got = np.array(sorted(map(tuple, np.round(seen["vertices"], 5))))
    assert np.allclose(got, sorted(map(tuple, vertices)), atol=1e-5)


def test_blenders_own_importer_puts_the_head_where_the_capture_saw_it(
    trained_tiny, tiny_capture_dir, tmp_path
):
    """No add-on, default import settings: the head lands on the capture's ground truth."""
    from backend.mesh.glb import write_glb
    from backend.mesh.stage import MeshSettings, run_mesh_stage

    capture, model = trained_tiny
    mesh = run_mesh_stage(model, capture, MeshSettings(64, 4000, 128)).mesh
    glb = tmp_path / "mesh.glb"
    write_glb(mesh, glb, {"stage": "mesh"})
    seen = run_scenario("import_with_blender_defaults", tmp_path / "home", glb=str(glb))
    imported = np.asarray(seen["vertices"])
    assert np.abs(np.sort(imported, axis=0) - np.sort(mesh.vertices, axis=0)).max() < 1e-5
    truth = trimesh.load(tiny_capture_dir / "gt_mesh.ply", force="mesh")
    diagonal = float(np.linalg.norm(np.ptp(truth.vertices, axis=0)))
    surface = cKDTree(trimesh.sample.sample_surface(truth, 200_000, seed=0)[0])
    # The tiny capture's own mesh is coarse (48 px views): about 1% of the diagonal off.
    assert np.median(surface.query(imported)[0]) < 0.02 * diagonal
    # Every extreme but the back of the head (+Y, which no front-hemisphere camera saw:
    # the 48 px capture's smoothed hull ends 2.4% of the diagonal short of it).
    seen_extremes = np.array([[True, True, True], [True, False, True]])
    bounds = np.stack([imported.min(axis=0), imported.max(axis=0)])
    assert np.abs(bounds - truth.bounds)[seen_extremes].max() < 0.015 * diagonal
    x, y, z = imported.T
    tipped = np.stack([x, -z, y], axis=1)  # where a file in raw +Z-up coordinates lands
    tipped_bounds = np.stack([tipped.min(axis=0), tipped.max(axis=0)])
    assert np.abs(tipped_bounds - truth.bounds)[seen_extremes].max() > 0.03 * diagonal


def test_the_style_menu_offers_exactly_the_backends_builtin_styles():
    """The add-on cannot import the backend, so it keeps its own list of names."""
    source = (Path(__file__).parents[1] / "blender_addon" / "properties.py").read_text()
    (listed,) = [
        ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BUILTIN_STYLES"
    ]
    assert listed == tuple(BUILTIN_STYLES)
