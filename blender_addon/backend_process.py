"""Start a local backend from the command in the preferences, and wait until it answers."""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from .client import BackendClient, ClientError


class BackendProcess:
    """A backend this add-on started; its output goes to a log file (a pipe could fill)."""

    def __init__(self, command: str) -> None:
        args = shlex.split(command)
        if not args:
            raise ClientError("no command to start the backend is set in the preferences")
        self.log = Path(tempfile.mkstemp(prefix="stylized-heads-backend-", suffix=".log")[1])
        try:
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise ClientError(f"cannot start the backend with '{command}': {exc}") from exc

    def exited(self) -> bool:
        return self.process.poll() is not None

    def log_tail(self, lines: int = 3) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the backend (only ever the one this object started)."""
        if not self.exited():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_healthy(
    client: BackendClient, process: BackendProcess | None = None, timeout: float = 60.0
) -> dict[str, object]:
    """The health answer once the backend is up; blocking, so call from a worker thread."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.health()
        except ClientError:
            if process is not None and process.exited():
                raise ClientError(
                    f"the backend exited with status {process.process.returncode}: "
                    f"{process.log_tail()}"
                ) from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)
