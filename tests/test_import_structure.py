"""Imports: every function-local import is there to keep start-up fast, and imports point one way.

A function-local import only earns its place when the module it imports is *not* already
loaded by importing the module that holds it: otherwise it hides a dependency and costs a
dictionary lookup on every call for nothing. Each module is imported in a fresh interpreter
and every function-local import target is checked against ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> package name (setuptools package-dir)
PACKAGES = {"models": "iongrad.models", "data": "iongrad.data", "infer": "iongrad.infer",
            "workflows": "iongrad.workflows"}
LAYER = {"iongrad.models": 0, "iongrad.data": 1, "iongrad.infer": 2, "iongrad.workflows": 3}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder)
            if rel.parts[0] in ("examples", "templates", "_package"):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, *, local: bool) -> list[tuple[int, str]]:
    """(line, target module) of the imports inside functions (local) or at module level."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function == local:
                if isinstance(child, ast.Import):
                    found.extend((child.lineno, alias.name) for alias in child.names)
                else:
                    base = _resolve(module, path, child)
                    # ``from package import submodule`` imports the submodule
                    found.extend((child.lineno, f"{base}.{alias.name}"
                                  if f"{base}.{alias.name}" in MODULES else base)
                                 for alias in child.names)
            visit(child, inside)

    visit(tree, False)
    return found


def test_every_module_is_found():
    assert "iongrad.workflows.fit" in MODULES and "iongrad.models.mechanisms" in MODULES
    assert len(MODULES) > 40


@pytest.mark.parametrize("module", sorted(m for m in MODULES
                                          if _imports(m, MODULES[m], local=True)))
def test_function_local_imports_are_not_already_loaded(module):
    local = _imports(module, MODULES[module], local=True)
    code = (f"import importlib, json, sys; importlib.import_module({module!r}); "
            "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                           capture_output=True, text=True,
                                           cwd=ROOT).stdout))
    pointless = sorted({f"line {line}: {target}" for line, target in local if target in loaded})
    assert not pointless, (
        f"{module} imports inside functions modules that importing it already loads "
        f"(move them to the top of the file): {pointless}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module):
    """models <- data <- infer <- workflows: no package imports from a later layer."""
    own = LAYER[next(p for p in LAYER if module == p or module.startswith(p + "."))]
    path = MODULES[module]
    for line, target in (_imports(module, path, local=False)
                         + _imports(module, path, local=True)):
        for package, layer in LAYER.items():
            if target == package or target.startswith(package + "."):
                assert layer <= own, f"{module} line {line} imports {target} (a later layer)"


def test_cli_start_up_loads_no_heavy_library():
    code = ("import sys, iongrad.workflows.cli as c; c.build_parser(); "
            "print(' '.join(m for m in ('pymc', 'pytensor', 'arviz', 'matplotlib', 'dask', "
            "'distributed', 'SALib', 'numba', 'jinja2', 'pandas', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout.strip()
    assert out == "", f"building the command line loads {out}"
