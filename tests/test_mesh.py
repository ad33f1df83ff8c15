"""Stage 2a: marching cubes, cleanup, atlas, bake, GLB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from backend.errors import BackendError
from backend.mesh.cleanup import chamfer_distance, clean_mesh
from backend.mesh.closure import without_sheets
from backend.mesh.extract import extract_surface, filled_solid, march, solid_volume
from backend.mesh.geometry import vertex_normals
from backend.mesh.glb import MATERIALS, GltfExport, export_of, read_glb, write_glb
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.mesh.textured import TexturedMesh
from backend.nerf.grid import GridGeometry
from tests.gltf_helpers import assert_valid_and_upright


def test_marching_cubes_on_an_analytic_sphere_gives_its_radius():
    lattice = GridGeometry.covering(-torch.ones(3), torch.ones(3), 81)
    points = lattice.vertices().numpy()
    radius = np.linalg.norm(points, axis=-1)
    density = np.clip(0.6 - radius, 0.0, None) * 1000.0
    # The stage's own chain: solid, sheets opened away (a sphere has none), volume, march.
    solid = without_sheets(filled_solid(density, 10.0, None), 2)
    vertices, faces = march(solid_volume(density, 10.0, solid), lattice, 10.0)
    r = np.linalg.norm(vertices, axis=1)
    assert r.mean() == pytest.approx(0.59, rel=2e-3)
    assert r.std() < 2e-3
    sphere = trimesh.Trimesh(vertices, faces)
    assert sphere.is_watertight


def test_cleanup_drops_floaters_and_orients_normals_outward():
    head = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    floater = trimesh.creation.icosphere(subdivisions=0, radius=0.05)
    floater.apply_translation([3.0, 0.0, 0.0])
    head.invert()
    cleaned = clean_mesh(trimesh.util.concatenate([head, floater]))
    assert len(cleaned.faces) == len(head.faces)
    assert cleaned.is_watertight and cleaned.volume > 0


def test_extracted_sample_head_lies_on_its_ground_truth_surface(trained_tiny):
    """Where the cameras looked (the front half: every camera is in front of the face)
    the mesh lies on the true surface, neither inside nor outside it by more than half a
    field voxel (0.6% of the diagonal at 48 px); the back, closed by the visual hull, only
    counts in the overall Chamfer bound. Measured: signed median -0.29%, Chamfer 1.41%;
    the fixed half-opaque level it replaced gave -0.92% and 2.14%. Decimating to 20k faces
    pinched off 23 slivers of 2-10 faces before cleanup ran again after it."""
    capture, model = trained_tiny
    result = run_mesh_stage(
        model, capture, MeshSettings(resolution=96, face_budget=20_000, texture_size=256)
    )
    truth = trimesh.load(capture.gt_mesh_path, force="mesh")
    diagonal = np.linalg.norm(truth.bounds[1] - truth.bounds[0])
    front = result.mesh.vertices[result.mesh.vertices[:, 1] < truth.bounds.mean(axis=0)[1]]
    points, triangle = trimesh.sample.sample_surface(truth, 200_000, seed=0)
    distance, nearest = cKDTree(points).query(front)
    outward = np.einsum("ij,ij->i", front - points[nearest], truth.face_normals[triangle[nearest]])
    signed = np.where(outward < 0, -distance, distance)
    assert abs(np.median(signed)) < 0.006 * diagonal
    assert (distance < 0.03 * diagonal).mean() > 0.9
    assert result.chamfer_rel_diag is not None and result.chamfer_rel_diag < 0.018
    assert result.mesh.texture.shape == (256, 256, 3)
    assert 0.2 < result.mesh.texture.mean() < 0.9
    assert 0.5 < result.seen_fraction < 0.99  # 16 views, all from the front hemisphere
    assert result.summary()["seen_fraction"] == round(result.seen_fraction, 4)
    welded = trimesh.Trimesh(result.mesh.vertices, result.mesh.faces)
    pieces = [len(p.faces) for p in welded.split(only_watertight=False)]
    assert min(pieces) >= 0.01 * len(welded.faces), f"slivers left by decimation: {pieces}"


def test_glb_round_trip_keeps_uvs_texture_and_extras(tmp_path: Path):
    sphere = trimesh.creation.icosphere(subdivisions=2)
    rng = np.random.default_rng(0)
    mesh = TexturedMesh(
        sphere.vertices,
        sphere.faces,
        rng.uniform(0, 1, (len(sphere.vertices), 2)).astype(np.float32),
        rng.uniform(0, 1, (32, 48, 3)).astype(np.float32),
    )
    extras = {"style": "ink", "settings": {"steps": 150, "loss": "gram"}}
    write_glb(mesh, tmp_path / "head.glb", extras)
    loaded, read_extras = read_glb(tmp_path / "head.glb")
    np.testing.assert_allclose(loaded.uvs, mesh.uvs, atol=1e-6)
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)
    np.testing.assert_allclose(loaded.texture, mesh.texture, atol=0.5 / 255 + 1e-6)
    assert read_extras["style"] == "ink" and read_extras["settings"]["steps"] == 150


def _tall_textured_box() -> TexturedMesh:
    """A box twice as tall (capture +Z) as it is deep, off the origin, with its texture."""
    box = trimesh.creation.box(extents=(0.2, 0.1, 0.4))
    box.apply_translation((0.3, -0.2, 0.5))
    uvs = np.random.default_rng(1).uniform(0, 1, (len(box.vertices), 2)).astype(np.float32)
    return TexturedMesh(box.vertices, box.faces, uvs, np.full((16, 16, 3), 0.5, np.float32))


def test_glb_is_y_up_for_other_readers_and_capture_coordinates_for_ours(tmp_path: Path):
    mesh = _tall_textured_box()
    write_glb(mesh, tmp_path / "box.glb", {"style": "ink"})
    raw = trimesh.load(tmp_path / "box.glb", force="mesh", process=False)
    x, y, z = mesh.vertices.T
    np.testing.assert_allclose(raw.vertices, np.stack([x, z, -y], axis=1), atol=1e-6)
    assert np.ptp(raw.vertices[:, 1]) == pytest.approx(0.4)
    loaded, extras = read_glb(tmp_path / "box.glb")
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-6)
    assert extras["up"] == "+Y" and extras["units"] == "metres" and extras["style"] == "ink"


def test_a_glb_written_before_the_convention_still_reads_in_capture_coordinates(tmp_path):
    """Old run folders hold raw capture coordinates and no ``up`` record."""
    mesh = _tall_textured_box()
    write_glb(mesh, tmp_path / "new.glb")
    legacy = trimesh.load(tmp_path / "new.glb", force="mesh", process=False)
    legacy.vertices = mesh.vertices
    legacy.metadata = {"stage": "mesh"}
    legacy.export(tmp_path / "old.glb")
    loaded, extras = read_glb(tmp_path / "old.glb")
    assert "up" not in extras
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-6)


@pytest.mark.parametrize("material", MATERIALS)
def test_the_validator_and_a_second_client_see_a_clean_upright_glb(tmp_path, material):
    mesh = _tall_textured_box()
    extras = {"style": "ink", "settings": {"steps": 3}}
    write_glb(mesh, tmp_path / "box.glb", extras, GltfExport(material))
    assert_valid_and_upright(tmp_path / "box.glb", mesh.vertices, material)
    loaded, read_extras = read_glb(tmp_path / "box.glb")
    assert export_of(read_extras) == GltfExport(material)
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-6)


def test_lit_normals_are_smooth_unit_and_point_out_of_the_box():
    mesh = _tall_textured_box()
    normals = vertex_normals(mesh.vertices, mesh.faces)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    outward = mesh.vertices - mesh.vertices.mean(axis=0)
    assert (np.sum(normals * outward, axis=1) > 0).all()
    lonely = vertex_normals(np.zeros((3, 3)), np.array([[0, 1, 2]]))
    np.testing.assert_allclose(lonely, [[0.0, 1.0, 0.0]] * 3)


def test_a_wrong_material_is_refused():
    with pytest.raises(BackendError, match="material must be one of lit, unlit"):
        GltfExport("matte")


def test_chamfer_distance_of_a_shifted_sphere():
    a = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    b = trimesh.creation.icosphere(subdivisions=4, radius=1.1)
    assert chamfer_distance(a, b) == pytest.approx(0.1, rel=0.05)
    assert chamfer_distance(a, a.copy()) < 0.02


def test_lattice_is_at_most_twice_the_fields_grid(trained_tiny):
    """The tiny field's grid is 64 vertices along its long side: asking for 256 lattice
    vertices extracts the same surface as asking for 128."""
    capture, model = trained_tiny
    assert max(model.field.geometry.dims) == 64
    capped = extract_surface(model, capture, 256)
    exact = extract_surface(model, capture, 128)
    np.testing.assert_array_equal(capped.mesh.faces, exact.mesh.faces)
    np.testing.assert_allclose(capped.mesh.vertices, exact.mesh.vertices)
    assert capped.level == exact.level
