"""The job table in SQLite (WAL): the one place the server and the worker share state.

Each thread and process opens its own connection; WAL lets the worker write progress
while the server reads without either waiting long. Every state change is one UPDATE
guarded by the state it expects, so the server and the worker cannot overwrite each
other's decisions (a cancel racing a finish, say).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backend.errors import BackendError

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
BUSY_TIMEOUT_MS = 5000
RESUMES = "interrupted; resumes from its last finished stage"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    eta_seconds REAL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    styles TEXT NOT NULL,
    error TEXT,
    cancel_requested REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class JobRecord:
    """One row of the job table. ``started``/``finished`` are the last attempt's times."""

    seq: int
    id: str
    name: str
    state: str
    stage: str
    progress: float
    message: str
    eta_seconds: float | None
    created: str
    updated: str
    styles: list[str]
    error: str | None
    cancel_requested: float | None
    attempts: int
    started: float | None
    finished: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        values = dict(row)
        values["styles"] = json.loads(values["styles"])
        return cls(**values)


@dataclass(frozen=True)
class ProgressUpdate:
    stage: str
    progress: float
    message: str
    eta_seconds: float | None


class JobStore:
    """Jobs in ``path``; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self._connection().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open the job database {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock first, so read-then-write is atomic."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def create(self, job_id: str, name: str, styles: list[str]) -> JobRecord:
        now = utc_now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs (id, name, state, stage, message, created, updated, styles)"
                " VALUES (?, ?, 'queued', 'queued', 'waiting for the worker', ?, ?, ?)",
                (job_id, name, now, now, json.dumps(styles)),
            )
        return self._require(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        row = self._connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else JobRecord.from_row(row)

    def list(self) -> list[JobRecord]:
        rows = self._connection().execute("SELECT * FROM jobs ORDER BY seq DESC").fetchall()
        return [JobRecord.from_row(r) for r in rows]

    def _require(self, job_id: str) -> JobRecord:
        job = self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def claim_next(self) -> JobRecord | None:
        """The oldest queued job, now marked running (first in, first out)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?,"
                " message = 'starting', updated = ? WHERE id = ?",
                (time.time(), utc_now(), row["id"]),
            )
        return self._require(row["id"])

    def recover_interrupted(self, max_attempts: int) -> list[str]:
        """After a worker died: requeue its running job (it resumes), or give up on it.

        Only the worker holding the worker lock calls this, so a 'running' row is an
        orphan. Requeued jobs keep their place at the head of the queue.
        """
        with self._transaction() as db:
            rows = db.execute("SELECT * FROM jobs WHERE state = 'running'").fetchall()
            for job in map(JobRecord.from_row, rows):
                if job.cancel_requested is not None:
                    self._set_finished(db, job.id, "cancelled", "cancelled", None)
                elif job.attempts >= max_attempts:
                    error = (
                        f"the worker stopped {job.attempts} times while running this job "
                        "(a crash or out of memory?); see worker.log in the data folder"
                    )
                    self._set_finished(db, job.id, "failed", error, error)
                else:
                    self._set_queued(db, job.id, RESUMES)
        return [row["id"] for row in rows]

    def requeue(self, job_id: str, message: str = RESUMES) -> None:
        """Put a running job back at its place in the queue: its runner was lost."""
        with self._transaction() as db:
            self._set_queued(db, job_id, message)

    @staticmethod
    def _set_queued(db: sqlite3.Connection, job_id: str, message: str) -> None:
        db.execute(
            "UPDATE jobs SET state = 'queued', eta_seconds = NULL, updated = ?, message = ?"
            " WHERE id = ? AND state = 'running'",
            (utc_now(), message, job_id),
        )

    def report_progress(self, job_id: str, update: ProgressUpdate) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET stage = ?, progress = ?, message = ?, eta_seconds = ?,"
                " updated = ? WHERE id = ? AND state = 'running'",
                (
                    update.stage,
                    update.progress,
                    update.message,
                    update.eta_seconds,
                    utc_now(),
                    job_id,
                ),
            )

    def cancel_requested(self, job_id: str) -> bool:
        row = (
            self._connection()
            .execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
            .fetchone()
        )
        return row is not None and row["cancel_requested"] is not None

    def request_cancel(self, job_id: str) -> JobRecord:
        """A queued job is cancelled at once; a running one is flagged for its worker."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = 'cancelled', message = 'cancelled',"
                " eta_seconds = NULL, finished = ?, updated = ? WHERE id = ? AND state = 'queued'",
                (time.time(), utc_now(), job_id),
            )
            db.execute(
                "UPDATE jobs SET cancel_requested = ?, message = 'cancelling', updated = ?"
                " WHERE id = ? AND state = 'running' AND cancel_requested IS NULL",
                (time.time(), utc_now(), job_id),
            )
        return self._require(job_id)

    def overdue_cancels(self, grace_seconds: float) -> list[str]:
        """Running jobs whose cancel the worker has not honoured within the grace time."""
        rows = (
            self._connection()
            .execute(
                "SELECT id FROM jobs WHERE state = 'running' AND cancel_requested < ?",
                (time.time() - grace_seconds,),
            )
            .fetchall()
        )
        return [r["id"] for r in rows]

    def finish(self, job_id: str, state: str, message: str, error: str | None = None) -> None:
        """Move a running job to done, failed or cancelled."""
        with self._transaction() as db:
            self._set_finished(db, job_id, state, message, error)

    @staticmethod
    def _set_finished(
        db: sqlite3.Connection, job_id: str, state: str, message: str, error: str | None
    ) -> None:
        # A failed or cancelled job keeps the stage it stopped in; a done one is complete.
        done_sql = ", stage = 'done', progress = 1.0" if state == "done" else ""
        db.execute(
            f"UPDATE jobs SET state = ?, message = ?, error = ?,"
            f" eta_seconds = NULL, finished = ?, updated = ?{done_sql}"
            " WHERE id = ? AND state = 'running'",
            (state, message, error, time.time(), utc_now(), job_id),
        )
