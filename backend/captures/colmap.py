"""Estimate the cameras of a photo set with COLMAP (the ``pycolmap`` wheel), on the CPU.

SIFT features, exhaustive matching, incremental and then global mapping with one camera
shared by all photos; the registered poses come out as capture poses (camera-to-world,
OpenGL axes) in COLMAP's own world frame, and ``alignment.upright_similarity`` places
them afterwards.

pycolmap is imported here only, and only when cameras are estimated: the rest of the
backend runs without it (``pip install -e '.[photos]'`` brings it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from backend.captures.alignment import subject_in_view
from backend.captures.cameras import Distortion, Intrinsics
from backend.captures.photos import PhotoSet, some
from backend.errors import BackendError, CaptureError


@dataclass(frozen=True)
class CameraModel:
    """A choice of lens: the COLMAP model estimated, the capture's ``camera_model``
    written, and the names of the distortion parameters they share."""

    colmap: str
    capture: str
    distortion: tuple[str, ...]


# pinhole (the default): one focal length (square pixels), the principal point at the
# centre (COLMAP does not refine it by default). opencv: two focal lengths and k1, k2,
# p1, p2, for lenses that distort. On the 48-view benchmark render (an ideal lens) opencv
# placed the cameras as well as pinhole but traded 4.7% of focal length for k1 = -0.03:
# six more unknowns are only worth it for a lens that does distort.
CAMERA_MODELS = {
    "pinhole": CameraModel("SIMPLE_PINHOLE", "PINHOLE", ()),
    "opencv": CameraModel("OPENCV", "OPENCV", ("k1", "k2", "p1", "p2")),
}
# Starting focal lengths (times the long image side) tried in turn when the photos carry
# none in EXIF: incremental mapping rarely recovers from a start 30% off (a smooth face
# gives few matches per pair). 1.4 is a 50 mm lens on full frame, 0.7 a phone's wide
# camera, 2.8 a long portrait lens.
FOCAL_STARTS = (1.4, 1.0, 2.0, 0.7, 2.8)
# Photos with fewer SIFT points, or fewer verified matches with every other photo, than
# these are named as such when they are not registered.
FEW_FEATURES = 100
FEW_MATCHES = 15
# A registered photo that sees fewer than this share of the median photo's 3D points is
# named as the least certainly placed: on three 512 px renders of the sample head with
# jittered cameras, the camera placed worst (0.7-4.2% of the camera distance off, against
# a mean of 0.15-0.6%) was each time the only one under it (49-77 points, the median
# photo 371-384): the view from below and behind, of hair and a plain room.
WEAK_SHARE = 0.25

Report = Callable[[float, str], None]


@dataclass(frozen=True)
class SfmSettings:
    """How cameras are estimated.

    ``peak_threshold`` is below COLMAP's default (0.0067): skin and soft backgrounds are
    low in contrast, and at the default a 256 px render of the sample head gave about 50
    SIFT points, too few to match; at 0.002 it gives about 800. ``domain_size_pooling``
    (DSP-SIFT) with a threshold of 0.001 brought the 512 px photos benchmark's worst camera
    from 1.99% to 0.92% of the camera distance, in three times the time, but made the
    tests' 256 px, 4-sample renders worse (rotation up to 1.45 degrees against 0.35-0.79),
    so it is off by default (docs/BENCHMARKS.md). Mapping stops at
    the first start that registers ``enough_registered_fraction`` of the photos. A
    reconstruction counts only where ``min_subject_share`` of its cameras see the point
    their axes meet at: photos of a head all look at it.

    The same photos give the same cameras: they enter COLMAP's database in name order,
    and matching runs on ``match_threads`` = 1 because its geometric verification draws
    RANSAC samples in whatever order its threads run (on two cores one thread matched 40
    photos as fast). More threads are faster on many photos, and not reproducible.
    """

    camera_model: str = "pinhole"
    max_image_size: int = 1600
    peak_threshold: float = 0.002
    domain_size_pooling: bool = False
    focal_starts: tuple[float, ...] = FOCAL_STARTS
    min_registered_fraction: float = 0.5
    min_registered: int = 8
    enough_registered_fraction: float = 0.9
    min_subject_share: float = 0.9
    seed: int = 0
    match_threads: int = 1


@dataclass(frozen=True)
class Cameras:
    """The registered photos' poses (camera-to-world, OpenGL axes, COLMAP's world frame),
    the shared intrinsics, and why the other photos were not registered."""

    intrinsics: Intrinsics
    camera_model: str
    c2w: dict[str, np.ndarray]
    unregistered: dict[str, str]
    reprojection_error: float
    points: int
    points_seen: dict[str, int]
    mapper: str
    focal_start: str
    colmap_model: str
    tool: str


def estimate_cameras(
    photos: PhotoSet, work: Path, settings: SfmSettings, report: Report
) -> Cameras:
    """Run COLMAP on the photos (its database in ``work``); raises :class:`CaptureError`
    when too few photos register, naming how many and why the rest did not."""
    pycolmap = import_pycolmap()
    if settings.camera_model not in CAMERA_MODELS:
        raise BackendError(f"camera model must be one of {', '.join(CAMERA_MODELS)}")
    work.mkdir(parents=True, exist_ok=True)
    database = work / "database.db"
    with _quiet(pycolmap):
        pycolmap.set_random_seed(settings.seed)
        report(0.0, f"features: SIFT on {len(photos.names)} photos")
        _extract(pycolmap, photos, database, settings)
        report(0.3, f"matching: {_pairs(len(photos.names))} pairs, exhaustively")
        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = settings.match_threads
        pycolmap.match_exhaustive(database, matching_options=matching, device=pycolmap.Device.cpu)
        counts = _match_counts(pycolmap, database)
        report(0.6, f"matching: {counts.verified_pairs} pairs share verified matches")
        model = None
        if counts.verified_pairs:
            model = _map(pycolmap, photos, database, work, settings, report)
    reconstruction = model.reconstruction if model is not None else None
    poses = _poses(reconstruction, photos)
    unregistered = {name: _reason(name, counts) for name in photos.names if name not in poses}
    _require_registered(photos, len(poses), unregistered, settings)
    camera = next(iter(reconstruction.cameras.values()))
    cameras = Cameras(
        intrinsics=_intrinsics(camera, settings.camera_model),
        camera_model=CAMERA_MODELS[settings.camera_model].capture,
        c2w=poses,
        unregistered=unregistered,
        reprojection_error=float(reconstruction.compute_mean_reprojection_error()),
        points=int(reconstruction.num_points3D()),
        points_seen=_points_seen(reconstruction, poses),
        mapper=model.mapper,
        focal_start=model.focal_start,
        colmap_model=CAMERA_MODELS[settings.camera_model].colmap,
        tool=f"pycolmap {pycolmap.__version__}",
    )
    report(0.99, f"cameras: {_summary(cameras, len(photos.names))}")
    weak = weakly_placed(cameras.points_seen)
    if weak:
        report(1.0, f"cameras: {_weak_words(weak, cameras.points_seen)}")
    return cameras


def weakly_placed(points_seen: dict[str, int]) -> dict[str, int]:
    """The photos that see under ``WEAK_SHARE`` of the median photo's 3D points."""
    if not points_seen:
        return {}
    floor = WEAK_SHARE * float(np.median(list(points_seen.values())))
    return {name: count for name, count in points_seen.items() if count < floor}


def import_pycolmap() -> ModuleType:
    """The pycolmap module, or one line saying how to install it."""
    try:
        import pycolmap
    except ImportError as exc:
        raise BackendError(
            "capture-from-photos needs COLMAP's Python wheel: pip install -e '.[photos]' "
            "(or pip install pycolmap)"
        ) from exc
    return pycolmap


@contextlib.contextmanager
def _quiet(pycolmap: ModuleType) -> Iterator[None]:
    """COLMAP logs every step to stderr; the command prints its own progress instead."""
    before = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = int(pycolmap.logging.FATAL)
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = before


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def _extract(pycolmap: ModuleType, photos: PhotoSet, database: Path, settings: SfmSettings):
    """SIFT on the CPU, the photos entered in name order first (the extractor's threads
    would otherwise number them in whatever order they finish)."""
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = CAMERA_MODELS[settings.camera_model].colmap
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.max_image_size = settings.max_image_size
    extraction.sift.peak_threshold = settings.peak_threshold
    extraction.sift.domain_size_pooling = settings.domain_size_pooling
    single = pycolmap.CameraMode.SINGLE
    try:
        pycolmap.Database.open(database).close()
        pycolmap.import_images(database, photos.folder, single, photos.names, reader)
        pycolmap.extract_features(
            database,
            photos.folder,
            image_names=photos.names,
            camera_mode=single,
            reader_options=reader,
            extraction_options=extraction,
            device=pycolmap.Device.cpu,
        )
    except (RuntimeError, ValueError) as exc:
        raise CaptureError(f"{photos.folder}: COLMAP could not extract features: {exc}") from exc


@dataclass(frozen=True)
class _MatchCounts:
    """Per photo: SIFT points, and the most verified matches it shares with any other."""

    features: dict[str, int]
    best_matches: dict[str, int]
    verified_pairs: int


def _match_counts(pycolmap: ModuleType, database: Path) -> _MatchCounts:
    with pycolmap.Database.open(database) as db:
        names = {image.image_id: image.name for image in db.read_all_images()}
        features = {name: db.num_keypoints_for_image(i) for i, name in names.items()}
        pair_ids, inliers = db.read_two_view_geometry_num_inliers()
    best = dict.fromkeys(names.values(), 0)
    verified = 0
    for pair_id, count in zip(pair_ids, inliers, strict=True):
        verified += count > 0
        for image_id in pycolmap.pair_id_to_image_pair(pair_id):
            best[names[image_id]] = max(best[names[image_id]], count)
    return _MatchCounts(features, best, verified)


@dataclass(frozen=True)
class _Model:
    """One mapper's reconstruction, and where its focal length started."""

    reconstruction: Any
    mapper: str
    focal_start: str

    @property
    def registered(self) -> int:
        return self.reconstruction.num_reg_images()

    @property
    def error(self) -> float:
        return self.reconstruction.compute_mean_reprojection_error()

    def subject_share(self, photos: PhotoSet, camera_model: str) -> float:
        """The share of its cameras that see the point where their axes meet."""
        poses = _poses(self.reconstruction, photos)
        if not poses:
            return 0.0
        camera = next(iter(self.reconstruction.cameras.values()))
        return subject_in_view(np.stack(list(poses.values())), _intrinsics(camera, camera_model))


def _map(
    pycolmap: ModuleType,
    photos: PhotoSet,
    database: Path,
    work: Path,
    settings: SfmSettings,
    report: Report,
) -> _Model | None:
    """Incremental mapping, then global mapping from the focal length it found; of the
    two (among those whose cameras face one subject and that register nearly as many
    photos as the other) the one that reprojects its points better.

    Why both: incremental mapping adds one photo at a time and, where matches are few, a
    side view can drift and take its neighbours along (on 4 of 10 small renders of the
    sample head, 40-48 views at 192-384 px: cameras 10-70% of the camera distance off,
    each time with a higher reprojection error than global mapping's); global mapping
    (GLOMAP) places all cameras at once and placed every camera of those renders within
    4%, but it needs a good starting focal length (from 0.7, 1.0 or 2.8 times the long
    side it placed them wrongly, reprojecting well all the same), which incremental
    mapping finds from any of several starts.
    """
    starts = _focal_starts(pycolmap, database, photos, settings)
    incremental = _incremental(pycolmap, photos, database, work, settings, starts, report)
    if incremental is not None:
        focal = next(iter(incremental.reconstruction.cameras.values())).mean_focal_length()
        label = f"{focal:.0f} px, incremental mapping's"
    else:
        label, focal = starts[0]
    report(0.8, f"mapping: global, from focal {label}")
    _set_focal(pycolmap, database, focal)
    options = pycolmap.GlobalPipelineOptions()
    options.random_seed = settings.seed
    models = _run_mapper(pycolmap.global_mapping, database, photos, work / "global", options)
    found = [m for m in (incremental, _largest(models, "global", label)) if m is not None]
    shares = [m.subject_share(photos, settings.camera_model) for m in found]
    words = [
        f"{m.mapper} {m.registered} photos, {m.error:.3f} px"
        + ("" if share >= settings.min_subject_share else f", {share:.0%} facing the subject")
        for m, share in zip(found, shares, strict=True)
    ]
    candidates = [m for m, s in zip(found, shares, strict=True) if s >= settings.min_subject_share]
    if not candidates:
        report(0.95, "mapping: " + "; ".join(words) + "; keeping none")
        return None
    most = max(m.registered for m in candidates)
    close = [m for m in candidates if m.registered >= settings.enough_registered_fraction * most]
    chosen = min(close, key=lambda m: m.error)
    report(0.95, "mapping: " + "; ".join(words) + f"; keeping {chosen.mapper}")
    return chosen


def _incremental(
    pycolmap: ModuleType,
    photos: PhotoSet,
    database: Path,
    work: Path,
    settings: SfmSettings,
    starts: list[tuple[str, float]],
    report: Report,
) -> _Model | None:
    """Incremental mapping from each starting focal length in turn (an EXIF focal first
    when the photos have one) until one registers enough photos; the reconstruction that
    registers the most (then reprojects best) wins."""
    report(0.6, f"mapping: incremental, from up to {len(starts)} starting focal lengths")
    options = pycolmap.IncrementalPipelineOptions()
    options.random_seed = settings.seed
    best: _Model | None = None
    for index, (label, focal) in enumerate(starts):
        _set_focal(pycolmap, database, focal)
        output = work / f"incremental_{index}"
        models = _run_mapper(pycolmap.incremental_mapping, database, photos, output, options)
        found = _largest(models, "incremental", label)
        if found is not None and (
            best is None or (found.registered, -found.error) > (best.registered, -best.error)
        ):
            best = found
        report(
            0.6 + 0.2 * (index + 1) / len(starts),
            f"mapping: start {index + 1} of {len(starts)} (focal {label}): "
            f"{found.registered if found else 0} of {len(photos.names)} photos registered",
        )
        if best is not None and best.registered >= (
            settings.enough_registered_fraction * len(photos.names)
        ):
            break
    return best


def _run_mapper(
    mapper: Callable[..., dict], database: Path, photos: PhotoSet, output: Path, options: Any
) -> dict:
    output.mkdir()
    try:
        return mapper(database, photos.folder, output, options)
    except (RuntimeError, ValueError):  # COLMAP gives up on degenerate input this way
        return {}


def _largest(models: dict, mapper: str, focal_start: str) -> _Model | None:
    """The model that registers the most photos (COLMAP may split the photos into several)."""
    if not models:
        return None
    largest = max(models.values(), key=lambda model: model.num_reg_images())
    return _Model(largest, mapper, focal_start)


def _focal_starts(
    pycolmap: ModuleType, database: Path, photos: PhotoSet, settings: SfmSettings
) -> list[tuple[str, float]]:
    long_side = max(photos.width, photos.height)
    starts = [(f"{f:g} x long side", f * long_side) for f in settings.focal_starts]
    with pycolmap.Database.open(database) as db:
        camera = db.read_all_cameras()[0]
    if camera.has_prior_focal_length:
        focal = camera.mean_focal_length()
        starts.insert(0, (f"{focal:.0f} px from EXIF", focal))
    return starts


def _set_focal(pycolmap: ModuleType, database: Path, focal: float) -> None:
    """Start the shared camera at ``focal`` pixels."""
    with pycolmap.Database.open(database) as db:
        camera = db.read_all_cameras()[0]
        params = np.asarray(camera.params, dtype=np.float64).copy()
        params[list(camera.focal_length_idxs())] = focal
        camera.params = params
        db.update_camera(camera)


def _poses(reconstruction, photos: PhotoSet) -> dict[str, np.ndarray]:
    """Capture poses of the registered photos, in the photo set's order."""
    if reconstruction is None:
        return {}
    c2w = {
        image.name: opengl_c2w(image.cam_from_world().matrix())
        for image in reconstruction.images.values()
        if image.has_pose
    }
    return {name: c2w[name] for name in photos.names if name in c2w}


def _points_seen(reconstruction, poses: dict[str, np.ndarray]) -> dict[str, int]:
    """How many 3D points each registered photo observes, in the photo set's order."""
    seen = {image.name: int(image.num_points3D) for image in reconstruction.images.values()}
    return {name: seen[name] for name in poses}


def _intrinsics(camera, model: str) -> Intrinsics:
    """The shared COLMAP camera as capture intrinsics (same pixel-centre convention:
    the top-left pixel's centre is at (0.5, 0.5))."""
    extra_names = CAMERA_MODELS[model].distortion
    extras = np.asarray(camera.params, dtype=np.float64)[camera.extra_params_idxs()]
    return Intrinsics(
        float(camera.focal_length_x),
        float(camera.focal_length_y),
        float(camera.principal_point_x),
        float(camera.principal_point_y),
        int(camera.width),
        int(camera.height),
        Distortion(**{k: float(v) for k, v in zip(extra_names, extras, strict=True)}),
    )


def opengl_c2w(cam_from_world: np.ndarray) -> np.ndarray:
    """COLMAP's world-to-camera (3x4, OpenCV axes: +Z forward, +Y down) as a capture pose:
    camera-to-world with OpenGL axes (-Z forward, +Y up)."""
    rotation, translation = cam_from_world[:3, :3], cam_from_world[:3, 3]
    c2w = np.eye(4)
    c2w[:3, :3] = rotation.T @ np.diag([1.0, -1.0, -1.0])
    c2w[:3, 3] = -rotation.T @ translation
    return c2w


def _reason(name: str, counts: _MatchCounts) -> str:
    if name not in counts.features:
        return "unreadable to COLMAP"
    if counts.features[name] < FEW_FEATURES:
        return "few features"
    if counts.best_matches[name] < FEW_MATCHES:
        return "few matches"
    return "matches disagree"


_REASON_WORDS = {
    "unreadable to COLMAP": "could not be read by COLMAP",
    "few features": f"have under {FEW_FEATURES} SIFT points (blurred, dark or featureless)",
    "few matches": f"share under {FEW_MATCHES} verified matches with any other photo (no overlap)",
    "matches disagree": "have matches that fit no camera of the reconstruction",
}


def _require_registered(
    photos: PhotoSet, registered: int, unregistered: dict[str, str], settings: SfmSettings
) -> None:
    total = len(photos.names)
    needed = max(settings.min_registered, int(np.ceil(settings.min_registered_fraction * total)))
    if registered >= needed:
        return
    raise CaptureError(
        f"{photos.folder}: cameras could be estimated for only {registered} of {total} "
        f"photos (at least {needed} needed); {_why(unregistered)}. Photos of one head "
        "need to overlap: neighbours a few steps apart, sharp, with texture in view"
    )


def _why(unregistered: dict[str, str]) -> str:
    by_reason: dict[str, list[str]] = {}
    for name, reason in unregistered.items():
        by_reason.setdefault(reason, []).append(name)
    return "; ".join(
        f"{len(names)} ({some(names)}) {_REASON_WORDS[reason]}"
        for reason, names in sorted(by_reason.items(), key=lambda item: -len(item[1]))
    )


def _weak_words(weak: dict[str, int], points_seen: dict[str, int]) -> str:
    low, high = min(weak.values()), max(weak.values())
    counts = f"{low}" if low == high else f"{low}-{high}"
    median = int(np.median(list(points_seen.values())))
    pose, them = ("pose", "it") if len(weak) == 1 else ("poses", "them")
    return (
        f"{some(sorted(weak, key=weak.get))} placed from {counts} points (the median photo "
        f"sees {median}): the least certain {pose}; more photos near {them} would pin "
        f"{them} down"
    )


def _summary(cameras: Cameras, total: int) -> str:
    k = cameras.intrinsics
    return (
        f"{len(cameras.c2w)} of {total} photos registered ({cameras.mapper} mapping), focal "
        f"{k.fx:.1f} px, {cameras.points} points, reprojection error "
        f"{cameras.reprojection_error:.2f} px"
    )
