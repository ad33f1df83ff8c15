"""A whole head: sheets measured, the unseen solid smoothed, open and hard heads closed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from backend.mesh.closure import shape_prior
from backend.mesh.extract import march, solid_volume
from backend.mesh.stage import MeshSettings, run_mesh_stage
from backend.mesh.thickness import inward_thickness, thin_sheets
from backend.nerf.grid import GridGeometry


def test_thickness_of_a_slab_is_its_depth_and_a_sphere_has_no_sheet():
    slab = trimesh.creation.box(extents=(1.0, 1.0, 0.02)).subdivide().subdivide().subdivide()
    thickness = inward_thickness(slab, limit=0.1)
    broad = np.abs(slab.face_normals[:, 2]) > 0.99
    np.testing.assert_allclose(thickness[broad], 0.02, rtol=1e-6)
    sheets = thin_sheets(slab, limit=0.05)
    assert sheets.thin_area_fraction > 0.95
    assert sheets.patches == 2 and sheets.largest_patch_area == pytest.approx(1.0)  # each side
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    assert thin_sheets(sphere, limit=0.05).thin_area_fraction == 0.0


def _ball_with_fin(lattice: GridGeometry) -> np.ndarray:
    """A ball of radius 0.6 with a fin one lattice voxel thick sticking out of its back."""
    p = lattice.vertices().numpy()
    ball = np.linalg.norm(p, axis=-1) < 0.6
    fin = (np.abs(p[..., 1]) < 0.5 * lattice.voxel) & (p[..., 0] > 0.0) & (p[..., 0] < 0.95)
    return ball | (fin & (np.abs(p[..., 2]) < 0.25))


def _front_of_ball(count: int = 4000) -> np.ndarray:
    """Points on the ball's front half (x < 0): what cameras in front of it would see."""
    directions = np.random.default_rng(0).normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    directions[:, 0] = -np.abs(directions[:, 0])
    return 0.6 * directions


def test_the_unseen_solid_loses_its_fin_and_the_seen_surface_stays():
    lattice = GridGeometry.covering(-torch.ones(3), torch.ones(3), 96)
    solid = _ball_with_fin(lattice)
    volume = solid_volume(np.zeros(lattice.dims, np.float32), 1.0, solid)
    prior = shape_prior(solid, _front_of_ball(), lattice)
    limit = 2.0 * lattice.voxel
    meshes = {}
    for name, values in (("raw", volume), ("closed", prior.blend(volume, 1.0))):
        vertices, faces = march(values, lattice, 1.0)
        meshes[name] = trimesh.Trimesh(vertices, faces)
    assert meshes["raw"].vertices[:, 0].max() > 0.9
    assert thin_sheets(meshes["raw"], limit).largest_patch_area > 0.05
    closed = meshes["closed"]
    assert closed.is_watertight and closed.vertices[:, 0].max() < 0.7
    assert thin_sheets(closed, limit).thin_area_fraction == 0.0
    front = closed.vertices[closed.vertices[:, 0] < -0.2]
    raw_front = meshes["raw"].vertices[meshes["raw"].vertices[:, 0] < -0.2]
    assert cKDTree(raw_front).query(front)[0].max() < 1e-6  # the NeRF's own surface


def _sheets_in_voxels(mesh, field_voxel: float) -> tuple[float, float]:
    """Thin area share and largest thin patch (in field voxels squared) at two voxels."""
    solid = trimesh.Trimesh(mesh.vertices, mesh.faces)
    sheets = thin_sheets(solid, 2.0 * field_voxel)
    return sheets.thin_area_fraction, sheets.largest_patch_area / field_voxel**2


@pytest.mark.parametrize("head", ["trained_tiny", "trained_suzanne", "trained_open_head"])
def test_every_head_comes_out_closed_without_sheets(head, request):
    capture, model = request.getfixturevalue(head)
    mesh = run_mesh_stage(model, capture, MeshSettings(64, 4000, 128)).mesh
    assert trimesh.Trimesh(mesh.vertices, mesh.faces).is_watertight
    fraction, largest = _sheets_in_voxels(mesh, model.field.geometry.voxel * capture.box.scale)
    # At 48 px a field voxel is 5 mm, so an ear's rim or the nose tip can measure thin:
    # 0.2-0.6% of the area in patches of 1.5-8 voxels^2. Before sheets were removed this
    # head had 3-5% in patches of 11-30 (the 128 px benchmark captures: docs/BENCHMARKS.md).
    assert fraction < 0.01 and largest < 10.0


def test_the_head_open_at_the_back_gets_a_back_that_ends_near_its_cut(trained_open_head):
    capture, model = trained_open_head
    result = run_mesh_stage(model, capture, MeshSettings(64, 4000, 128))
    truth = trimesh.load(capture.gt_mesh_path, force="mesh")
    diagonal = float(np.linalg.norm(truth.bounds[1] - truth.bounds[0]))
    shell = truth.sample(20_000, seed=0)
    mesh = trimesh.Trimesh(result.mesh.vertices, result.mesh.faces)
    accuracy = cKDTree(mesh.sample(50_000, seed=1)).query(shell)[0].mean() / diagonal
    assert accuracy < 0.02  # the shell that was there is reproduced
    depth = truth.bounds[1, 1] - truth.bounds[0, 1]
    assert mesh.bounds[1, 1] < truth.bounds[1, 1] + 0.5 * depth  # no cone to the box's edge
    assert result.seen_fraction < 0.85
