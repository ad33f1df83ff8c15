"""The worker process: takes queued jobs one at a time, oldest first, and runs them.

It runs apart from the HTTP server so a crash, a hang or an out-of-memory kill in
training never takes the server down. An exclusive lock on ``worker.lock`` makes sure
only one worker trains at a time, even when an old worker outlives its server. Jobs
are resumable: after any interruption the pipeline skips the stages already finished.

``python -m backend.server.worker --data-dir DIR --parent-pid PID [--threads N]``
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from backend.errors import BackendError, JobCancelled
from backend.pipeline import RunRequest, Style, run_pipeline
from backend.server.options import JobSpec
from backend.server.store import JobRecord, JobStore, ProgressUpdate
from backend.style.images import read_style_image

MAX_ATTEMPTS = 3
IDLE_POLL_SECONDS = 0.2
WRITE_EVERY_SECONDS = 0.25
LOCK_NAME = "worker.lock"
PID_NAME = "worker.pid"


class StopAfter(JobCancelled):
    """The job asked to end after an earlier stage (``stop_after``); it is done."""


class ServerGone(JobCancelled):
    """The server that started this worker is gone; leave the job for the next worker."""


@dataclass
class ProgressReporter:
    """The pipeline's progress callback: saves progress, and stops the run when asked."""

    store: JobStore
    job: JobRecord
    spec: JobSpec
    parent_pid: int
    last_write: float = 0.0
    last_stage: str = ""

    def __call__(self, event) -> None:
        if self.spec.options.stops_before(event.stage):
            raise StopAfter(f"stopped after stage '{self.spec.options.stop_after}' as asked")
        now = time.monotonic()
        if event.stage == self.last_stage and now - self.last_write < WRITE_EVERY_SECONDS:
            return
        if os.getppid() != self.parent_pid:
            raise ServerGone("the server stopped")
        if self.store.cancel_requested(self.job.id):
            raise JobCancelled("cancelled")
        update = ProgressUpdate(event.stage, event.fraction, event.message, event.eta_seconds)
        self.store.report_progress(self.job.id, update)
        self.last_write, self.last_stage = now, event.stage


def run_job(store: JobStore, job: JobRecord, jobs_dir: Path, args: argparse.Namespace) -> None:
    """Run (or resume) one job and record how it ended; only ServerGone escapes."""
    job_dir = jobs_dir / job.id
    print(f"job {job.id}: attempt {job.attempts}", flush=True)
    try:
        spec = JobSpec.load(job_dir)
        reporter = ProgressReporter(store, job, spec, args.parent_pid)
        run_pipeline(_request(spec, job_dir, args), progress=reporter)
    except StopAfter as exc:
        store.finish(job.id, "done", str(exc))
    except ServerGone:
        raise
    except JobCancelled:
        store.finish(job.id, "cancelled", "cancelled")
    except BackendError as exc:
        store.finish(job.id, "failed", f"failed: {exc}", str(exc))
    except Exception as exc:
        traceback.print_exc()
        error = f"internal error: {type(exc).__name__}: {exc}"
        store.finish(job.id, "failed", "failed: internal error (see worker.log)", error)
    else:
        store.finish(job.id, "done", "done")
    print(f"job {job.id}: {store.get(job.id).state}", flush=True)


def _request(spec: JobSpec, job_dir: Path, args: argparse.Namespace) -> RunRequest:
    """The pipeline request for a job; always ``resume`` (a no-op on a fresh folder)."""
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
        download_weights=not args.offline,
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
    )


@contextmanager
def worker_lock(data_dir: Path, parent_pid: int) -> Iterator[None]:
    """Hold ``worker.lock``; waits while another worker holds it (an old one finishing)."""
    with (data_dir / LOCK_NAME).open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if os.getppid() != parent_pid:
                    raise ServerGone("the server stopped") from None
                time.sleep(IDLE_POLL_SECONDS)
        (data_dir / PID_NAME).write_text(f"{os.getpid()}\n")
        yield


def serve_jobs(args: argparse.Namespace) -> None:
    """Recover what a dead worker left, then run queued jobs until the server goes."""
    store = JobStore(args.data_dir / "jobs.sqlite3")
    with worker_lock(args.data_dir, args.parent_pid):
        for job_id in store.recover_interrupted(MAX_ATTEMPTS):
            print(f"job {job_id}: recovered after an interruption", flush=True)
        while os.getppid() == args.parent_pid:
            job = store.claim_next()
            if job is None:
                time.sleep(IDLE_POLL_SECONDS)
                continue
            run_job(store, job, args.data_dir / "jobs", args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend.server.worker", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--offline", action="store_true", help="never download weights")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        serve_jobs(args)
    except ServerGone:
        print("worker: the server is gone; stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
