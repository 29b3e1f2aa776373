"""The apps' layers, bottom up: echopilot → payments → fraud, notifications → portal → observability.

An app uses only the apps below it: no import of an app above or beside it (also inside a function),
and no dotted path naming one (``import_string("portal.x")``, ``async_task("notifications.tasks.y")``,
a foreign key to ``"portal.PortalLink"``, ``get_model("observability", …)``). A lower app tells the apps
above it what happened with a signal (``payments.signals``, ``echopilot.signals``) and they connect a
receiver in their ``AppConfig.ready``; the apps depend on each other without a cycle.

The project's configuration lives in echopilot too (``CONFIGURATION``): settings, the root URLconf,
the WSGI/ASGI entry points and the schedule registry wire every app in by dotted path, and that is
their job. They import no app, and no app module imports them: apps read ``django.conf.settings``.
"""

import ast
import re
from pathlib import Path

import pytest

BASE = Path(__file__).resolve().parents[2]
LAYER = {"echopilot": 0, "payments": 1, "fraud": 2, "notifications": 2, "portal": 3, "observability": 4}
CONFIGURATION = {
    "echopilot/settings.py",
    "echopilot/urls.py",
    "echopilot/wsgi.py",
    "echopilot/asgi.py",
    "echopilot/schedules.py",  # the schedule registry: the periodic tasks of every app, by dotted path
}
CONFIGURATION_MODULES = {"echopilot.settings", "echopilot.urls", "echopilot.wsgi", "echopilot.asgi"}
# "portal.services", "observability.stall.task_queue_alert", "payments.Payment", "echopilot.wsgi:application"
DOTTED_PATH = re.compile(r"([a-z_]+)(?:\.[A-Za-z_]\w*)+(?::\w+)?")


def modules_imported(tree: ast.AST) -> set[str]:
    """Every absolute import anywhere in the module (also inside functions), ``from a import b`` as ``a.b`` too."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def apps_named(tree: ast.AST) -> set[str]:
    """Apps named by a dotted path in a string, or by label in ``get_model`` / ``get_app_config``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = DOTTED_PATH.fullmatch(node.value)
            if match:
                names.add(match.group(1))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function in ("get_model", "get_app_config") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value.split(".")[0])
    return names & set(LAYER)


def apps_used(source: str, *, configuration: bool = False) -> set[str]:
    """The apps a module depends on: imported, or (unless it is configuration) named by dotted path."""
    tree = ast.parse(source)
    imported = {name.split(".")[0] for name in modules_imported(tree)} & set(LAYER)
    return imported if configuration else imported | apps_named(tree)


def app_modules(app: str):
    for path in sorted((BASE / app).rglob("*.py")):
        relative = path.relative_to(BASE).as_posix()
        yield relative, apps_used(path.read_text(), configuration=relative in CONFIGURATION)


def dependencies() -> dict[str, set[str]]:
    return {app: set().union(*(used for _, used in app_modules(app))) - {app} for app in LAYER}


def backwards_uses(app: str) -> list[str]:
    return [
        f"{path} uses {other}"
        for path, used in app_modules(app)
        for other in sorted(used - {app})
        if LAYER[other] >= LAYER[app]
    ]


def a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (``[a, b, a]``), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for successor in sorted(graph[node]):
            cycle = visit(successor, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    return next((cycle for node in sorted(graph) if (cycle := visit(node, []))), None)


@pytest.mark.parametrize("app", LAYER)
def test_no_app_uses_one_above_or_beside_it(app):
    assert backwards_uses(app) == []


def test_no_two_apps_depend_on_each_other_even_through_others():
    assert a_cycle(dependencies()) is None


def test_every_app_has_a_layer():
    apps = {path.parent.name for path in BASE.glob("*/apps.py")}
    assert apps == set(LAYER)


def test_no_module_imports_the_projects_configuration():
    """Apps, the platform's own modules included, read ``django.conf.settings``; they never import the config."""
    found = []
    for app in LAYER:
        for path in sorted((BASE / app).rglob("*.py")):
            relative = path.relative_to(BASE).as_posix()
            if relative not in CONFIGURATION:
                found += [f"{relative} imports {name}" for name in modules_imported(ast.parse(path.read_text()))
                          if name in CONFIGURATION_MODULES]  # fmt: skip
    assert found == []


# --- The checks themselves can fail -----------------------------------------------------------


def test_the_check_sees_imports_anywhere_and_dotted_paths():
    assert apps_used("def f():\n    from portal.services import x\n") == {"portal"}
    assert apps_used("import observability.rules as r\nfrom . import y\n") == {"observability"}
    assert apps_used("async_task('notifications.tasks.receipt_send', 1)") == {"notifications"}
    assert apps_used("import_string('observability.stall.task_queue_alert')()") == {"observability"}
    assert apps_used("models.ForeignKey('portal.PortalLink', on_delete=None)") == {"portal"}
    assert apps_used("apps.get_model('observability', 'Alert')") == {"observability"}
    assert apps_used("'gunicorn echopilot.wsgi:application'") == set()  # a sentence is no dotted path
    assert apps_used("'Reads portal. Then fraud.'") == set()
    assert apps_used("x = 'portal.urls'", configuration=True) == set()  # configuration wires apps in by name


def test_the_check_finds_a_cycle():
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert a_cycle({"a": {"b"}, "b": set()}) is None


def test_the_check_sees_every_way_to_import_the_configuration():
    sources = ["import echopilot.settings", "from echopilot.urls import urlpatterns", "from echopilot import wsgi"]
    for source in sources:
        assert modules_imported(ast.parse(source)) & CONFIGURATION_MODULES, source


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
