"""The test suite's own layout: fixtures through pytest_plugins, never imported from a conftest; one factories module."""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def conftest_imports(path: Path) -> list[str]:
    return sorted(module for module in imported_modules(path) if "conftest" in module.split("."))


def test_no_test_module_imports_from_a_conftest():
    found = {str(path.relative_to(TESTS)): conftest_imports(path) for path in TESTS.rglob("*.py")}
    assert {path: modules for path, modules in found.items() if modules} == {}, (
        "fixtures come from tests/fixtures (pytest_plugins), values from tests/constants.py"
    )


def test_the_check_sees_a_conftest_import(tmp_path):
    for line in (
        "from tests.portal.conftest import CUSTOMER",
        "from tests.conftest import DASH_KEY",
        "import tests.notifications.conftest",
        "from tests.notifications import conftest",
    ):
        module = tmp_path / "test_example.py"
        module.write_text(line + "\n")
        assert conftest_imports(module), line
    module.write_text("from tests.constants import CUSTOMER\nfrom tests.fixtures.portal import path_of\n")
    assert conftest_imports(module) == []


def test_every_fixtures_module_is_a_plugin(pytestconfig):
    """Listed in tests/conftest.py's pytest_plugins: a module left out would offer its fixtures to no test."""
    modules = sorted(
        f"tests.fixtures.{path.stem}" for path in (TESTS / "fixtures").glob("*.py") if path.stem != "__init__"
    )
    assert [name for name in modules if not pytestconfig.pluginmanager.has_plugin(name)] == []


@pytest.mark.parametrize("name", ["factories.py", "constants.py"])
def test_there_is_one_module_of_each_kind(name):
    assert [str(path.relative_to(TESTS)) for path in TESTS.rglob(name)] == [name]


SLOW_AND_QUICK = """
import time

import pytest


def test_unmarked_and_slow():
    time.sleep(0.3)


@pytest.mark.slow
def test_marked_and_slow():
    time.sleep(0.3)


def test_quick():
    pass
"""


def test_check_slow_fails_an_unmarked_test_over_the_limit(pytester, monkeypatch):
    monkeypatch.setenv("CHECK_SLOW", "0.2")
    pytester.makeini("[pytest]\nmarkers = slow\n")
    pytester.makeconftest("pytest_plugins = ['tests.fixtures.slow']")
    pytester.makepyfile(SLOW_AND_QUICK)
    result = pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test_unmarked_and_slow*", "*over CHECK_SLOW=0.2: mark it slow*"])


def test_without_check_slow_nothing_is_timed(pytester, monkeypatch):
    monkeypatch.delenv("CHECK_SLOW", raising=False)
    pytester.makeini("[pytest]\nmarkers = slow\n")
    pytester.makeconftest("pytest_plugins = ['tests.fixtures.slow']")
    pytester.makepyfile(SLOW_AND_QUICK)
    pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider").assert_outcomes(passed=3)


OWN_AND_SHARED = """
import pytest

@pytest.mark.own_services
def test_with_its_own_database():
    pass

def test_on_the_suites_database():
    pass
"""


@pytest.mark.parametrize(
    ("database_url", "outcomes"),
    [
        ("postgres://postgres@127.0.0.1:5432/x", {"passed": 1, "skipped": 1}),
        ("postgresql://postgres@127.0.0.1:5432/x", {"passed": 1, "skipped": 1}),
        ("sqlite:///var/x.sqlite3", {"passed": 2}),
        ("", {"passed": 2}),
    ],
)
def test_own_services_tests_run_once_in_the_sqlite_pass(pytester, monkeypatch, database_url, outcomes):
    monkeypatch.setenv("DATABASE_URL", database_url)
    pytester.makeconftest("pytest_plugins = ['tests.fixtures.passes']")
    pytester.makepyfile(OWN_AND_SHARED)
    result = pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider", "-rs", "--strict-markers")
    result.assert_outcomes(**outcomes)
    if "skipped" in outcomes:
        result.stdout.fnmatch_lines(["*the SQLite pass runs it*"])
