"""The package graph stays a ladder: no import cycle between modules, no import from a lower
package of a higher one. Imports are read with ast, lazy (function-level) imports included, so a
cycle hidden behind a late import is still a cycle.

Order, lowest first (docs/architecture in DESIGN.md): targets < supernet < cost_models < deploy <
zoo < search < reports < bitgate. An exception must be named here, with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("targets", "supernet", "cost_models", "deploy", "zoo", "search", "reports", "bitgate")
# (importer module, imported module): why it may point up the ladder
ALLOWED_UPWARD = {
    (
        "targets.registry",
        "cost_models.registry",
    ): "a target's cost names are checked against the cost registry when the target is registered",
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> project modules it imports (at any depth of the file, relative imports resolved)."""
    files = {module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from p import m` imports the module p.m where there is one, else names from p itself
                subs = [f"{base}.{a.name}" if base else a.name for a in node.names]
                names = [m for m in subs if m in files]
                if len(names) < len(subs):
                    names.append(base)
            else:
                continue
            for name in names:
                while name and name not in files:  # `import a.b.c` names the module a.b.c (else a.b, a)
                    name = name.rpartition(".")[0]
                if name and name != mod:
                    graph[mod].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def upward_imports(graph: dict[str, set[str]], layers: tuple[str, ...], allowed: dict) -> list[str]:
    """'a.b -> c.d' for every import of a higher layer's module, minus the allowed ones."""
    rank = {pkg: i for i, pkg in enumerate(layers)}
    bad = []
    for mod, deps in sorted(graph.items()):
        for dep in sorted(deps):
            a, b = mod.split(".")[0], dep.split(".")[0]
            if rank[b] > rank[a] and (mod, dep) not in allowed:
                bad.append(f"{mod} -> {dep}")
    return bad


def test_the_project_has_no_import_cycle():
    assert cycles(import_graph(ROOT, LAYERS)) == []


def test_no_lower_package_imports_a_higher_one():
    assert upward_imports(import_graph(ROOT, LAYERS), LAYERS, ALLOWED_UPWARD) == []


def test_every_allowed_exception_is_still_needed():
    graph = import_graph(ROOT, LAYERS)
    assert [pair for pair in ALLOWED_UPWARD if pair[1] not in graph.get(pair[0], ())] == []


def _plant(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_planted_cycle_is_found_even_behind_a_lazy_import(tmp_path):
    _plant(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": "from low.b import thing\n",
            "low/b.py": "def thing():\n    from low import a\n    return a\n",
            "low/c.py": "import low.a\nfrom low import a, b\n",
        },
    )
    assert cycles(import_graph(tmp_path, ("low",))) == [["low.a", "low.b"]]


def test_a_planted_upward_import_is_found(tmp_path):
    _plant(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": "def f():\n    from high.b import g\n    return g\n",
            "high/__init__.py": "",
            "high/b.py": "from low.a import f\n\ndef g():\n    return f\n",
        },
    )
    graph = import_graph(tmp_path, ("low", "high"))
    assert upward_imports(graph, ("low", "high"), {}) == ["low.a -> high.b"]
    assert upward_imports(graph, ("low", "high"), {("low.a", "high.b"): "named"}) == []
    assert cycles(graph) == [["high.b", "low.a"]]


def test_relative_imports_are_resolved(tmp_path):
    _plant(
        tmp_path,
        {
            "p/__init__.py": "from .q import x\n",
            "p/q.py": "from . import r\n",
            "p/r.py": "",
            "p/sub/__init__.py": "",
            "p/sub/s.py": "from ..q import y\nfrom .. import r\n",
        },
    )
    graph = import_graph(tmp_path, ("p",))
    assert graph == {"p": {"p.q"}, "p.q": {"p.r"}, "p.r": set(), "p.sub": set(), "p.sub.s": {"p.q", "p.r"}}
