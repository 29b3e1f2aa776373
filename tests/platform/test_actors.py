"""One actor label scheme: user:, key:, command:, task: (and portal: for a customer's own link)."""

import ast
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from echopilot.actors import actor_command, actor_key, actor_portal, actor_task, actor_user
from echopilot.keys import Principal, api_key_create, principal_for_key

BASE = Path(__file__).resolve().parents[2]
APPS = ("echopilot", "payments", "fraud", "notifications", "portal", "observability")


def test_each_kind_of_actor_has_its_prefix():
    assert actor_user(User(username="ann")) == "user:ann"
    assert actor_key("billing") == "key:billing"
    assert actor_command("send_email") == "command:send_email"
    assert actor_task("email_sweep") == "task:email_sweep"
    assert actor_task("email_deliver", on="em_1") == "task:email_deliver:em_1"
    assert actor_portal("pl_1") == "portal:pl_1"


def test_an_api_caller_is_named_by_its_key():
    assert Principal(kind="dashboard_key", name="2").label == "key:DASHBOARD_KEY#2"
    assert Principal(kind="api_key", name="billing").label == "key:billing"


@pytest.mark.django_db
def test_a_named_keys_caller_is_labelled_with_the_keys_name():
    _, raw = api_key_create(name="billing")
    assert principal_for_key(raw).label == "key:billing"


def literal_actor_labels(source: str) -> list[str]:
    """``by=``/``*_by=`` keyword arguments and ``.*_by =`` assignments whose value is a string written in place."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg and (node.arg == "by" or node.arg.endswith("_by")):
            pairs = [(node.arg, node.value)]
        elif isinstance(node, ast.Assign):
            pairs = [(t.attr, node.value) for t in node.targets if isinstance(t, ast.Attribute)]
            pairs = [(name, value) for name, value in pairs if name.endswith("_by")]
        else:
            continue
        for name, value in pairs:
            if isinstance(value, ast.JoinedStr) or (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                found.append(f"{name} at line {node.lineno}")
    return sorted(found)


def test_every_actor_label_in_the_code_comes_from_the_helpers():
    found = [
        f"{path.relative_to(BASE)}: {where}"
        for app in APPS
        for path in sorted((BASE / app).rglob("*.py"))
        if "migrations" not in path.parts
        for where in literal_actor_labels(path.read_text())
    ]
    assert found == []


def test_the_label_check_sees_literals_and_f_strings():
    assert literal_actor_labels('f(created_by="cli")\nreview.closed_by = "demo"\n') == [
        "closed_by at line 2",
        "created_by at line 1",
    ]
    assert literal_actor_labels('f(created_by=f"portal:{x}", by="cli")\n') == ["by at line 1", "created_by at line 1"]
    assert literal_actor_labels('f(created_by=actor_command("x"), by=by, closed_by=SEEDED_BY)\n') == []
