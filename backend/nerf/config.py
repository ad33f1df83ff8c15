"""Training settings for the NeRF stage, with presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from backend.errors import BackendError


@dataclass(frozen=True)
class NerfConfig:
    """How to fit the field. Resolutions are vertices along the box's longest side.

    The grid starts at ``resolutions[0]`` from the visual hull and moves to the next
    resolution at each step of ``upsample_at``; between those, rows far from the surface
    are pruned every ``prune_every`` steps so the table stays small. ``tv`` weighs a
    smoothness prior between neighbouring rows (``tv_rows`` sampled per step): without
    it the grid overfits the training views (held-out 36.8 dB instead of 39.4 dB).

    The defaults buy 40.9 dB on the sample capture in about 100 s on two CPU cores: 480
    steps, the first half at 64^3 (cheaper steps, and what the coarse grid learns carries
    over). ``distortion`` (mip-NeRF 360's loss, which gathers each ray's weight) was 0.1
    until 2026-11-30: that held the sample capture at 38.5 dB in 600 steps, because it
    thinned the jaw's sides where rays graze them (crescents of 0.3-0.4 opacity against
    0.7-0.8 true); 0.03 gave 41.3 dB in 600 steps and 0.01 41.0 dB, with more rows
    (costlier steps, hence fewer). Captures without alpha need the steps most: on the
    sample head in its room 32.9 / 34.9 / 36.9 dB on the head's pixels at 420 / 480 /
    600 steps. Upsampling later suits a small capture, earlier a large one: at a third, a
    half and 60% of the steps the sample capture (128 px) gave 38.08 / 38.48 / 38.51 dB
    and a 512 px, 128-view one 34.20 / 34.11 / 33.96 dB (docs/BENCHMARKS.md, all at the
    old weight).

    ``resolutions`` suit the sample capture, whose finest voxel spans 0.81 of a pixel's
    width at the head. Where a capture's pixels are smaller there (a tight framing, larger
    images), every resolution is scaled up until the finest voxel spans
    ``voxel_footprints`` pixels, by at most ``max_refine`` (None: as given), on captures
    with alpha only; see ``backend/nerf/resolution.py``.
    """

    steps: int = 480
    batch_rays: int = 4096
    resolutions: tuple[int, ...] = (64, 128)
    upsample_at: tuple[int, ...] = (240,)
    prune_every: int = 200
    prune_opacity: float = 0.02
    init_opacity: float = 0.01
    lr: float = 0.1
    lr_final: float = 0.01
    step_ratio: float = 0.5
    distortion: float = 0.03
    tv: float = 0.01
    tv_rows: int = 16384
    refresh_every: int = 16
    voxel_footprints: float | None = 0.85
    max_refine: float = 2.0
    seconds: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.upsample_at) != len(self.resolutions) - 1:
            raise BackendError("NerfConfig: need one upsample step per extra resolution")
        if self.steps < 1 or self.batch_rays < 1:
            raise BackendError("NerfConfig: steps and batch_rays must be positive")
        if any(r < 8 for r in self.resolutions):
            raise BackendError("NerfConfig: resolutions must be at least 8")
        if self.max_refine < 1 or (
            self.voxel_footprints is not None and self.voxel_footprints <= 0
        ):
            raise BackendError(
                "NerfConfig: max_refine must be at least 1, voxel_footprints positive"
            )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> NerfConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("resolutions", "upsample_at"):
            if key in known:
                known[key] = tuple(known[key])  # type: ignore[arg-type]
        return cls(**known)  # type: ignore[arg-type]

    def with_steps(self, steps: int) -> NerfConfig:
        """The same schedule stretched or squeezed to ``steps`` steps."""
        factor = steps / self.steps
        upsample = tuple(max(1, round(s * factor)) for s in self.upsample_at)
        return replace(self, steps=steps, upsample_at=upsample)


# Without the TV prior, longer schedules overfitted the training views (docs/BENCHMARKS.md);
# with it, "quality" trains longer and finer.
PRESETS = {
    "fast": NerfConfig(),
    "quality": NerfConfig(steps=2400, upsample_at=(300,)),
}


def preset(name: str) -> NerfConfig:
    if name not in PRESETS:
        raise BackendError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    return PRESETS[name]
