"""The package has no import cycle, lazy or not: every import statement of every module, at the
top or inside a function, is an edge of the module graph, and the graph has no cycle. (A lazy
import hides a cycle from Python, not from a reader.)"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "alignlab"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the alignlab modules it imports (``from pkg import name`` counts as importing
    ``pkg.name`` when that is a module, else ``pkg``)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_lazy_imports() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    # The real graph holds the comparison's lazy import of the report.
    assert "alignlab.report" in import_graph()["alignlab.comparison"]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


# Libraries that take seconds to import: the CLI's front door must not wait for them.
HEAVY = ("torch", "transformers", "datasets", "accelerate", "peft", "matplotlib", "pandas", "scipy", "ray")
PROBE = """
import atexit, json, sys
heavy = set(sys.argv[1].split(","))
atexit.register(lambda: print("LOADED", json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy))))
sys.argv = ["alignlab", *sys.argv[2:]]
from alignlab.cli import main
main()
"""


def modules_loaded_by(*args: str, cwd: Path) -> list[str]:
    """The heavy libraries imported by ``alignlab ARGS`` (run in a fresh interpreter)."""
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED"))
    return json.loads(line.removeprefix("LOADED "))


def test_the_front_door_imports_no_model_library(tmp_path) -> None:
    """``--help``, ``config show`` and the refusal of bad input answer without importing torch,
    transformers or any other heavy library (what makes them answer in under a second)."""
    repo = PACKAGE.parents[1]
    assert modules_loaded_by("--help", cwd=repo) == []
    assert modules_loaded_by("config", "show", "dpo", cwd=repo) == []
    assert modules_loaded_by("train", "no-such-method", "--out", str(tmp_path / "x"), cwd=repo) == []
    assert modules_loaded_by("compare", str(tmp_path / "missing.yaml"), cwd=repo) == []
    assert modules_loaded_by("compare", "--set", "dpo.beta=-1", cwd=repo) == []
