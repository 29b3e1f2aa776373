"""Long commands show a bar on a terminal and plain periodic lines anywhere else."""

import io
import re
from io import StringIO

import pytest
from django.core.management import call_command

from echopilot import progress as progress_module
from echopilot.progress import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_without_a_terminal_it_writes_a_plain_line_per_tenth():
    out = StringIO()
    with progress(total=200, label="job", unit="rows", stream=out) as bar:
        for _ in range(200):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert [re.sub(r", \d+ s\)$", ")", line) for line in lines] == [
        f"job: {n:,}/200 rows ({n // 2}%)" for n in range(20, 201, 20)
    ]
    assert "\r" not in out.getvalue()


def test_a_big_step_gives_one_line_and_thousands_are_separated():
    out = StringIO()
    with progress(total=100_000, label="seed_demo", unit="payments", stream=out) as bar:
        bar.update(40_000)
        bar.update(60_000)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("seed_demo: 40,000/100,000 payments (40%, ")
    assert lines[1].startswith("seed_demo: 100,000/100,000 payments (100%, ")
    assert len(lines) == 2


def test_work_that_stops_early_ends_with_a_line_saying_how_far_it_got():
    out = StringIO()
    with pytest.raises(RuntimeError), progress(total=1000, label="job", unit="rows", stream=out) as bar:
        bar.update(123)
        raise RuntimeError("interrupted")
    assert out.getvalue().splitlines()[-1].startswith("job: 123/1,000 rows (12%, ")


def test_nothing_to_do_is_one_line():
    out = StringIO()
    with progress(total=0, label="job", unit="rows", stream=out):
        pass
    assert out.getvalue().startswith("job: 0/0 rows (100%, ")


def test_a_slow_job_writes_a_line_at_least_every_interval(monkeypatch):
    monkeypatch.setattr(progress_module, "LINE_EVERY_SECONDS", 0.0)
    out = StringIO()
    with progress(total=1000, label="job", unit="rows", stream=out) as bar:
        for _ in range(3):
            bar.update(1)
    assert len(out.getvalue().splitlines()) == 3


def test_on_a_terminal_it_draws_a_bar():
    out = Terminal()
    with progress(total=50, label="job", unit="rows", stream=out) as bar:
        bar.update(50)
    assert "\r" in out.getvalue() and "job: 100%" in out.getvalue()


@pytest.mark.django_db
def test_replay_webhooks_reports_progress_without_a_terminal():
    from tests.factories import make_webhook_event
    from tests.payments import stripe_events as se

    for n in range(3):
        make_webhook_event(se.succeeded(event_id=f"evt_{n}", pi=f"pi_{n}"), status="failed")
    err = StringIO()
    call_command("replay_webhooks", stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines()[-1].startswith("replay_webhooks: 3/3 events (100%, ")


@pytest.mark.django_db
def test_fraud_backtest_reports_progress_without_a_terminal():
    from fraud.services import fraud_check_create

    for n in range(4):
        fraud_check_create(email=f"c{n}@example.com", amount=10)
    err = StringIO()
    call_command("fraud_backtest", "--since", "1d", stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines()[-1].startswith("fraud_backtest: 4/4 checks (100%, ")
