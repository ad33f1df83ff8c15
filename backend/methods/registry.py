"""The registered methods, by the names the CLI, the service and the panel use.

Each is built the same way, from the run's :class:`MethodContext` and, where a caller
wants other than its defaults, its own config. ``METHODS`` are the ones ``--method``
offers (they stylize by style images); the CLIP method runs when a run gives a prompt
or an exemplar.
"""

from __future__ import annotations

from backend.errors import BackendError
from backend.methods.base import Method, MethodContext
from backend.methods.clip.method import ClipMethod
from backend.methods.hybrid.method import Hybrid
from backend.methods.mutual.method import Mutual
from backend.methods.nerf_on_2d import NerfOn2D
from backend.methods.per_view import PerView

REGISTERED: dict[str, type] = {m.name: m for m in (Hybrid, Mutual, PerView, NerfOn2D, ClipMethod)}
HYBRID = Hybrid.name
METHODS = tuple(name for name, method in REGISTERED.items() if not method.needs_clip)


def check_method(name: str) -> str:
    if name not in METHODS:
        raise BackendError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")
    return name


def build_method(name: str, context: MethodContext, config: object | None = None) -> Method:
    """The method called ``name`` on one run's head, with ``config`` (None: its own
    defaults; the hybrid and CLIP methods': the run's stage-2 settings)."""
    if name not in REGISTERED:
        raise BackendError(f"unknown method '{name}'; registered: {', '.join(REGISTERED)}")
    return REGISTERED[name](context, config)
