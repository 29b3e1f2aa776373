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


# Modules that hold business rules: they raise echopilot.exceptions' errors and never speak HTTP.
RULE_MODULES = ("services.py", "selectors.py", "rules.py")
HTTP_MODULES = ("rest_framework", "echopilot.errors")


def http_imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.startswith(HTTP_MODULES)}


def test_no_service_selector_or_rules_module_imports_drf():
    found = [
        f"{path.relative_to(BASE)} imports {', '.join(sorted(names))}"
        for app in LAYER
        for path in sorted((BASE / app).rglob("*.py"))
        if path.name in RULE_MODULES or path == BASE / "echopilot" / "exceptions.py"
        for names in [http_imports(path.read_text())]
        if names
    ]
    assert found == []


def test_the_drf_check_sees_every_form_of_import():
    assert http_imports("from rest_framework import status\n") == {"rest_framework"}
    assert http_imports("def f():\n    import rest_framework.exceptions\n") == {"rest_framework.exceptions"}
    assert http_imports("from echopilot.errors import ApiError\n") == {"echopilot.errors"}
    assert http_imports("from echopilot.exceptions import NotFound\n") == set()
