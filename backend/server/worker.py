"""The worker process: takes queued jobs one at a time, oldest first, and runs them.

It runs apart from the HTTP server so a crash, a hang or an out-of-memory kill in
training never takes the server down. An exclusive lock on ``worker.lock`` makes sure
only one worker trains at a time, even when an old worker outlives its server. Jobs
are resumable: after any interruption the pipeline skips the stages already finished.

``python -m backend.server.worker --data-dir DIR --parent-pid PID [--threads N] [--offline]
[--clip-weights DIR]``
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from backend.server.jobrun import JobAbandoned, run_job
from backend.server.store import JobRecord, JobStore, ProgressUpdate

MAX_ATTEMPTS = 3
IDLE_POLL_SECONDS = 0.2
LOCK_NAME = "worker.lock"
PID_NAME = "worker.pid"


class ServerGone(JobAbandoned):
    """The server that started this worker is gone; leave the job for the next worker."""


@dataclass
class StoreChannel:
    """Progress into the job table, cancels from it; the server's life checked too."""

    store: JobStore
    job_id: str
    parent_pid: int
    log: str = "worker.log"

    def report(self, update: ProgressUpdate) -> None:
        self.store.report_progress(self.job_id, update)

    def cancelled(self) -> bool:
        if os.getppid() != self.parent_pid:
            raise ServerGone("the server stopped")
        return self.store.cancel_requested(self.job_id)


def run_and_record(
    store: JobStore, job: JobRecord, jobs_dir: Path, args: argparse.Namespace
) -> None:
    """Run (or resume) one job and record how it ended; only ServerGone escapes."""
    print(f"job {job.id}: attempt {job.attempts}", flush=True)
    channel = StoreChannel(store, job.id, args.parent_pid)
    outcome = run_job(jobs_dir / job.id, args.offline, channel, args.clip_weights)
    store.finish(job.id, outcome.state, outcome.message, outcome.error)
    print(f"job {job.id}: {store.get(job.id).state}", flush=True)


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
            run_and_record(store, job, args.data_dir / "jobs", args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend.server.worker", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--offline", action="store_true", help="never download weights")
    parser.add_argument("--clip-weights", type=Path, default=None, help="CLIP for prompts")
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
