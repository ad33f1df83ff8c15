"""The network side of a job, run in a worker thread: submit, poll, cancel, download.

Nothing here touches Blender: the thread only talks HTTP and writes files into a folder
of its own, and publishes a :class:`JobView` snapshot under a lock. Blender's main thread
reads snapshots from a ``bpy.app.timers`` callback (operators.py) and does the importing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from .client import TERMINAL_STATES, BackendClient, ClientError

POLL_SECONDS = 1.0
T = TypeVar("T")


@dataclass(frozen=True)
class JobView:
    """What the panel shows about one job; ``finished`` once the thread has nothing left."""

    job_id: str = ""
    name: str = ""
    state: str = "submitting"
    stage: str = ""
    progress: float = 0.0
    message: str = "sending the capture to the backend"
    eta_seconds: float | None = None
    styles: tuple[str, ...] = ()
    error: str = ""
    results: tuple[Path, ...] = ()
    finished: bool = False


def result_artifacts(job: dict[str, Any]) -> list[str]:
    """The GLBs to import: one per style, else the plain mesh when no style result exists."""
    artifacts = [str(a) for a in job.get("artifacts") or []]
    stylized = sorted(a for a in artifacts if a.startswith("stylized_") and a.endswith(".glb"))
    return stylized or [a for a in artifacts if a == "mesh.glb"]


class JobTask:
    """Follows one backend job in a daemon thread until it ends and its results are local."""

    def __init__(
        self,
        client: BackendClient,
        download_dir: Path,
        submit: Callable[[BackendClient], dict[str, Any]] | None = None,
        job_id: str = "",
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        if submit is None and not job_id:
            raise ValueError("a JobTask needs a submit function or an existing job id")
        self.client = client
        self.download_dir = download_dir
        self._submit = submit
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._view = JobView(job_id=job_id, message="asking the backend")
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stylized-heads-job", daemon=True)

    def start(self) -> JobTask:
        self._thread.start()
        return self

    def view(self) -> JobView:
        with self._lock:
            return self._view

    def cancel(self) -> None:
        """Ask the backend to cancel; the view ends in state 'cancelled' once it has."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> JobView:
        self._thread.join(timeout)
        return self.view()

    def _publish(self, **changes: Any) -> None:
        with self._lock:
            self._view = replace(self._view, **changes)

    def _publish_job(self, job: dict[str, Any]) -> None:
        eta = job.get("eta_seconds")
        self._publish(
            job_id=str(job.get("id", "")),
            name=str(job.get("name", "")),
            state=str(job.get("state", "")),
            stage=str(job.get("stage", "")),
            progress=float(job.get("progress") or 0.0),
            message=str(job.get("message") or ""),
            eta_seconds=None if eta is None else float(eta),
            styles=tuple(str(s) for s in job.get("styles") or ()),
        )

    def _run(self) -> None:
        try:
            job = self._follow()
            if job.get("state") == "done":
                self._publish(message="downloading the results")
                self._publish(results=tuple(self._download(job)), message="results downloaded")
            elif job.get("state") == "failed":
                self._publish(error=f"the job failed: {job.get('error') or 'no reason given'}")
        except ClientError as exc:
            self._publish(error=str(exc))
        except OSError as exc:
            self._publish(error=f"cannot write the results into {self.download_dir}: {exc}")
        except Exception as exc:  # a thread's exception would vanish; show it instead
            self._publish(error=f"unexpected error while following the job: {exc!r}")
        finally:
            self._publish(finished=True)

    def _follow(self) -> dict[str, Any]:
        if self._submit is not None:
            job = self._submit(self.client)
        else:
            job = self.client.job(self.view().job_id)
        self._publish_job(job)
        cancel_sent = False
        while job.get("state") not in TERMINAL_STATES:
            if self._cancel.is_set() and not cancel_sent:
                job = self.client.cancel(str(job["id"]))
                cancel_sent = True
            else:
                self._cancel.wait(self._poll_seconds)
                job = self.client.job(str(job["id"]))
            self._publish_job(job)
        return job

    def _download(self, job: dict[str, Any]) -> list[Path]:
        folder = self.download_dir / str(job["id"])
        return [
            self.client.download(str(job["id"]), name, folder / name)
            for name in result_artifacts(job)
        ]


class Call(Generic[T]):
    """One blocking call (a health check, a job list, an apply-style) in a daemon thread."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self.result: T | None = None
        self.error = ""
        self.seconds = 0.0
        self._done = threading.Event()
        threading.Thread(target=self._run, name="stylized-heads-call", daemon=True).start()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self.result = self._fn()
        except ClientError as exc:
            self.error = str(exc)
        except Exception as exc:  # a thread's exception would vanish; show it instead
            self.error = f"unexpected error: {exc!r}"
        finally:
            self.seconds = time.perf_counter() - started
            self._done.set()
