"""Service benchmark: status-poll latency while a job trains, and job throughput.

    python benchmarks/server.py [--polls 1000] [--interval 0.02] [--steps 600] [--capture DIR]
        [--executor local|ray] [--ray-workers 1,2] [--jobs 4 --job-steps 60]

Starts ``python -m backend serve`` on a free loopback port with a temporary data folder,
submits a job on the sample capture (or ``--capture``), waits until it trains, then
polls ``GET /jobs/{id}`` (and ``GET /jobs``, ``GET /health``) every ``--interval``
seconds, a new connection each, as a client's progress bar would; the job is cancelled.
Then ``--jobs`` small jobs (``--job-steps`` NeRF steps, ending after the NeRF) are
submitted at once and timed to the last one's end: jobs per hour. With ``--executor
ray`` all of it runs once per entry of ``--ray-workers``, each time against a fresh
local Ray head with that many CPUs (one job per CPU). Prints one JSON object and a table.
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
from collections.abc import Iterator
from contextlib import contextmanager
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


def _start(root: Path, port: int, extra: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "backend", "serve", "--port", str(port), "--offline"]
    command += ["--data-dir", str(root / "data"), "--token-file", str(root / "token"), *extra]
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
    parser.add_argument("--steps", type=int, default=600, help="NeRF steps of the polled job")
    parser.add_argument("--capture", type=Path, default=None)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-workers", default="1,2", help="Ray CPUs per run, comma separated")
    parser.add_argument("--jobs", type=int, default=4, help="jobs of the throughput run")
    parser.add_argument("--job-steps", type=int, default=60, help="NeRF steps of each such job")
    args = parser.parse_args()
    capture = (args.capture or sample_capture_dir()).resolve()
    if args.executor == "local":
        runs = [{"executor": "local", **_run(args, capture, [])}]
    else:
        runs = []
        for workers in (int(w) for w in args.ray_workers.split(",")):
            with _ray_head(workers) as address:
                extra = ["--executor", "ray", "--ray-address", address]
                runs.append({"executor": "ray", "workers": workers, **_run(args, capture, extra)})
    print(json.dumps({"polls": args.polls, "cpu_count": os.cpu_count(), "runs": runs}, indent=2))
    print(f"\n{'run':<14}{'request':<18}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'jobs/h':>9}")
    paths = {"job": "GET /jobs/{id}", "list": "GET /jobs", "health": "GET /health"}
    for run in runs:
        name = run["executor"] + (f" x{run['workers']}" if "workers" in run else "")
        for key, row in run["latency"].items():
            rate = run["jobs_per_hour"] if key == "job" else ""
            print(f"{name:<14}{paths[key]:<18}{row['p50_ms']:>9}{row['p99_ms']:>9}"
                  f"{row['max_ms']:>9}{rate:>9}")  # fmt: skip


def _run(args: argparse.Namespace, capture: Path, extra: list[str]) -> dict:
    """One server: poll latency while a job trains, then the throughput of ``--jobs``."""
    with tempfile.TemporaryDirectory(prefix="server-bench-") as tmp:
        root, port = Path(tmp), _free_port()
        process = _start(root, port, extra)
        try:
            client = Client(port, (root / "token").read_text().strip())
            latency = _latency(client, capture, args)
            started = time.monotonic()
            ids = [_submit(client, capture, args.job_steps, "nerf")["id"] for _ in range(args.jobs)]
            states = [_wait(client, job_id) for job_id in ids]
            seconds = time.monotonic() - started
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    return {
        "latency": latency,
        "jobs": args.jobs,
        "job_states": states,
        "throughput_seconds": round(seconds, 1),
        "jobs_per_hour": round(3600.0 * args.jobs / seconds, 1),
    }


def _submit(client: Client, capture: Path, steps: int, stop_after: str | None = None) -> dict:
    options = {"steps": steps} if stop_after is None else {"steps": steps, "stop_after": stop_after}
    fields = {"capture_path": str(capture), "builtin_style": "strokes"}
    return client.submit({**fields, "options": json.dumps(options)})


def _wait(client: Client, job_id: str) -> str:
    while (state := client.call("GET", f"/jobs/{job_id}")["state"]) in ("queued", "running"):
        time.sleep(0.2)
    return state


def _latency(client: Client, capture: Path, args: argparse.Namespace) -> dict:
    job = _submit(client, capture, args.steps)
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
    client.call("POST", f"/jobs/{job['id']}/cancel")
    _wait(client, job["id"])
    return results


@contextmanager
def _ray_head(cpus: int) -> Iterator[str]:
    """A local Ray head with ``cpus`` CPUs on a free port (loopback, no token)."""
    port = _free_port()
    ray = str(Path(sys.executable).with_name("ray"))
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the server inherits it
    start = [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}"]
    start += [f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false"]
    subprocess.run([*start, "--disable-usage-stats"], check=True, env=env, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], check=False, env=env, capture_output=True)


if __name__ == "__main__":
    main()
