"""A loaded capture: validated frames with images and cameras, split and scene box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.captures.cameras import Camera
from backend.captures.frame import Frame
from backend.captures.images import read_mask, read_rgba
from backend.captures.scene_box import SceneBox
from backend.captures.silhouettes import grown_to_subject
from backend.captures.transforms import FrameSpec, TransformsFile, read_transforms
from backend.errors import CaptureError

SPLIT_FILES = ("transforms_train.json", "transforms_val.json", "transforms_test.json")
HELDOUT_EVERY = 8
GT_MESH_NAME = "gt_mesh.ply"


@dataclass(frozen=True)
class Capture:
    """Everything the pipeline needs from a capture folder, validated."""

    root: Path
    convention: str
    train: list[Frame]
    heldout: list[Frame]
    box: SceneBox
    has_alpha: bool

    @property
    def gt_mesh_path(self) -> Path | None:
        path = self.root / GT_MESH_NAME
        return path if path.is_file() else None

    @property
    def resolution(self) -> tuple[int, int]:
        """(width, height) of the first training frame."""
        return self.train[0].width, self.train[0].height

    def summary(self) -> dict[str, object]:
        width, height = self.resolution
        return {
            "frames": len(self.train),
            "heldout": len(self.heldout),
            "width": width,
            "height": height,
            "convention": self.convention,
        }


def load_capture(root: str | Path, max_side: int | None = None) -> Capture:
    """Load and validate a capture folder; raises :class:`CaptureError` naming the problem.

    With ``max_side``, larger images are area-downscaled so their long side fits, and
    their intrinsics follow: the stages train on what fits in memory and time.
    """
    root = Path(root)
    if max_side is not None and max_side < 8:
        raise CaptureError(f"max_side must be at least 8 pixels, got {max_side}")
    if not root.is_dir():
        raise CaptureError(f"capture folder not found: {root}")
    train_specs, heldout_specs, files = _split_specs(root)
    if not train_specs:
        raise CaptureError(f"{root}: the capture has no training frames")
    train = [_load_frame(s, max_side) for s in train_specs]
    heldout = [_load_frame(s, max_side) for s in heldout_specs]
    has_alpha = any(bool((f.rgba[..., 3] < 1.0).any()) for f in train)
    return Capture(
        root=root,
        convention=files[0].convention,
        train=train,
        heldout=heldout,
        box=_scene_box(files, train, has_alpha),
        has_alpha=has_alpha,
    )


def _split_specs(root: Path) -> tuple[list[FrameSpec], list[FrameSpec], list[TransformsFile]]:
    """Training and held-out frames: from split files if present, else every 8th held out."""
    split_paths = [root / name for name in SPLIT_FILES if (root / name).is_file()]
    if split_paths:
        files = [read_transforms(p, root) for p in split_paths]
        by_name = {f.path.name: f.frames for f in files}
        train = by_name.get("transforms_train.json", [])
        heldout = by_name.get("transforms_test.json") or by_name.get("transforms_val.json", [])
        return train, heldout, files
    single = root / "transforms.json"
    if not single.is_file():
        raise CaptureError(
            f"{root}: no transforms.json or transforms_train.json; "
            "is this a NeRF / instant-ngp / nerfstudio capture folder? (for a folder of "
            "photos: python -m backend capture-from-photos, or give it to run directly)"
        )
    data = read_transforms(single, root)
    if not data.frames:
        raise CaptureError(f"{single}: 'frames' is empty")
    if len(data.frames) < 2:
        return data.frames, [], [data]
    heldout = data.frames[::HELDOUT_EVERY]
    train = [f for i, f in enumerate(data.frames) if i % HELDOUT_EVERY]
    return train, heldout, [data]


def _load_frame(spec: FrameSpec, max_side: int | None) -> Frame:
    rgba = read_rgba(spec.image_path, spec.where)
    height, width = rgba.shape[:2]
    intrinsics = spec.lens.resolve(width, height, spec.where)
    if spec.mask_path is not None:
        mask = read_mask(spec.mask_path, spec.where + " mask")
        if mask.shape != (height, width):
            raise CaptureError(
                f"{spec.where}: mask {spec.mask_path} is {mask.shape[1]}x{mask.shape[0]}, "
                f"image is {width}x{height}"
            )
        rgba = rgba.copy()
        rgba[..., 3] *= mask
    frame = Frame(spec.name, Camera(intrinsics, spec.c2w), rgba)
    return frame if max_side is None else frame.downscaled(max_side)


def _scene_box(files: list[TransformsFile], train: list[Frame], has_alpha: bool) -> SceneBox:
    """The capture's own bound if it gives one; else the cameras' common view, grown to
    the subject where its silhouettes say it crosses that (tightly framed views)."""
    for data in files:
        if data.world_aabb is not None:
            return SceneBox.from_aabb(*data.world_aabb)
    box = SceneBox.from_cameras([f.camera for f in train])
    return grown_to_subject(train, box) if has_alpha else box
