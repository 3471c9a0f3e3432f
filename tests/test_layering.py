"""Layering: the library core never needs the experiment toolkit, and the condensation package has no import cycle.

The core is every module of ``hf_learngene`` except the toolkit (``hf_learngene.experiments``) and the ``learngene``
command (``hf_learngene.cli``), which wires ``learngene demo`` from the toolkit next to ``condense`` and ``inherit``.
The top-level ``hf_learngene`` may name toolkit classes lazily (``hf_learngene.FeatureDistillationTrainer``): they are
loaded on first use only.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hf_learngene"
TOOLKIT = "hf_learngene.experiments"
#: Modules of the package that are not core, and why.
NOT_CORE = {
    TOOLKIT: "the experiment toolkit itself",
    "hf_learngene.cli": "the `learngene` command: `learngene demo` comes from the toolkit",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_core(name: str) -> bool:
    return not any(name == other or name.startswith(other + ".") for other in NOT_CORE)


def package_modules(folder: Path = PACKAGE, root: Path = ROOT) -> dict[str, Path]:
    """``{module name: file}`` of every module below ``folder`` (names relative to ``root``)."""
    return {module_name(path, root): path for path in sorted(folder.rglob("*.py")) if "__pycache__" not in path.parts}


def imports_of(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside an ``if TYPE_CHECKING:`` block)`` for every import statement of a module, at
    any depth (module level, in functions, under ``TYPE_CHECKING``): ``from .x import y`` names ``pkg.x.y`` when ``y``
    is a module, else ``pkg.x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    type_checking = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in type_checking) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found += [(f"{target}.{alias.name}", node.lineno, id(node) in type_checking) for alias in node.names]
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: the modules of ``modules`` it imports}`` (a module importing a name of a package imports its
    ``__init__``; importing a submodule imports that submodule)."""
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target, _, _ in imports_of(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component of ``graph`` that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(_cycle_through(node, component, graph))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _cycle_through(start: str, component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A path ``start -> ... -> start`` inside ``component`` (breadth first)."""
    paths = {succ: [start, succ] for succ in sorted(graph[start]) if succ in component}
    queue = list(paths)
    while start not in paths:
        node = queue.pop(0)
        for succ in sorted(graph[node]):
            if succ in component and succ not in paths:
                paths[succ] = [*paths[node], succ]
                queue.append(succ)
    return paths[start]


# ------------------------------------------------------------------------------------------------------ the core
def test_every_core_module_imports_with_the_toolkit_blocked() -> None:
    core = sorted(name for name in package_modules() if is_core(name))
    assert {"hf_learngene", "hf_learngene.data", "hf_learngene.hub", "hf_learngene.condensation.auto"} <= set(core)
    code = textwrap.dedent(f"""
        import importlib, importlib.abc, json, sys

        class BlockToolkit(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == {TOOLKIT!r} or name.startswith({TOOLKIT!r} + "."):
                    raise ImportError(f"{{name}} is blocked: the core must not need the experiment toolkit")
                return None

        sys.meta_path.insert(0, BlockToolkit())
        try:
            import {TOOLKIT}
        except ImportError:
            pass
        else:
            raise SystemExit("the toolkit was not blocked")
        for name in json.loads(sys.argv[1]):
            importlib.import_module(name)
        import hf_learngene, hf_learngene.data
        print(json.dumps([m for m in sys.modules if m.startswith({TOOLKIT!r})]))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONSTARTUP")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(core)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_no_core_module_imports_the_toolkit_even_lazily() -> None:
    """Imports inside functions count too (they would fail on first use); the top-level package's type-checking
    imports of the toolkit names it exposes lazily are the one exception."""
    offending = []
    for name, path in package_modules().items():
        if not is_core(name):
            continue
        for target, line, type_checking in imports_of(name, path):
            if not is_core(target) and not (name == "hf_learngene" and type_checking):
                offending.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert offending == []


# --------------------------------------------------------------------------------------------- import cycles
def test_the_condensation_package_has_no_import_cycle() -> None:
    """Every import counts, also inside functions and under ``TYPE_CHECKING``: a lazy import that hides a circle is
    still a circle. The shared types live in ``condensation/base.py``, which imports no other module of the
    package."""
    modules = package_modules(PACKAGE / "condensation")
    graph = import_graph(modules)
    assert find_cycles(graph) == []
    assert graph["hf_learngene.condensation.base"] == set()


def test_the_package_has_no_import_cycle_outside_the_lazy_package_inits() -> None:
    """The whole package, less the edges from the package ``__init__``s that load their names lazily (a type
    checker's view of them only)."""
    modules = package_modules()
    graph = import_graph(modules)
    for name, path in modules.items():
        if path.name == "__init__.py":
            graph[name] = {target for target in graph[name]
                           if any(t == target or t.startswith(target + ".")
                                  for t, _, type_checking in imports_of(name, path) if not type_checking)}
    assert find_cycles(graph) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c", "a"]]),
    ({"a": {"a"}}, [["a", "a"]]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, []),
])
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert find_cycles(graph) == expected


def test_the_import_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n")
    (package / "b.py").write_text("def f():\n    from . import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    graph = import_graph(package_modules(package, tmp_path))
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
