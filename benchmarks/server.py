"""Service benchmark: status-poll latency while a job trains in the worker.

    python benchmarks/server.py [--polls 1000] [--interval 0.02] [--steps 900] [--capture DIR]

Starts ``python -m backend serve`` on a free loopback port with a temporary data folder,
submits a job on the sample capture (or ``--capture``), waits until it trains, then
polls ``GET /jobs/{id}`` (and ``GET /jobs``, ``GET /health``) every ``--interval``
seconds, a new connection each, as a client's progress bar would. Prints one JSON object and
a table; the job is cancelled and the server stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from backend.sample import sample_capture_dir

REPO = Path(__file__).resolve().parents[1]


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token

    def call(self, method: str, path: str, body: bytes | None = None, headers=None) -> dict:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
            return json.loads(data)
        finally:
            connection.close()

    def submit(self, fields: dict[str, str]) -> dict:
        """POST /jobs with text fields only (a local capture path, a built-in style)."""
        boundary = uuid.uuid4().hex
        disposition = "Content-Disposition: form-data; name="
        body = (
            b"".join(
                f'--{boundary}\r\n{disposition}"{k}"\r\n\r\n{v}\r\n'.encode()
                for k, v in fields.items()
            )
            + f"--{boundary}--\r\n".encode()
        )
        content_type = f"multipart/form-data; boundary={boundary}"
        return self.call("POST", "/jobs", body, {"Content-Type": content_type})

    def latencies_ms(self, path: str, count: int, interval: float) -> list[float]:
        out = []
        for _ in range(count):
            started = time.perf_counter()
            self.call("GET", path)
            out.append((time.perf_counter() - started) * 1000.0)
            time.sleep(interval)
        return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(root: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "backend", "serve", "--port", str(port), "--offline"]
    command += ["--data-dir", str(root / "data"), "--token-file", str(root / "token")]
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not start; see {root / 'server.log'}")


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between polls")
    parser.add_argument("--steps", type=int, default=900, help="NeRF steps of the job")
    parser.add_argument("--capture", type=Path, default=None)
    args = parser.parse_args()
    capture = (args.capture or sample_capture_dir()).resolve()
    with tempfile.TemporaryDirectory(prefix="server-bench-") as tmp:
        root, port = Path(tmp), _free_port()
        process = _start(root, port)
        try:
            client = Client(port, (root / "token").read_text().strip())
            options = json.dumps({"steps": args.steps})
            fields = {"capture_path": str(capture), "builtin_style": "strokes", "options": options}
            job = client.submit(fields)
            while client.call("GET", f"/jobs/{job['id']}")["progress"] <= 0.0:
                time.sleep(0.2)
            results = {
                key: _summary(client.latencies_ms(path, count, args.interval))
                for key, path, count in [
                    ("job", f"/jobs/{job['id']}", args.polls),
                    ("list", "/jobs", args.polls // 5),
                    ("health", "/health", args.polls // 5),
                ]
            }
            state = client.call("GET", f"/jobs/{job['id']}")
            client.call("POST", f"/jobs/{job['id']}/cancel")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    report = {
        "polls": args.polls,
        "interval_s": args.interval,
        "cpu_count": os.cpu_count(),
        "job_state_after": {k: state[k] for k in ("state", "stage", "progress")},
        "latency": results,
    }
    print(json.dumps(report, indent=2))
    print(f"\n{'request':<22}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    paths = {"job": "GET /jobs/{id}", "list": "GET /jobs", "health": "GET /health"}
    for key, row in results.items():
        print(f"{paths[key]:<22}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['max_ms']:>10}")


if __name__ == "__main__":
    main()
