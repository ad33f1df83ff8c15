"""One scene in the NeRF-synthetic, instant-ngp and nerfstudio conventions loads the same."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from backend.captures import Camera, Distortion, Intrinsics, load_capture
from tests.helpers import nerf_synthetic_to_single, read_json, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "meshes"))
import head_shape


def _write_ngp(src: Path, dst: Path) -> None:
    frames = nerf_synthetic_to_single(src, dst)
    angle = read_json(src / "transforms_train.json")["camera_angle_x"]
    meta = {
        "camera_angle_x": angle,
        "aabb_scale": 2,
        "scale": 2.0,
        "offset": [0.5, 0.4, 0.5],
        "frames": frames,
    }
    write_json(dst / "transforms.json", meta)


def _write_nerfstudio(src: Path, dst: Path) -> None:
    """RGB images with separate masks, explicit intrinsics, some of them per frame."""
    frames = nerf_synthetic_to_single(src, dst)
    angle = read_json(src / "transforms_train.json")["camera_angle_x"]
    first = Image.open(dst / (frames[0]["file_path"] + ".png"))
    w, h = first.size
    focal = 0.5 * w / math.tan(0.5 * angle)
    (dst / "masks").mkdir()
    for i, frame in enumerate(frames):
        image_path = dst / (frame["file_path"] + ".png")
        rgba = np.asarray(Image.open(image_path))
        Image.fromarray(rgba[..., :3]).save(image_path)
        Image.fromarray(rgba[..., 3]).save(dst / "masks" / f"m_{i}.png")
        frame["file_path"] += ".png"
        frame["mask_path"] = f"masks/m_{i}.png"
        if i % 2:
            frame.update({"fl_x": focal, "fl_y": focal})
    meta = {
        "camera_model": "PINHOLE",
        "fl_x": focal,
        "fl_y": focal,
        "cx": w / 2,
        "cy": h / 2,
        "w": w,
        "h": h,
        "frames": frames,
    }
    write_json(dst / "transforms.json", meta)


def _rays(frame) -> tuple[np.ndarray, np.ndarray]:
    return frame.camera.rays()


def test_three_conventions_load_to_the_same_rays(tiny_capture_dir: Path, tmp_path: Path):
    _write_ngp(tiny_capture_dir, tmp_path / "ngp")
    _write_nerfstudio(tiny_capture_dir, tmp_path / "ns")
    nerf = load_capture(tiny_capture_dir)
    ngp = load_capture(tmp_path / "ngp")
    ns = load_capture(tmp_path / "ns")
    assert (nerf.convention, ngp.convention, ns.convention) == (
        "nerf-synthetic",
        "instant-ngp",
        "nerfstudio",
    )
    frames = [
        sorted(c.train + c.heldout, key=lambda f: f.name.lstrip("./").split(".")[0])
        for c in (nerf, ngp, ns)
    ]
    assert len(frames[0]) == len(frames[1]) == len(frames[2]) == 20
    for a, b, c in zip(*frames, strict=True):
        origins, dirs = _rays(a)
        for other in (b, c):
            o, d = _rays(other)
            np.testing.assert_allclose(o, origins, atol=1e-9)
            np.testing.assert_allclose(d, dirs, atol=1e-9)
        np.testing.assert_allclose(c.rgba[..., 3], a.rgba[..., 3], atol=1 / 255)
        alpha = a.rgba[..., 3:]
        np.testing.assert_allclose(c.rgba[..., :3] * alpha, a.rgba[..., :3] * alpha, atol=1 / 255)


def test_split_files_and_every_eighth_frame_are_held_out(tiny_capture_dir: Path, tmp_path):
    assert [
        len(load_capture(tiny_capture_dir).train),
        len(load_capture(tiny_capture_dir).heldout),
    ] == [16, 4]
    _write_ngp(tiny_capture_dir, tmp_path / "ngp")
    single = load_capture(tmp_path / "ngp")
    assert len(single.heldout) == 3 and len(single.train) == 17
    assert single.heldout[0].name == "./train/r_0" and single.heldout[1].name == "./train/r_8"


def test_instant_ngp_box_comes_from_aabb_scale_scale_and_offset(tiny_capture_dir, tmp_path):
    _write_ngp(tiny_capture_dir, tmp_path / "ngp")
    box = load_capture(tmp_path / "ngp").box
    low = (0.5 - 1.0 - np.array([0.5, 0.4, 0.5])) / 2.0
    high = (0.5 + 1.0 - np.array([0.5, 0.4, 0.5])) / 2.0
    np.testing.assert_allclose(box.center, (low + high) / 2)
    assert box.scale == pytest.approx(0.5)


def test_camera_box_contains_the_head(tiny_capture_dir: Path):
    capture = load_capture(tiny_capture_dir)
    gt = trimesh.load(capture.gt_mesh_path)
    inside = np.abs(capture.box.to_normalized(gt.vertices)).max()
    assert inside < 1.0


def test_blender_camera_centre_ray_hits_the_known_surface_point(tiny_capture_dir: Path):
    """The frontal held-out camera looks along +Y at the mesh's box centre; its centre ray
    must pierce the analytic head surface where the shape functions say."""
    capture = load_capture(tiny_capture_dir)
    frame = capture.heldout[0]
    gt = trimesh.load(capture.gt_mesh_path)
    centre = gt.bounds.mean(axis=0)
    s = np.linspace(-0.3, 0.0, 30001)
    points = centre + s[:, None] * np.array([0.0, 1.0, 0.0])
    unscaled = points / head_shape.SCALE
    radii = np.linalg.norm(unscaled, axis=1)
    inside = radii <= head_shape.radius(unscaled / radii[:, None])
    known = points[np.argmax(inside)]
    origins, dirs = frame.camera.rays()
    h, w = frame.height // 2, frame.width // 2
    direction = dirs[h - 1 : h + 1, w - 1 : w + 1].reshape(-1, 3).mean(axis=0)
    direction /= np.linalg.norm(direction)
    to_known = known - origins[0, 0]
    miss = np.linalg.norm(to_known - to_known.dot(direction) * direction)
    assert miss < 2e-4
    assert frame.rgba[h - 1 : h + 1, w - 1 : w + 1, 3].min() == 1.0


def test_opencv_distortion_rays_project_back_to_their_pixels():
    intrinsics = Intrinsics(40.0, 42.0, 15.5, 17.0, 32, 30, Distortion(-0.2, 0.05, 0.001, -0.002))
    camera = Camera(intrinsics, np.eye(4))
    origins, dirs = camera.rays()
    pixels, depth = camera.project((origins + 3.0 * dirs).reshape(-1, 3))
    u, v = np.meshgrid(np.arange(32) + 0.5, np.arange(30) + 0.5, indexing="xy")
    np.testing.assert_allclose(pixels, np.stack([u, v], -1).reshape(-1, 2), atol=1e-6)
    assert (depth > 0).all()


def _covered_pixel_centres(camera: Camera, mesh: trimesh.Trimesh) -> np.ndarray:
    """Pixels whose centre lies inside some projected triangle (triangles under 2 px)."""
    k = camera.intrinsics
    pixels, depth = camera.project(mesh.vertices)
    assert (depth > 0).all()
    tri = pixels[mesh.faces]
    assert np.ptp(tri, axis=1).max() < 2.0, "mesh too coarse for this resolution"
    covered = np.zeros((k.height, k.width), dtype=bool)
    base = np.floor(tri.min(axis=1) - 0.5).astype(int)
    for dx in range(3):
        for dy in range(3):
            centre = base + np.array([dx, dy])
            p = centre + 0.5
            edges = [np.cross(tri[:, (i + 1) % 3] - tri[:, i], p - tri[:, i]) for i in range(3)]
            inside = (np.stack(edges) >= 0).all(0) | (np.stack(edges) <= 0).all(0)
            ok = (
                inside & (centre >= 0).all(1) & (centre[:, 0] < k.width) & (centre[:, 1] < k.height)
            )
            covered[centre[ok, 1], centre[ok, 0]] = True
    return covered


def test_blender_cameras_see_the_ground_truth_silhouette(tiny_capture_dir: Path):
    """Pixels covered by gt_mesh.ply, projected with the loaded cameras, are foreground."""
    capture = load_capture(tiny_capture_dir)
    gt = trimesh.load(capture.gt_mesh_path)
    for frame in capture.train + capture.heldout:
        covered = _covered_pixel_centres(frame.camera, gt)
        foreground = frame.rgba[..., 3] > 0.5
        iou = (covered & foreground).sum() / (covered | foreground).sum()
        assert iou > 0.98, f"{frame.name}: silhouette IoU {iou:.3f}"


def test_max_side_downscales_images_and_intrinsics_together(tiny_capture_dir: Path):
    full = load_capture(tiny_capture_dir)
    small = load_capture(tiny_capture_dir, max_side=24)
    assert small.resolution == (24, 24)
    gt = trimesh.load(small.gt_mesh_path)
    for big, frame in zip(full.train[:4], small.train[:4], strict=True):
        alpha = big.rgba[..., 3].reshape(24, 2, 24, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(frame.rgba[..., 3], alpha, atol=2 / 255)
        pixels_big, _ = big.camera.project(gt.vertices)
        pixels_small, _ = frame.camera.project(gt.vertices)
        np.testing.assert_allclose(pixels_small, pixels_big / 2, atol=1e-9)
