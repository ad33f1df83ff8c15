"""The house's floors, read from the code's own imports: every import in ``backend/`` runs
down a floor (or stays inside its own package), and no module imports another that
imports it back. Imports under ``if TYPE_CHECKING:`` and inside functions count too: a
cycle that only a type hint or a late import hides is still a knot.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "backend"

# Lowest first. A package may import its own modules and any package on a lower floor;
# packages on one floor never import each other. docs/DESIGN.md draws the same floors.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("backend", "errors"),
    ("files", "imagefiles", "progress", "device", "sample"),
    ("captures",),
    ("nerf", "raster", "pretrained"),
    ("mesh", "style"),
    ("face",),
    ("views",),
    ("methods", "fast"),
    ("stylize",),
    ("pipeline",),
    ("server",),
    ("cli",),
    ("__main__",),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BACKEND.rglob("*.py"))}


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The ``backend`` modules a module imports: ``from backend.x import y`` imports
    ``backend.x.y`` when that is a module, else ``backend.x`` (or the nearest module
    above it)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # ``from package import module`` imports that module (the package is
            # already being initialized); ``from module import name`` the module.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in names:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                targets.add(target)
    return targets


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def floor_of(package: str) -> int:
    for index, floor in enumerate(FLOORS):
        if package in floor:
            return index
    raise AssertionError(f"backend/{package} is on no floor: add it to FLOORS and DESIGN.md")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = top_package(module)
        out.setdefault(source, set()).update(
            top_package(t) for t in targets if top_package(t) != source
        )
    return out


def test_no_two_modules_import_each_other_directly_or_round_a_loop():
    assert find_cycle(import_graph()) is None, "import cycle: " + " -> ".join(
        find_cycle(import_graph()) or []
    )


def test_no_cycle_between_the_packages_of_backend():
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, "packages import each other: " + " -> ".join(cycle or [])


def test_every_import_runs_down_a_floor():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if top_package(target) != top_package(module)
        and floor_of(top_package(target)) >= floor_of(top_package(module))
        and top_package(target) != "backend"
    ]
    assert not upward, "imports that run up or across a floor:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_the_cycle_finder_finds_cycles_and_only_cycles(graph, cycle):
    assert find_cycle(graph) == cycle


def test_the_reader_sees_type_checking_and_relative_imports(tmp_path: Path):
    known = {"backend.x.a": tmp_path / "a.py", "backend.x.b": tmp_path / "b.py"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from backend.x.b import Thing\n"
        "def late():\n    from . import b\n"
    )
    known["backend.x.a"].write_text(source)
    assert imported("backend.x.a", known["backend.x.a"], known) == {"backend.x.b"}
