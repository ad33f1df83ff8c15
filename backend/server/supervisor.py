"""Keeps one worker process alive beside the server, and enforces cancels it misses.

If the worker dies (a crash, an out-of-memory kill), a new one starts, finds the job
left 'running' and resumes it. If a cancelled job's worker does not stop within the
grace time (a stage that reports no progress for long), the worker is killed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

from backend.server.config import ServerConfig
from backend.server.store import JobStore

CHECK_SECONDS = 0.5
CANCEL_GRACE_SECONDS = 8.0
RESTART_DELAY_SECONDS = 1.0
STOP_WAIT_SECONDS = 5.0

log = logging.getLogger("backend.server")


class WorkerSupervisor:
    """Starts the worker, restarts it when it dies, stops it with the server."""

    def __init__(self, config: ServerConfig, store: JobStore) -> None:
        self.config = config
        self.store = store
        self.process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_WAIT_SECONDS)
        self._end_worker()

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "backend.server.worker"]
        command += ["--data-dir", str(self.config.data_dir), "--parent-pid", str(os.getpid())]
        if self.config.threads:
            command += ["--threads", str(self.config.threads)]
        if self.config.offline:
            command.append("--offline")
        if self.config.clip_weights is not None:
            command += ["--clip-weights", str(self.config.clip_weights)]
        return command

    def _spawn(self) -> None:
        with self.config.worker_log.open("ab") as log_file:
            self.process = subprocess.Popen(
                self._command(), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        log.info("worker started (pid %d), log: %s", self.process.pid, self.config.worker_log)

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_SECONDS):
            try:
                self._check()
            except Exception:
                log.exception("worker supervisor check failed; trying again")

    def _check(self) -> None:
        overdue = self.store.overdue_cancels(CANCEL_GRACE_SECONDS)
        if overdue:
            log.warning("worker ignored a cancel for %s; killing it", ", ".join(overdue))
            self._end_worker()
            for job_id in overdue:
                self.store.finish(job_id, "cancelled", "cancelled (worker stopped)")
        if self.process is not None and self.process.poll() is not None:
            log.warning("worker exited with status %s; restarting it", self.process.returncode)
            if self._stop.wait(RESTART_DELAY_SECONDS):
                return
            self._spawn()

    def _end_worker(self) -> None:
        """Stop the worker; its running job stays 'running' and resumes on the next start."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
