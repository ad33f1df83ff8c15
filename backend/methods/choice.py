"""The methods a run can choose, by the names the CLI, the service and the panel use."""

from __future__ import annotations

from backend.errors import BackendError
from backend.methods.base import Method, MethodContext
from backend.methods.mutual.method import Mutual
from backend.methods.nerf_on_2d import NerfOn2D
from backend.methods.per_view import PerView

HYBRID = "hybrid"
METHODS = (HYBRID, Mutual.name, PerView.name, NerfOn2D.name)


def check_method(name: str) -> str:
    if name not in METHODS:
        raise BackendError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")
    return name


def build_method(name: str, context: MethodContext) -> Method:
    """The method called ``name`` on one run's head (hybrid: its stage-2 optimizer)."""
    check_method(name)
    if name == PerView.name:
        return PerView(context)
    if name == NerfOn2D.name:
        return NerfOn2D(context)
    if name == Mutual.name:
        return Mutual(context)
    return context.stylizer
