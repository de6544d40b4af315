"""The shape of kcs's imports: no cycle between any two modules, and a core that does no I/O.

import-linter (run by ``scripts/test``) keeps the layers in order between packages; these
tests cover what its contracts do not: a cycle inside a package, including one hidden in a
function-level import, and what ``import kcs.core`` drags in at run time.
"""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kcs"

pytestmark = pytest.mark.timeout(60)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imported(module: str, is_package: bool, tree: ast.Module) -> set[str]:
    """What ``module`` imports, at any depth of its code (function-level imports
    included), except in the body of an ``if TYPE_CHECKING:`` (its ``else`` runs): module
    names, and ``package.name`` for each name a ``from package import name`` takes."""
    names: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            names.update(f"{base}.{alias.name}" for alias in node.names)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return names


def _graph(modules: dict[str, tuple[bool, ast.Module]]) -> dict[str, set[str]]:
    """Module -> the modules it imports, for ``modules`` (name -> (is a package, code))."""
    graph: dict[str, set[str]] = {}
    for module, (is_package, tree) in modules.items():
        deps = set()
        for name in _imported(module, is_package, tree):
            target = name
            # ``from kcs.x import Y`` names a module or a name in one: the deepest module
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if not target or target == module:
                continue
            # A module's own package runs its __init__ before the module: importing a
            # submodule through it (``from kcs.x import _y``) is no cycle, but taking a
            # name the __init__ defines or re-exports (``from kcs.x import Y``) is.
            if module.startswith(f"{target}.") and name in modules:
                continue
            deps.add(target)
        graph[module] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        return list(e.args[1])
    return []


def test_no_module_imports_itself_through_others() -> None:
    modules = {
        _module_name(p): (p.name == "__init__.py", ast.parse(p.read_text(encoding="utf-8")))
        for p in PACKAGE.rglob("*.py")
    }
    graph = _graph(modules)
    assert len(graph) > 150, "the walk found too few modules to mean anything"
    assert "kcs.core" in graph["kcs.client._client"], "the walk missed a plain import"
    cycle = _cycle(graph)
    assert not cycle, f"an import cycle: {' -> '.join(cycle)}"


def test_a_cycle_hidden_in_a_function_is_found() -> None:
    # The check above can fail: a function-level import that closes a loop is a cycle,
    # and one under ``if TYPE_CHECKING:`` is not.
    lazy = ast.parse("def f():\n    from kcs.b import g\n")
    typing_only = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from kcs.b import g\n")
    typing_else = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    pass\nelse:\n    from kcs.b import g\n")
    top = ast.parse("from kcs.a import f\n")
    assert _cycle(_graph({"kcs.a": (False, lazy), "kcs.b": (False, top)}))
    assert not _cycle(_graph({"kcs.a": (False, typing_only), "kcs.b": (False, top)}))
    assert _cycle(_graph({"kcs.a": (False, typing_else), "kcs.b": (False, top)}))


def test_a_name_taken_from_the_own_package_is_a_cycle() -> None:
    facade = ast.parse("from kcs.p._x import f\n")
    through_facade = ast.parse("def f():\n    from kcs.p import G\n")
    a_submodule = ast.parse("def f():\n    from kcs.p import _y\n")
    plain = ast.parse("G = 1\n")
    assert _cycle(_graph({"kcs.p": (True, facade), "kcs.p._x": (False, through_facade)}))
    assert not _cycle(_graph({"kcs.p": (True, facade), "kcs.p._x": (False, a_submodule),
                              "kcs.p._y": (False, plain)}))


def test_importing_kcs_core_loads_no_http_library() -> None:
    code = (
        "import json, sys\n"
        "import kcs.core\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, check=True).stdout
    loaded = set(json.loads(out))
    http = {"aiohttp", "httpx", "requests", "urllib3", "yarl", "multidict", "http.client",
            "ssl", "kcs.client"}
    assert "kcs.core" in loaded
    assert not loaded & http, f"import kcs.core loaded {sorted(loaded & http)}"
