"""Progress of a whole run, as the service and the command line report it.

Stages report their own fraction done; :class:`RunPlan` maps that onto one 0..1 scale
for the whole run (by rough stage costs on a CPU) and estimates the time left, so a
client can draw one progress bar. A sink may raise :class:`JobCancelled` to stop the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

STAGE_WEIGHTS = {
    "cameras": 0.1,
    "nerf": 0.5,
    "mesh": 0.1,
    "stylize": 0.3,
    "clip": 0.3,
    "colornet": 0.2,
    "report": 0.02,
}


@dataclass(frozen=True)
class Progress:
    """Where a run is: its current stage, the fraction of the whole run done, a message."""

    stage: str
    fraction: float
    message: str
    eta_seconds: float | None = None


ProgressSink = Callable[[Progress], None]


@dataclass
class RunPlan:
    """The stages a run will go through, and a sink to report to (or none)."""

    stages: list[str]
    sink: ProgressSink | None = None
    started: float = field(default_factory=time.perf_counter)
    first: float | None = None

    def report(self, stage: str, done: float, message: str) -> None:
        """Stage ``stage`` is ``done`` (0..1) through; tell the sink where the run is."""
        if self.sink is None:
            return
        total = sum(STAGE_WEIGHTS[s] for s in self.stages)
        before = sum(STAGE_WEIGHTS[s] for s in self.stages[: self.stages.index(stage)])
        fraction = min(1.0, (before + STAGE_WEIGHTS[stage] * min(max(done, 0.0), 1.0)) / total)
        if self.first is None:
            self.first = fraction
        # Rate over this process's own work: a resumed run skips stages in no time.
        done_here = fraction - self.first
        elapsed = time.perf_counter() - self.started
        eta = elapsed * (1.0 - fraction) / done_here if done_here > 0.02 else None
        self.sink(Progress(stage, round(fraction, 4), message, eta))
