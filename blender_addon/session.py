"""Main-thread side of background work: one ``bpy.app.timers`` callback drives it all.

Worker threads (jobs.py) never touch Blender data. The timer copies their snapshots into
the window manager's properties, redraws the sidebar, and runs the finishing step
(importing, assigning a texture) on the main thread. In background mode timers do not
run, so :func:`wait` drives the same steps by blocking until the work is done.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bpy

from .jobs import Call, JobTask, JobView

TICK_SECONDS = 0.25


@dataclass
class ActiveJob:
    """The job the panel follows, and what to do on the main thread when it ends."""

    task: JobTask
    work_dir: Path
    on_finish: Callable[[JobView], None]


_job: ActiveJob | None = None
_calls: list[tuple[Call, Callable[[Call], None]]] = []
_steps: list[Callable[[], bool]] = []


def state() -> bpy.types.PropertyGroup:
    return bpy.context.window_manager.stylized_heads


def busy() -> bool:
    return _job is not None or bool(_steps)


def start_job(task: JobTask, work_dir: Path, on_finish: Callable[[JobView], None]) -> None:
    """Follow ``task`` (already started) in the panel."""
    global _job
    _job = ActiveJob(task, work_dir, on_finish)
    session = state()
    session.busy, session.job_id, session.progress, session.report = True, "", 0.0, ""
    _ensure_timer()


def cancel_job() -> bool:
    if _job is None:
        return False
    _job.task.cancel()
    state().message = "cancelling"
    return True


def after(call: Call, callback: Callable[[Call], None]) -> None:
    """Run ``callback(call)`` on the main thread once the call has finished."""
    _calls.append((call, callback))
    _ensure_timer()


def repeat(step: Callable[[], bool]) -> None:
    """Run ``step`` on the main thread each tick until it returns True (e.g. one render)."""
    _steps.append(step)
    state().busy = True
    _ensure_timer()


def wait() -> None:
    """Block until every pending job, call and step is done (background mode)."""
    while _job is not None or _calls or _steps:
        for step in list(_steps):
            while not step():
                pass
            _steps.remove(step)
        for call, _ in list(_calls):
            call.wait()
        if _job is not None:
            view = _job.task.wait(TICK_SECONDS * 4)
            if view.job_id and not view.finished:
                print(
                    f"stylized heads: {view.progress:6.1%} {view.stage}: {view.message}", flush=True
                )
        _tick()


def reset() -> None:
    """Forget pending work (on unregister); worker threads are daemons and end by themselves."""
    global _job
    if _job is not None:
        _job.task.cancel()
    _job = None
    _calls.clear()
    _steps.clear()
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)


def _ensure_timer() -> None:
    if not bpy.app.background and not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=TICK_SECONDS)


def _tick() -> float | None:
    global _job
    if _steps and _steps[0]():
        _steps.pop(0)
    for entry in [c for c in _calls if c[0].finished]:
        _calls.remove(entry)
        entry[1](entry[0])
    if _job is not None:
        view = _job.task.view()
        _show(view)
        if view.finished:
            job, _job = _job, None
            try:
                job.on_finish(view)
            finally:
                shutil.rmtree(job.work_dir, ignore_errors=True)
    session = state()
    session.busy = busy()
    _redraw()
    return TICK_SECONDS if busy() or _calls else None


def _show(view: JobView) -> None:
    session = state()
    session.job_id = view.job_id
    session.progress = max(0.0, min(1.0, view.progress))
    session.stage = view.stage
    session.message = view.message
    session.eta_seconds = -1.0 if view.eta_seconds is None else view.eta_seconds


def _redraw() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
