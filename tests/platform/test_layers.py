"""The apps' layers, bottom up: echopilot → payments → fraud, notifications → portal → observability.

No app imports one above it or beside it; a higher app is reached only by dotted path
(a task name, a registered hook), never by an import.
"""

import ast
from pathlib import Path

import pytest

BASE = Path(__file__).resolve().parents[2]
LAYER = {"echopilot": 0, "payments": 1, "fraud": 2, "notifications": 2, "portal": 3, "observability": 4}


def imported_apps(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & set(LAYER)


def backwards_imports(app: str) -> list[str]:
    found = []
    for path in sorted((BASE / app).rglob("*.py")):
        for other in imported_apps(path.read_text()) - {app}:
            if LAYER[other] >= LAYER[app]:
                found.append(f"{path.relative_to(BASE)} imports {other}")
    return found


@pytest.mark.parametrize("app", LAYER)
def test_no_app_imports_one_above_or_beside_it(app):
    assert backwards_imports(app) == []


def test_the_check_sees_an_import_inside_a_function():
    assert imported_apps("def f():\n    from portal.services import x\n") == {"portal"}
    assert imported_apps("import observability.rules as r\nfrom . import y\n") == {"observability"}
