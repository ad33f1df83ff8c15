"""A job's options (the ``options`` JSON field) and its saved spec (``job.json``).

Options are checked strictly here, before a job exists: a typo or a wrong type is a
4xx naming the key, never a job that fails later in the worker.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from backend.device import DEVICE_CHOICES
from backend.errors import BackendError
from backend.files import write_json
from backend.mesh.glb import FACE_BUDGETS, MATERIALS, TEXTURE_SIZES
from backend.methods.registry import HYBRID, METHODS
from backend.nerf.config import PRESETS
from backend.pretrained.networks import IMAGENET
from backend.pretrained.registry import FEATURE_NETWORKS, WEIGHT_CHOICES
from backend.style.clip_loss import check_prompt

# "capture" is the pipeline's loading and checking of the inputs, before the first stage;
# "clip" runs only for a job with a prompt.
STAGE_ORDER = ("capture", "nerf", "mesh", "stylize", "clip", "colornet", "report")
MAX_STEPS = 1_000_000
MAX_NAME = 200
SPEC_NAME = "job.json"


class OptionsError(BackendError):
    """Options a client sent that cannot be used."""


@dataclass(frozen=True)
class JobOptions:
    """What the client may choose.

    ``stop_after`` ends a job once a stage is finished: "capture" only loads and checks
    the inputs (a dry run), "nerf" gives the field and its previews. The job is done,
    and its outputs are those of the stages it ran. ``features`` and ``weights`` choose
    the style losses' network as ``run`` does (``weights: "random"`` only to debug);
    ``material``, ``texture_size`` and ``face_budget`` are ``run``'s export choices.
    ``prompt`` adds a CLIP edit (``run --prompt``) with the service's CLIP weights; a job
    with a prompt needs no style image. ``method`` chooses the stylization method as
    ``run --method`` does.
    """

    preset: str = "fast"
    device: str = "auto"
    steps: int | None = None
    style_steps: int | None = None
    max_side: int = 800
    colornet: bool = False
    colornet_steps: int | None = None
    vertex_offsets: bool = False
    name: str | None = None
    stop_after: str | None = None
    features: str = "vgg16"
    weights: str = IMAGENET
    material: str = "lit"
    texture_size: int | None = None
    face_budget: int | None = None
    prompt: str | None = None
    method: str = HYBRID

    @classmethod
    def parse(cls, text: str | None, max_image_side: int) -> JobOptions:
        """Options from the form field's JSON text (absent or empty: the defaults)."""
        if text is None or not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise OptionsError(f"options: not valid JSON ({exc})") from exc
        return cls.from_dict(data, max_image_side)

    @classmethod
    def from_dict(cls, data: object, max_image_side: int) -> JobOptions:
        if not isinstance(data, dict):
            raise OptionsError("options: must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise OptionsError(
                f"options: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        options = cls(**data)
        options._check(max_image_side)
        return options

    def _check(self, max_image_side: int) -> None:
        _choice("preset", self.preset, sorted(PRESETS))
        _choice("device", self.device, DEVICE_CHOICES)
        _choice("features", self.features, FEATURE_NETWORKS)
        _choice("weights", self.weights, WEIGHT_CHOICES)
        _choice("material", self.material, MATERIALS)
        _choice("method", self.method, METHODS)
        if self.texture_size is not None:
            _choice("texture_size", self.texture_size, TEXTURE_SIZES)
        if self.face_budget is not None:
            _integer("face_budget", self.face_budget, *FACE_BUDGETS)
        if self.stop_after is not None:
            _choice("stop_after", self.stop_after, STAGE_ORDER[:4])
        for key in ("steps", "style_steps", "colornet_steps"):
            value = getattr(self, key)
            if value is not None:
                _integer(key, value, 1, MAX_STEPS)
        _integer("max_side", self.max_side, 16, max_image_side)
        for key in ("colornet", "vertex_offsets"):
            if not isinstance(getattr(self, key), bool):
                raise OptionsError(
                    f"options: {key} must be true or false, got {getattr(self, key)!r}"
                )
        if self.name is not None and (
            not isinstance(self.name, str)
            or not 0 < len(self.name) <= MAX_NAME
            or not self.name.isprintable()
        ):
            raise OptionsError(f"options: name must be printable text of 1 to {MAX_NAME} chars")
        if self.prompt is not None:
            _prompt(self.prompt)

    def stops_before(self, stage: str) -> bool:
        """Whether the job ends before ``stage`` starts."""
        if self.stop_after is None or stage not in STAGE_ORDER:
            return False
        return STAGE_ORDER.index(stage) > STAGE_ORDER.index(self.stop_after)


def _choice(key: str, value: object, choices) -> None:
    if value not in choices:
        listed = ", ".join(map(str, choices))
        raise OptionsError(f"options: {key} must be one of {listed}, got {value!r}")


def _prompt(value: object) -> None:
    """The pipeline's own check, so a prompt it would refuse never becomes a job."""
    if not isinstance(value, str):
        raise OptionsError(f"options: prompt must be text, got {value!r}")
    try:
        check_prompt(value)
    except BackendError as exc:
        raise OptionsError(f"options: prompt: {exc}") from exc


def _integer(key: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionsError(f"options: {key} must be an integer from {low} to {high}, got {value!r}")


@dataclass(frozen=True)
class JobSpec:
    """What the worker needs to run (or resume) a job, saved in the job folder."""

    capture: str
    styles: list[str]
    options: JobOptions = field(default_factory=JobOptions)

    def save(self, job_dir: Path) -> None:
        write_json(job_dir / SPEC_NAME, asdict(self))

    @classmethod
    def load(cls, job_dir: Path) -> JobSpec:
        try:
            data = json.loads((job_dir / SPEC_NAME).read_text())
            return cls(data["capture"], list(data["styles"]), JobOptions(**data["options"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"{job_dir / SPEC_NAME}: cannot read the job ({exc})") from exc
