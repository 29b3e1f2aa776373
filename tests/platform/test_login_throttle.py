"""The admin login is throttled (django-axes): by user name, by address, with a clear page and an unlock."""

import threading
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import close_old_connections
from django.test import Client, RequestFactory

from echopilot.auth import client_ip
from tests.factories import make_user

LOGIN = "/admin/login/"
PASSWORD = "the right admin password"


@pytest.fixture
def ops(db):
    return make_user("ops", password=PASSWORD)


def login(username, password, address="10.0.0.1", client=None, **headers):
    """POST the real admin login form; returns the response and the client (logged in on success)."""
    client = client or Client()
    response = client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address, **headers
    )
    return response, client


def is_logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def fail(times, username="ops", addresses=None) -> list[int]:
    """Wrong passwords, each from its own client; the answers' status codes."""
    return [
        login(username, f"guess {n}", address=(addresses or ["10.0.0.1"] * times)[n])[0].status_code
        for n in range(times)
    ]


@pytest.mark.django_db
def test_the_failure_that_reaches_the_limit_gets_the_lockout_page(ops, settings):
    assert fail(settings.AXES_FAILURE_LIMIT) == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]


@pytest.mark.django_db
def test_fewer_failures_than_the_limit_lock_nothing(ops, settings):
    assert fail(settings.AXES_FAILURE_LIMIT - 1) == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    response, client = login("ops", PASSWORD)
    assert response.status_code == 302 and is_logged_in(client)


@pytest.mark.django_db
def test_a_user_name_is_locked_whatever_the_address(ops, settings):
    limit = settings.AXES_FAILURE_LIMIT
    fail(limit, addresses=[f"10.0.1.{n}" for n in range(limit)])
    response, client = login("ops", PASSWORD, address="10.0.2.1")  # the right password, from a fresh address
    assert response.status_code == 429
    page = response.content.decode()
    assert "Login locked: too many failed logins for this user name or from this address." in page
    assert f"until\n    {settings.AXES_COOLOFF_TIME.seconds // 60} minutes have passed" in page
    assert response["Retry-After"] == str(settings.AXES_COOLOFF_TIME.seconds)
    assert PASSWORD not in page
    assert not is_logged_in(client)
    make_user("eve", password=PASSWORD)
    assert login("eve", PASSWORD, address="10.0.2.1")[0].status_code == 302  # other names are not locked


@pytest.mark.django_db
def test_an_address_is_locked_whatever_the_user_name(ops, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"user{n}", "guess", address="10.0.0.9")
    assert login("ops", PASSWORD, address="10.0.0.9")[0].status_code == 429
    response, client = login("ops", PASSWORD, address="10.0.0.10")
    assert response.status_code == 302 and is_logged_in(client)


@pytest.mark.django_db
def test_a_locked_login_is_refused_before_the_password_is_checked(ops, settings):
    fail(settings.AXES_FAILURE_LIMIT)
    for password in (PASSWORD, "another guess"):
        assert login("ops", password)[0].status_code == 429


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("command", "argument"), [("axes_reset_username", "ops"), ("axes_reset_ip", "10.0.0.1"), ("axes_reset", None)]
)
def test_an_operator_unlocks_with_a_command(ops, settings, command, argument):
    fail(settings.AXES_FAILURE_LIMIT)
    assert login("ops", PASSWORD)[0].status_code == 429
    call_command(command, *([argument] if argument else []), verbosity=0)
    response, client = login("ops", PASSWORD)
    assert response.status_code == 302 and is_logged_in(client)


@pytest.mark.django_db
def test_the_lock_ends_after_the_cooloff_without_failures(ops, settings):
    fail(settings.AXES_FAILURE_LIMIT)
    assert login("ops", PASSWORD)[0].status_code == 429
    # The attempts' clock, moved back instead of waiting: the cool-off counts from the last failure.
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
        )
    assert login("ops", PASSWORD)[0].status_code == 302


@pytest.mark.django_db
def test_the_limit_and_cooloff_come_from_the_settings(ops, settings):
    settings.AXES_FAILURE_LIMIT = 2
    fail(2)
    assert login("ops", PASSWORD)[0].status_code == 429


@pytest.mark.django_db
def test_every_failure_is_an_audit_line_and_a_lockout_says_so(
    ops, settings, read_audit, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        fail(settings.AXES_FAILURE_LIMIT)
        login("ops", PASSWORD)
    lines = read_audit("admin_logins")
    assert [line["event"] for line in lines] == ["login_failed"] * (settings.AXES_FAILURE_LIMIT + 1)
    assert [line["locked_out"] for line in lines] == [False] * (settings.AXES_FAILURE_LIMIT - 1) + [True, True]
    assert {(line["username"], line["ip"], line["path"]) for line in lines} == {("ops", "10.0.0.1", LOGIN)}
    assert all(PASSWORD not in str(line) and "guess" not in str(line) for line in lines)


@pytest.mark.django_db
def test_stored_attempts_keep_no_password_and_no_csrf_token(ops):
    token = "csrf-token-value-" + "x" * 40
    Client().post(
        LOGIN, {"username": "ops", "password": "guess-one", "csrfmiddlewaretoken": token}, REMOTE_ADDR="10.0.0.1"
    )
    [attempt] = AccessAttempt.objects.all()
    assert "guess-one" not in attempt.post_data and token not in attempt.post_data
    assert "password=********************" in attempt.post_data


@pytest.mark.django_db
def test_a_client_cannot_dodge_the_address_lock_with_x_forwarded_for(ops, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"user{n}", "guess", address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert login("ops", PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.99")[0].status_code == 429


@pytest.mark.django_db
def test_behind_a_proxy_each_client_is_locked_on_its_own(ops, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.9.9.9"
    for n in range(settings.AXES_FAILURE_LIMIT):
        # A forged left-hand entry changes nothing: the proxy's own entry (the right-most) is the address.
        login(f"user{n}", "guess", address=proxy, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 192.0.2.7")
    assert login("ops", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="192.0.2.7")[0].status_code == 429
    assert login("ops", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="192.0.2.8")[0].status_code == 302


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "10.0.0.1"),
        (1, "192.0.2.1", "192.0.2.1"),
        (1, "203.0.113.5, 192.0.2.1", "192.0.2.1"),
        (2, "203.0.113.5, 192.0.2.1, 10.1.1.1", "192.0.2.1"),
        (2, "192.0.2.1", "10.0.0.1"),  # fewer hops than proxies: not through them
        (1, "", "10.0.0.1"),
        (1, "not-an-address", "10.0.0.1"),
        (1, "192.0.2.1:443", "10.0.0.1"),
        (1, "192.0.2.1\x00", "10.0.0.1"),
        (1, "1" * 10000, "10.0.0.1"),
        (1, " 2001:DB8::1 ", "2001:db8::1"),
        (1, ",,,,", "10.0.0.1"),
    ],
)
def test_client_ip(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@pytest.mark.django_db
def test_the_lockout_page_escapes_what_it_shows(ops, settings):
    name = "<script>alert(1)</script>"
    fail(settings.AXES_FAILURE_LIMIT, username=name)
    page = login(name, "x")[0].content.decode()
    assert "<script>alert(1)</script>" not in page


@pytest.mark.django_db
def test_after_a_real_login_the_api_docs_open_with_the_session(ops):
    ops.user_permissions.add(Permission.objects.get(codename="view_api_docs"))
    response, client = login("ops", PASSWORD)
    assert response.status_code == 302
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_are_all_counted(ops, settings):
    """Guesses sent at once lose no count (django-axes adds with F() under a row lock) and lock the name."""
    guesses = 12
    barrier = threading.Barrier(guesses)
    statuses = []

    def guess(n):
        try:
            barrier.wait()
            statuses.append(login("ops", f"guess {n}", address=f"10.0.3.{n}")[0].status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == guesses and set(statuses) <= {200, 429}
    assert sum(a.failures_since_start for a in AccessAttempt.objects.filter(username="ops")) == guesses
    assert login("ops", PASSWORD, address="10.0.4.1")[0].status_code == 429
