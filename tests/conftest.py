"""Fixtures every app's tests may use, one plugin module per thing they stand for.

Test modules never import from a conftest (tests/platform/test_suite_layout.py checks): fixtures come from these
plugins (or from the conftest of the app's own directory), shared values from tests/constants.py, rows from
tests/factories.py.
"""

pytest_plugins = [
    "tests.fixtures.audit",
    "tests.fixtures.browser",
    "tests.fixtures.cache",
    "tests.fixtures.clients",
    "tests.fixtures.database",
    "tests.fixtures.mail",
    "tests.fixtures.passes",
    "tests.fixtures.portal",
    "tests.fixtures.slow",
    "tests.fixtures.telegram",
    "tests.fixtures.cluster",  # after mail, which it imports (a plugin imported earlier is not assert-rewritten)
    "pytester",  # for the tests of tests/fixtures/slow.py
]
