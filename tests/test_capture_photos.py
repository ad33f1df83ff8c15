"""capture-from-photos: cameras estimated by COLMAP from a rendered set match the true
ones, the capture loads like any other, and bad photo folders are refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.spatial.transform import Rotation

from backend.captures import load_capture
from backend.captures.alignment import (
    Similarity,
    pose_errors,
    subject_in_view,
    umeyama,
    up_direction,
    upright_similarity,
)
from backend.captures.cameras import Intrinsics
from backend.captures.colmap import weakly_placed
from backend.captures.from_photos import CAMERA_DISTANCE, PhotosRequest, capture_from_photos
from backend.captures.photos import is_photo_folder, read_photo_folder
from backend.captures.synth import SAMPLE_HEAD, SynthRequest, render_capture
from backend.errors import BackendError, CaptureError
from backend.pipeline import RunRequest, Style, run_pipeline
from backend.server.submit import _validate_capture
from backend.server.uploads import UploadError
from backend.style.builtin import BUILTIN_STYLES
from tests.helpers import look_at, ring_poses

# The rendered set: 40 views at 256 px, 4 samples per pixel (grain on the head, none on
# the room, which holds every match: the sample head's skin gives SIFT nothing). At 192
# px the worst side view was off by up to 1.3 degrees; at 4 samples and 192 px by up to 2
# degrees.
VIEWS, RES, SAMPLES = 40, 256, 4


def _random_similarity(seed: int) -> Similarity:
    rng = np.random.default_rng(seed)
    rotation = Rotation.random(random_state=seed).as_matrix()
    return Similarity(float(rng.uniform(0.2, 5.0)), rotation, rng.normal(0.0, 3.0, 3))


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Smooth random colour blobs: plenty of SIFT points, nothing shared between images."""
    noise = rng.normal(size=(size[1], size[0], 3))
    smooth = gaussian_filter(noise, sigma=(3, 3, 0))
    return np.clip(128 + 60 * smooth / smooth.std(), 0, 255).astype(np.uint8)


def _write_photos(folder: Path, count: int, size=(64, 48), seed=0, prefix="p") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(_texture(rng, size)).save(folder / f"{prefix}{i:02d}.png")


# --- alignment: a known similarity is recovered and errors are measured -----------------


def test_umeyama_recovers_a_known_similarity_and_errors_measure_what_was_moved():
    true = np.stack(ring_poses(12))
    known = _random_similarity(3)
    moved = np.stack([known.apply_to_pose(c2w) for c2w in true])
    found = umeyama(true[:, :3, 3], moved[:, :3, 3])
    assert found.scale == pytest.approx(known.scale, rel=1e-9)
    np.testing.assert_allclose(found.rotation, known.rotation, atol=1e-9)
    np.testing.assert_allclose(found.translation, known.translation, atol=1e-9)
    exact = pose_errors(moved, true)
    assert exact.rotation_deg.max() < 1e-5 and exact.position_rel.max() < 1e-9
    # Turn one camera by 2 degrees: the centres still align exactly, only it is off.
    turned = true.copy()
    turned[4, :3, :3] = Rotation.from_euler("y", 2.0, degrees=True).as_matrix() @ true[4, :3, :3]
    errors = pose_errors(np.stack([known.apply_to_pose(c2w) for c2w in turned]), true)
    assert errors.rotation_deg[4] == pytest.approx(2.0, abs=1e-6)
    assert np.delete(errors.rotation_deg, 4).max() < 1e-5
    # Move one camera by 1% of the camera distance (4): the alignment takes up a little.
    moved_one = true.copy()
    moved_one[7, :3, 3] += [0.0, 0.0, 0.04]
    errors = pose_errors(np.stack([known.apply_to_pose(c2w) for c2w in moved_one]), true)
    assert 0.007 < errors.position_rel[7] <= 0.01
    assert np.delete(errors.position_rel, 7).max() < 0.005


def test_cameras_that_face_away_from_their_common_point_are_counted_out():
    """Cameras around a head all see where their axes meet; a reconstruction that turned
    them away (as global mapping once did at 0.39 px) is not a capture of one subject."""
    k = Intrinsics(60.0, 60.0, 32.0, 32.0, 64, 64)
    ring = np.stack(ring_poses(12))
    assert subject_in_view(ring, k) == 1.0
    # Half the cameras turned about their own up axis: they face away from the head.
    turn = Rotation.from_euler("y", 180.0, degrees=True).as_matrix()
    turned = ring.copy()
    turned[::2, :3, :3] = turned[::2, :3, :3] @ turn
    assert subject_in_view(turned, k) <= 0.5
    # Turned by less than half the field of view, they still frame it.
    aside = ring.copy()
    aside[:, :3, :3] = aside[:, :3, :3] @ Rotation.from_euler("y", 20.0, degrees=True).as_matrix()
    assert subject_in_view(aside, k) == 1.0
    # Parallel axes share no point at all.
    parallel = np.stack([look_at(np.array([x, -4.0, 0.0])) for x in (-1.0, 0.0, 1.0)])
    parallel[:, :3, :3] = parallel[1, :3, :3]
    assert subject_in_view(parallel, k) == 0.0


def test_upright_similarity_puts_the_head_at_the_origin_upright_at_the_stated_distance():
    """Cameras looking down on a head at the origin (+Z up, front -Y), seen through an
    arbitrary similarity, come back as they were, scaled to the stated distance."""
    true = np.stack([look_at(np.array([x, -3.0, 1.5])) for x in np.linspace(-3, 3, 9)])
    known = _random_similarity(5)
    seen = np.stack([known.apply_to_pose(c2w) for c2w in true])
    placed = upright_similarity(seen, CAMERA_DISTANCE)
    result = np.stack([placed.apply_to_pose(c2w) for c2w in seen])
    scale = CAMERA_DISTANCE / np.linalg.norm(true[:, :3, 3], axis=1).mean()
    np.testing.assert_allclose(result[:, :3, :3], true[:, :3, :3], atol=1e-9)
    np.testing.assert_allclose(result[:, :3, 3], scale * true[:, :3, 3], atol=1e-9)
    # The mean camera up axis tilts 27 degrees towards the head here; up does not.
    mean_up = true[:, :3, 1].mean(axis=0)
    assert np.degrees(np.arccos(mean_up[2] / np.linalg.norm(mean_up))) > 20
    np.testing.assert_allclose(up_direction(true), [0.0, 0.0, 1.0], atol=1e-9)


# --- bad photo folders: one message each, before any camera is estimated ----------------


def _missing(folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)


def _too_few(folder: Path) -> None:
    _write_photos(folder, 5)
    (folder / "notes.txt").write_text("not a photo")


def _mixed_sizes(folder: Path) -> None:
    _write_photos(folder, 9)
    _write_photos(folder, 3, size=(48, 64), seed=1, prefix="rotated_")


def _unreadable(folder: Path) -> None:
    _write_photos(folder, 9)
    (folder / "p03.png").write_bytes(b"\x89PNG, the rest of the file is missing")


def _duplicates(folder: Path) -> None:
    """A video dump of a camera standing still: 4 views, each repeated 3 times with
    sensor noise."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    for i in range(4):
        view = _texture(rng, (64, 48)).astype(np.int16)
        for j in range(3):
            frame = np.clip(view + rng.integers(-2, 3, view.shape), 0, 255).astype(np.uint8)
            Image.fromarray(frame).save(folder / f"frame_{3 * i + j:03d}.png")


BAD_FOLDERS = {
    "missing": (_missing, ["photo folder not found"]),
    "too few": (_too_few, ["5 JPEG or PNG photos", "at least 8"]),
    "mixed sizes": (_mixed_sizes, ["same size", "64x48 (9 photos", "48x64 (3 photos"]),
    "unreadable": (_unreadable, ["photo p03.png", "cannot read image"]),
    "duplicates": (_duplicates, ["4 JPEG or PNG photos after dropping 8 near-duplicate"]),
}


@pytest.mark.parametrize("name", sorted(BAD_FOLDERS))
def test_a_bad_photo_folder_is_refused_with_one_message(name: str, tmp_path: Path):
    make, expected = BAD_FOLDERS[name]
    photos = tmp_path / "photos"
    make(photos)
    out = tmp_path / "capture"
    with pytest.raises(CaptureError) as caught:
        capture_from_photos(PhotosRequest(photos, out))
    message = str(caught.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert [p for p in tmp_path.iterdir() if p != photos] == [], "nothing written beside"


def test_near_duplicates_are_dropped_and_named(tmp_path: Path):
    photos = tmp_path / "photos"
    _write_photos(photos, 9)
    pixels = np.asarray(Image.open(photos / "p04.png")).astype(np.int16)
    noisy = np.clip(pixels + np.random.default_rng(1).integers(-2, 3, pixels.shape), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(photos / "p04_again.png")
    found = read_photo_folder(photos)
    assert found.duplicates == {"p04_again.png": "p04.png"}
    assert len(found.names) == 9 and (found.width, found.height) == (64, 48)


def test_out_is_never_clobbered(tmp_path: Path):
    photos = tmp_path / "photos"
    _write_photos(photos, 9)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(BackendError, match=r"is not empty; give a new or empty folder$"):
        capture_from_photos(PhotosRequest(photos, busy))
    with pytest.raises(BackendError, match="--overwrite only replaces those"):
        capture_from_photos(PhotosRequest(photos, busy, overwrite=True))
    with pytest.raises(BackendError, match="holds the photos"):
        capture_from_photos(PhotosRequest(photos, tmp_path, overwrite=True))
    assert (busy / "keep.txt").read_text() == "mine"


def test_without_pycolmap_one_line_says_how_to_install_it(tmp_path: Path, monkeypatch):
    photos = tmp_path / "photos"
    _write_photos(photos, 9)
    monkeypatch.setitem(sys.modules, "pycolmap", None)
    with pytest.raises(BackendError, match=r"pip install -e '\.\[photos\]'"):
        capture_from_photos(PhotosRequest(photos, tmp_path / "capture"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


# --- with COLMAP ------------------------------------------------------------------------


def test_unrelated_photos_are_refused_saying_how_many_registered(tmp_path: Path):
    pytest.importorskip("pycolmap", reason="pip install -e '.[photos]'")
    photos = tmp_path / "photos"
    _write_photos(photos, 10, size=(160, 120))
    out = tmp_path / "capture"
    result = subprocess.run(
        [sys.executable, "-m", "backend", "capture-from-photos", str(photos), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "for only 0 of 10 photos" in lines[0]
    assert "10 (p00.png, p01.png, p02.png and 7 more) share under 15 verified" in lines[0]
    assert "features: SIFT on 10 photos" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_run_given_photos_estimates_cameras_first_and_stops_cleanly_on_bad_ones(
    tmp_path: Path,
):
    """A folder of photos goes to ``run`` (and to the service and the add-on, which run
    the pipeline) as it is: its cameras are estimated into the run's folder first."""
    pytest.importorskip("pycolmap", reason="pip install -e '.[photos]'")
    photos = tmp_path / "photos"
    _write_photos(photos, 10, size=(160, 120))
    assert is_photo_folder(photos) and not is_photo_folder(tmp_path)
    out = tmp_path / "out"
    request = RunRequest(photos, [Style("ink", BUILTIN_STYLES["ink"](64))], out)
    events = []
    with pytest.raises(CaptureError, match="for only 0 of 10 photos"):
        run_pipeline(replace(request, download_weights=False), events.append)
    assert events[0].stage == "cameras" and "COLMAP" in events[0].message
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]
    few = tmp_path / "few"
    _write_photos(few, 3)
    with pytest.raises(UploadError, match="capture: few: 3 JPEG or PNG photos; at least 8"):
        _validate_capture(few, str(few), "few")


@pytest.fixture(scope="module")
def rendered_photos(tmp_path_factory: pytest.TempPathFactory):
    """The sample head in its textured room, rendered by Blender, as a folder of photos,
    and each photo's true camera."""
    pytest.importorskip("bpy", reason="bpy renders the test capture: pip install -e '.[dev]'")
    root = tmp_path_factory.mktemp("photos")
    request = SynthRequest(
        SAMPLE_HEAD, root / "render", VIEWS, 0, RES, background="textured", samples=SAMPLES
    )
    render = load_capture(render_capture(request))
    photos = root / "photos"
    photos.mkdir()
    truth = {}
    for index, frame in enumerate(render.train + render.heldout):
        name = f"view_{index:02d}.png"
        source = render.root / (frame.name.removeprefix("./") + ".png")
        shutil.copy(source, photos / name)
        truth[name] = frame.camera
    return photos, truth


def test_cameras_from_rendered_photos_match_the_true_ones(rendered_photos, tmp_path: Path):
    pytest.importorskip("pycolmap", reason="pip install -e '.[photos]'")
    photos, truth = rendered_photos
    out = tmp_path / "capture"
    messages = []
    started = time.perf_counter()
    capture_from_photos(
        PhotosRequest(photos, out), lambda progress: messages.append(progress.message)
    )
    seconds = time.perf_counter() - started
    for step in ("features:", "matching:", "mapping:", "writing"):
        assert any(m.startswith(step) for m in messages), (step, messages)

    meta = json.loads((out / "transforms.json").read_text())
    record = meta["from_photos"]
    capture = load_capture(out)
    frames = capture.train + capture.heldout
    assert len(frames) == record["registered"] >= 0.9 * len(truth), record["unregistered"]
    assert len(capture.heldout) == len(meta["frames"][::8])
    estimated = np.stack([f.camera.c2w for f in frames])
    names = [Path(f.name).name for f in frames]
    true = np.stack([truth[name].c2w for name in names])
    errors = pose_errors(estimated, true)
    print(f"{seconds:.1f} s, {len(frames)} registered, {errors.summary()}")
    # Measured on nine renders: rotation at most 0.35-0.79 degrees; position 0.56-1.29% of
    # the camera distance for the median camera, 3.7-5.0% for the worst (a side view seen
    # by the fewest points); with the room's sharp-edged patches 0.53-0.58 degrees and
    # 3.5-4.2% on two. So at this size the 1% target holds for rotation only; the bounds
    # below leave a margin and still catch a drifted reconstruction (10-70%).
    assert errors.rotation_deg.max() <= 1.0, errors.summary()
    assert np.median(errors.position_rel) <= 0.02, errors.summary()
    assert errors.position_rel.max() <= 0.08, errors.summary()
    seen = record["points_per_photo"]
    assert sorted(seen) == sorted(names)
    worst = names[int(np.argmax(errors.position_rel))]
    assert seen[worst] < np.median(list(seen.values())), (worst, seen)
    assert record["weakly_placed"] == sorted(weakly_placed(seen))
    if record["weakly_placed"]:
        assert any("the least certain pose" in m for m in messages), messages

    intrinsics = frames[0].camera.intrinsics
    assert intrinsics.fx == pytest.approx(truth[names[0]].intrinsics.fx, rel=0.02)
    assert (intrinsics.cx, intrinsics.cy) == (RES / 2, RES / 2)
    # Placed as stated: the head at the origin, +Z up, the cameras at the stated distance.
    assert record["world"]["camera_distance"] == CAMERA_DISTANCE
    centres = estimated[:, :3, 3]
    assert np.linalg.norm(centres, axis=1).mean() == pytest.approx(CAMERA_DISTANCE, rel=1e-6)
    assert np.degrees(np.arccos(errors.alignment.rotation[2, 2])) < 2.0
    assert np.linalg.norm(errors.alignment.translation) < 0.05 * CAMERA_DISTANCE


def test_photos_that_see_few_points_are_named_as_weakly_placed():
    seen = {"a.png": 400, "b.png": 380, "c.png": 94, "d.png": 420, "e.png": 96}
    assert weakly_placed(seen) == {"c.png": 94}
    assert weakly_placed({"a.png": 10, "b.png": 12}) == {}
    assert weakly_placed({}) == {}
