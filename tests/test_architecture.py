"""Imports point down: web -> services -> domain -> storage -> foundation, and no module imports itself back.

Every import counts, function-level ones included (one inside a function that closes a loop is still a loop).
A module not named below is domain: a new area that imports the web layer fails here until it is placed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fieldapp

ROOT = Path(fieldapp.__file__).parent
FOUNDATION, STORAGE, DOMAIN, SERVICES, WEB, ENTRY = range(6)
LAYER_NAMES = ["foundation", "storage", "domain", "services", "web", "entry"]
PLACED = {
    FOUNDATION: ("clock", "ids", "settings", "errors", "geo", "personal_ids", "i18n", "i18n_catalogs", "trend_svg",
                 "retry", "text", "year_bars_svg"),
    STORAGE: ("db", "migrations", "backup", "workers"),
    SERVICES: ("services", "projections", "por_worker", "push_worker", "replica", "catch_up_worker",
               "retention_worker", "followup_worker", "writer"),
    WEB: ("web", "templating", "page_loops", "routes", "app"),
    ENTRY: ("cli", "__main__", "demo", "demo_problems", "demo_categories", "demo_yearly"),
}
# Third-party packages that belong to the web layer only.
WEB_PACKAGES = ("litestar", "jinja2", "uvicorn")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def layer(module: str) -> int:
    for number, names in PLACED.items():
        if any(module == name or module.startswith(name + ".") for name in names):
            return number
    return DOMAIN


def _imports(module: str, path: Path) -> tuple[set[str], set[str]]:
    """(fieldapp modules, other top-level packages) imported anywhere in the file."""
    inner, outer = set(), set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fieldapp."):
                    inner.add(alias.name.removeprefix("fieldapp."))
                else:
                    outer.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            elif node.module and (node.module == "fieldapp" or node.module.startswith("fieldapp.")):
                base = node.module.removeprefix("fieldapp").removeprefix(".")
            else:
                outer.add((node.module or "").split(".")[0])
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                inner.add(candidate if candidate in MODULES else base)
    inner.discard(module)
    return {name for name in inner if name in MODULES and name}, outer


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_fieldapp_modules():
    assert _cycles({module: inner for module, (inner, _outer) in GRAPH.items()}) == []


def test_no_import_points_up_a_layer():
    upward = [f"{module} ({LAYER_NAMES[layer(module)]}) imports {target} ({LAYER_NAMES[layer(target)]})"
              for module, (inner, _outer) in GRAPH.items() for target in sorted(inner)
              if layer(target) > layer(module)]
    assert upward == []


def test_domain_and_storage_have_no_web_imports():
    web_imports = [f"{module} imports {package}" for module, (_inner, outer) in GRAPH.items()
                   if layer(module) <= DOMAIN for package in sorted(outer) if package in WEB_PACKAGES]
    assert web_imports == []


def test_the_checks_see_a_cycle_and_an_upward_import():
    """The checks themselves can fail: a made-up loop and a made-up upward import are caught."""
    assert _cycles({"records": {"projections"}, "projections": {"picture"}, "picture": {"records"}}) == [
        ["picture", "projections", "records"]]
    assert layer("projections") > layer("records") and layer("routes.records") > layer("services.recording")
    assert layer("a_new_area") == DOMAIN
