"""Jobs as Ray tasks: many at once across a cluster, the SQLite store still the record.

The server process is the Ray driver. A dispatcher thread claims queued jobs while the
cluster has room (one GPU per job where the cluster has GPUs, else one CPU), runs each
as a task on :func:`run_job`, drains the tasks' progress from one actor into the store,
turns a cancel into Ray's cancellation, and records each task's end. A task whose worker
or node died is queued again and resumes from its last finished stage (the pipeline's
stage records), up to the local worker's attempt limit. Every node must see the data
folder at the same path (shared storage) and have the project installed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ray
import torch
from ray.exceptions import NodeDiedError, TaskCancelledError, WorkerCrashedError

from backend.errors import BackendError
from backend.server.config import ServerConfig
from backend.server.jobrun import Outcome, run_job
from backend.server.options import JobSpec
from backend.server.store import JobRecord, JobStore, ProgressUpdate
from backend.server.worker import MAX_ATTEMPTS

POLL_SECONDS = 0.2
CONNECT_TIMEOUT_SECONDS = 5.0
CANCEL_GRACE_SECONDS = 8.0
PID_NAME = "executor.pid"
LOST = (WorkerCrashedError, NodeDiedError)

log = logging.getLogger("backend.server")


@dataclass
class RunningJob:
    ref: object
    attempts: int
    cancel_sent: float | None = None


class RayExecutor:
    """Same life as the local supervisor (start with the server, stop with it)."""

    def __init__(self, config: ServerConfig, store: JobStore) -> None:
        """Join (or start) the cluster now, so that a wrong address stops ``serve``
        with one line instead of failing later inside the web server's start-up."""
        self.config = config
        self.store = store
        self.running: dict[str, RunningJob] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ray-dispatcher", daemon=True)
        address = config.ray_address
        _check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BackendError(f"cannot join the Ray cluster at {address}: {exc}") from exc
        log.info("Ray executor on %s: %s", address or "a local cluster", ray.cluster_resources())
        self._sink = ProgressSink.remote()

    def start(self) -> None:
        for job_id in self.store.recover_interrupted(MAX_ATTEMPTS):
            log.info("job %s: recovered after an interruption", job_id)
        self._thread.start()

    def stop(self) -> None:
        """Stop the tasks; their jobs stay 'running' and resume when a server starts."""
        self._stop.set()
        self._thread.join(timeout=10.0)
        for job in self.running.values():
            ray.cancel(job.ref, force=True)
        ray.shutdown()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._collect()
                self._forward_progress()
                self._cancel_requested()
                self._submit_queued()
            except Exception:
                log.exception("Ray dispatcher step failed; trying again")

    def _slots(self) -> int:
        resources = ray.cluster_resources()
        if resources.get("GPU", 0) >= 1:
            return int(resources["GPU"])
        return max(1, int(resources.get("CPU", 1) // self._cpus_per_job()))

    def _cpus_per_job(self) -> int:
        return self.config.threads or 1

    def _submit_queued(self) -> None:
        while len(self.running) < self._slots():
            job = self.store.claim_next()
            if job is None:
                return
            resources = self._resources(job)
            if resources is None:
                continue
            ref = _job_task.options(**resources, max_retries=0).remote(
                str(self.config.jobs_dir / job.id),
                self.config.offline,
                self._sink,
                job.id,
                self._cpus_per_job(),
                self.config.clip_weights,
            )
            self.running[job.id] = RunningJob(ref, job.attempts)
            log.info("job %s: attempt %d on Ray (%s)", job.id, job.attempts, resources)

    def _resources(self, job: JobRecord) -> dict[str, float] | None:
        """What the job's task asks for, or None (and the job failed) if no node has it."""
        try:
            device = JobSpec.load(self.config.jobs_dir / job.id).options.device
        except Exception as exc:  # the job folder is broken: say so, never retry forever
            error = f"cannot read the job's options: {exc}"
            self.store.finish(job.id, "failed", f"failed: {error}", error)
            return None
        gpus = ray.cluster_resources().get("GPU", 0)
        if device == "cuda" and gpus < 1:
            error = (
                "the job asks for a GPU (device 'cuda') but no node of the Ray cluster has "
                "one; submit it with device 'auto' or 'cpu', or add a GPU node"
            )
            self.store.finish(job.id, "failed", f"failed: {error}", error)
            return None
        if device == "cpu" or gpus < 1:
            return {"num_cpus": self._cpus_per_job()}
        return {"num_cpus": 1, "num_gpus": 1}

    def _collect(self) -> None:
        if not self.running:
            return
        refs = [job.ref for job in self.running.values()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for job_id, job in list(self.running.items()):
            if job.ref in ready:
                del self.running[job_id]
                self._record_end(job_id, job)

    def _record_end(self, job_id: str, job: RunningJob) -> None:
        try:
            outcome: Outcome = ray.get(job.ref)
        except TaskCancelledError:
            outcome = Outcome("cancelled", "cancelled")
        except LOST as exc:
            if self.store.cancel_requested(job_id):
                outcome = Outcome("cancelled", "cancelled")
            elif job.attempts < MAX_ATTEMPTS:
                log.warning("job %s: its Ray worker was lost (%s); queued again", job_id, exc)
                self.store.requeue(job_id)
                return
            else:
                error = f"the Ray worker running this job was lost {job.attempts} times: {exc}"
                outcome = Outcome("failed", f"failed: {error}", error)
        except Exception as exc:
            error = f"the Ray task failed: {type(exc).__name__}: {exc}"
            outcome = Outcome("failed", "failed: internal error (see the Ray worker's log)", error)
        self._forward_progress()
        self.store.finish(job_id, outcome.state, outcome.message, outcome.error)
        log.info("job %s: %s", job_id, outcome.state)

    def _forward_progress(self) -> None:
        for job_id, update in ray.get(self._sink.drain.remote()).items():
            self.store.report_progress(job_id, update)

    def _cancel_requested(self) -> None:
        """Ray's cancellation for each running job the user cancelled; forced (the worker
        killed) when the task has not stopped within the grace time."""
        now = time.monotonic()
        for job_id, job in self.running.items():
            if job.cancel_sent is None and self.store.cancel_requested(job_id):
                ray.cancel(job.ref)
                job.cancel_sent = now
            elif job.cancel_sent is not None and now - job.cancel_sent > CANCEL_GRACE_SECONDS:
                ray.cancel(job.ref, force=True)


def _check_reachable(address: str | None) -> None:
    """A TCP connection to ``host:port`` first: Ray itself retries an address that no
    head answers for minutes."""
    if address is None or address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise BackendError(f"--ray-address must be host:port or 'auto', got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise BackendError(f"cannot join the Ray cluster at {address}: {exc}") from exc


@ray.remote(num_cpus=0)
class ProgressSink:
    """The latest progress of each running job, until the server drains it."""

    def __init__(self) -> None:
        self.updates: dict[str, ProgressUpdate] = {}

    def report(self, job_id: str, update: ProgressUpdate) -> None:
        self.updates[job_id] = update

    def drain(self) -> dict[str, ProgressUpdate]:
        updates, self.updates = self.updates, {}
        return updates


@ray.remote
def _job_task(
    job_dir: str, offline: bool, sink, job_id: str, threads: int, clip_weights: Path | None
) -> Outcome:
    """Run one job on a Ray worker; its pid goes beside the job for operators. The CLIP
    weights' folder must be at the same path on every node, as the data folder is."""
    torch.set_num_threads(threads)
    (Path(job_dir) / PID_NAME).write_text(f"{os.getpid()}\n")
    return run_job(Path(job_dir), offline, SinkChannel(sink, job_id), clip_weights)


@dataclass
class SinkChannel:
    """A Ray task's channel: progress to the sink actor; cancels come as Ray's own."""

    sink: object
    job_id: str
    log: str = "the Ray worker's log"

    def report(self, update: ProgressUpdate) -> None:
        self.sink.report.remote(self.job_id, update)

    def cancelled(self) -> bool:
        return False
