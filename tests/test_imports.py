"""Who may import whom: the benchmarks and the deployment test use the product, never the
tests (what both need lives in the product or in bench/)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO


def imported_modules(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names = found.setdefault(str(path.relative_to(REPO)), set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return found


@pytest.mark.parametrize("folder", ["bench", "deploy"])
def test_nothing_outside_the_tests_imports_them(folder):
    offenders = {
        path: sorted(name for name in names if name == "tests" or name.startswith("tests."))
        for path, names in imported_modules(folder).items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


# each package imports only those below it (a module-level import; a function may defer one)
LAYERS = [
    {"shared_models"},
    {"core", "artifacts"},
    {"registry"},
    {"jobs"},
    {"worker", "service"},
    {"dcgan_cli"},
]
LEVEL = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def module_level_imports(path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_packages_import_only_downward():
    upward = []
    for package, level in LEVEL.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for name in module_level_imports(path):
                target = name.split(".")[0]
                if target in LEVEL and target != package and LEVEL[target] >= level:
                    upward.append(f"{path.relative_to(REPO)} imports {name}")
    assert upward == []
