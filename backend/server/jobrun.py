"""One job run to its end, wherever it runs: the local worker process or a Ray task.

The runner does not know where progress goes or how a cancel arrives: a
:class:`JobChannel` carries both (the local worker's is the SQLite store; a Ray task's
is an actor the server drains). It returns how the job ended as an :class:`Outcome`,
which the caller records.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from backend.errors import BackendError, JobCancelled
from backend.pipeline import RunRequest, Style, run_pipeline
from backend.server.options import JobSpec
from backend.server.store import ProgressUpdate
from backend.style.images import read_style_image

WRITE_EVERY_SECONDS = 0.25


class StopAfter(JobCancelled):
    """The job asked to end after an earlier stage (``stop_after``); it is done."""


class JobAbandoned(JobCancelled):
    """Whoever runs the job is going away; leave it as it is for the next runner."""


class JobChannel(Protocol):
    log: str  # where an internal error's traceback goes, for the job's message

    def report(self, update: ProgressUpdate) -> None:
        """Record progress (may raise :class:`JobAbandoned`)."""

    def cancelled(self) -> bool:
        """Whether a cancel was asked for (may raise :class:`JobAbandoned`)."""


@dataclass(frozen=True)
class Outcome:
    state: str
    message: str
    error: str | None = None


@dataclass
class ProgressReporter:
    """The pipeline's progress callback: passes progress on, stops the run when asked."""

    channel: JobChannel
    spec: JobSpec
    last_write: float = 0.0
    last_stage: str = ""

    def __call__(self, event) -> None:
        if self.spec.options.stops_before(event.stage):
            raise StopAfter(f"stopped after stage '{self.spec.options.stop_after}' as asked")
        now = time.monotonic()
        if event.stage == self.last_stage and now - self.last_write < WRITE_EVERY_SECONDS:
            return
        if self.channel.cancelled():
            raise JobCancelled("cancelled")
        update = ProgressUpdate(event.stage, event.fraction, event.message, event.eta_seconds)
        self.channel.report(update)
        self.last_write, self.last_stage = now, event.stage


def run_job(
    job_dir: Path, offline: bool, channel: JobChannel, clip_weights: Path | None = None
) -> Outcome:
    """Run (or resume) the job in ``job_dir`` with the service's download and CLIP
    settings; only :class:`JobAbandoned` escapes."""
    try:
        spec = JobSpec.load(job_dir)
        request = _request(spec, job_dir, offline, clip_weights)
        run_pipeline(request, progress=ProgressReporter(channel, spec))
    except StopAfter as exc:
        return Outcome("done", str(exc))
    except JobAbandoned:
        raise
    except JobCancelled:
        return Outcome("cancelled", "cancelled")
    except BackendError as exc:
        return Outcome("failed", f"failed: {exc}", str(exc))
    except Exception as exc:
        traceback.print_exc()
        error = f"internal error: {type(exc).__name__}: {exc}"
        return Outcome("failed", f"failed: internal error (see {channel.log})", error)
    return Outcome("done", "done")


def _request(spec: JobSpec, job_dir: Path, offline: bool, clip_weights: Path | None) -> RunRequest:
    """The pipeline request for a job; always ``resume`` (a no-op on a fresh folder).

    The CLIP weights go only to a job with a prompt: they are part of the run's record,
    and a job that never uses them must still resume after the service restarts with
    other weights."""
    styles_dir = job_dir / "input" / "styles"
    options = spec.options
    return RunRequest(
        capture=Path(spec.capture),
        styles=[Style(name, read_style_image(styles_dir / f"{name}.png")) for name in spec.styles],
        out=job_dir / "out",
        preset=options.preset,
        device=options.device,
        steps=options.steps,
        max_side=options.max_side,
        download_weights=not offline,
        style_steps=options.style_steps,
        resume=True,
        colornet=options.colornet,
        colornet_steps=options.colornet_steps,
        vertex_offsets=options.vertex_offsets,
        features=options.features,
        weights=options.weights,
        material=options.material,
        texture_size=options.texture_size,
        face_budget=options.face_budget,
        prompt=options.prompt,
        method=options.method,
        clip_weights=clip_weights if options.prompt is not None else None,
    )
