"""The job queue of the real service: cancelling, and 20 jobs submitted at once.

Queue jobs use ``stop_after: "capture"`` (the pipeline loads and checks the inputs, then
ends): the property under test is the queue (none lost, first in first out, never two
at once), and a real training step costs seconds on these machines.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest

from tests.server_helpers import Part, Server, path_job, zip_folder

TRAINING = {"steps": 60, "style_steps": 3}
QUEUED_JOBS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = Server(tmp_path_factory.mktemp("queue")).start()
    yield running
    running.stop()


@pytest.mark.slow
def test_cancel_stops_a_running_job_within_seconds_and_a_queued_one_at_once(
    server: Server, tiny_capture_dir: Path
):
    running = server.submit(path_job(tiny_capture_dir, TRAINING))
    queued = server.submit(path_job(tiny_capture_dir, TRAINING))
    job = server.wait(running["id"], states=("running",), timeout=60)
    while job["progress"] == 0.0 and job["state"] == "running":
        time.sleep(0.1)
        job = server.job(running["id"])
    reply = server.request("POST", f"/jobs/{queued['id']}/cancel")
    assert reply.status == 200 and reply.json()["state"] == "cancelled"

    asked = time.monotonic()
    reply = server.request("POST", f"/jobs/{running['id']}/cancel")
    assert reply.status == 200 and reply.json()["state"] in ("running", "cancelled")
    job = server.wait(running["id"], timeout=15, every=0.1)
    assert job["state"] == "cancelled" and time.monotonic() - asked < 10.0
    assert job["stage"] == "nerf" and job["error"] is None
    assert server.request("POST", f"/jobs/{running['id']}/cancel").json()["state"] == "cancelled"
    assert server.job(queued["id"])["state"] == "cancelled"
    assert server.job(queued["id"])["artifacts"] == []


@pytest.mark.slow
def test_twenty_jobs_submitted_at_once_all_finish_in_order_one_at_a_time(
    server: Server, tiny_capture_dir: Path
):
    zipped = zip_folder(tiny_capture_dir)

    def submit(index: int) -> dict:
        options = {"stop_after": "capture", "name": f"q{index}"}
        if index % 2:
            return server.submit(path_job(tiny_capture_dir, options))
        parts = path_job(tiny_capture_dir, options)
        return server.submit([Part("capture", zipped, "head.zip"), *parts[1:]])

    with ThreadPoolExecutor(QUEUED_JOBS) as pool:
        submitted = list(pool.map(submit, range(QUEUED_JOBS)))
    ids = {job["id"] for job in submitted}
    assert len(ids) == QUEUED_JOBS

    most_running = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        jobs = [j for j in server.request("GET", "/jobs").json()["jobs"] if j["id"] in ids]
        most_running = max(most_running, sum(j["state"] == "running" for j in jobs))
        if all(j["state"] == "done" for j in jobs):
            break
        assert not [j for j in jobs if j["state"] in ("failed", "cancelled")], jobs
        time.sleep(0.1)
    assert len(jobs) == QUEUED_JOBS and all(j["state"] == "done" for j in jobs), jobs
    assert most_running <= 1

    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        rows = db.execute(
            "SELECT id, seq, started, finished, attempts FROM jobs ORDER BY started"
        ).fetchall()
    rows = [r for r in rows if r[0] in ids]
    assert [r[1] for r in rows] == sorted(r[1] for r in rows), "not first in, first out"
    for before, after in pairwise(rows):
        assert before[3] <= after[2], "two jobs ran at once"
    assert all(r[4] == 1 for r in rows)
