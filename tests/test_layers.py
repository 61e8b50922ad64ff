"""What each folder may import (README "Architecture"): a lower layer never imports a higher one.

Every import counts, also those inside functions: a lazy import is still a dependency, and
hiding one is how the old CLI's plugin loader and the base <-> html cycle went unnoticed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The application's library modules: the Prefect flows call them. The CLI and its commands sit on
# top of everything, flows included.
APP_LIBRARY = {"app", "app.processor", "app.pipeline", "app.read", "app.window", "app.alerts", "app.ops"}

ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "infra": {"schemas"},
    "connectors": {"schemas", "infra"},
    "transforms": {"schemas"},
    "digest": {"schemas", "infra"},
    "flows": {"schemas", "infra", "connectors", "transforms", "digest", "app-library"},
    "app-library": {"schemas", "infra", "connectors", "transforms", "digest"},
    "app": {"schemas", "infra", "connectors", "transforms", "digest", "flows", "app-library"},
}


def _layer(module: str) -> str | None:
    top = module.split(".")[0]
    if top == "app":
        # `app.alerts.SourceView` (a name imported from a module) belongs to app.alerts.
        library = module == "app" or ".".join(module.split(".")[:2]) in APP_LIBRARY - {"app"}
        return "app-library" if library else "app"
    return top if top in ALLOWED else None


def _modules() -> Iterator[tuple[str, Path]]:
    for package in ("schemas", "infra", "connectors", "transforms", "digest", "flows", "app"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "sample_corpus" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            # `from app.commands import digest` imports the module app.commands.digest.
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                as_path = ROOT.joinpath(*name.split("."))
                if as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file():
                    yield node.lineno, name


def _violations() -> list[str]:
    found = []
    for module, path in _modules():
        own = _layer(module)
        assert own is not None, module
        for line, imported in _imports(path):
            target = _layer(imported)
            if target is None or target == own:
                continue
            if target not in ALLOWED[own]:
                found.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {imported} ({target})")
    return sorted(set(found))


def test_no_layer_imports_a_higher_one() -> None:
    assert _violations() == []


def test_the_check_sees_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself: a transform importing infra and a schema importing a transform are caught."""
    for package, text in (
        ("transforms", "def f():\n    from infra.dlq import make_dead_letter\n"),
        ("schemas", "import transforms.cluster\n"),
        ("infra", "x = 1\n"),
        ("connectors", ""),
        ("digest", ""),
        ("flows", ""),
        ("app", ""),
    ):
        (tmp_path / package).mkdir()
        (tmp_path / package / "m.py").write_text(text, encoding="utf-8")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert _violations() == [
        "schemas/m.py:1: schemas imports transforms.cluster (transforms)",
        "transforms/m.py:2: transforms imports infra.dlq (infra)",
    ]


def test_no_module_imports_itself_back_through_a_cycle() -> None:
    """Module-level import cycles inside the project (base <-> html was one, hidden in a function)."""
    modules = dict(_modules())
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        graph[module] = {name for _, name in _imports(path) if name in modules and name != module}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_no_flow_file_shadows_a_package() -> None:
    """Prefect loads a deployment's entrypoint by path and puts its folder first on sys.path, so
    flows/digest.py would be what `import digest` finds inside every flow run."""
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert packages >= {"schemas", "infra", "digest", "app"}
    assert sorted(p.stem for p in (ROOT / "flows").glob("*.py") if p.stem in packages) == []
