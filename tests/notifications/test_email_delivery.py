"""Delivering emails to a real SMTP server on loopback: content, TLS, retries, claims, crashes."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from notifications import tasks
from notifications.models import Email, Status
from notifications.services import email_deliver, email_deliver_due, email_sweep
from tests.factories import make_email

pytestmark = pytest.mark.django_db


def make_due(email: Email) -> None:
    Email.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())


def test_the_message_arrives_with_text_and_html_parts_and_the_right_headers(smtp_server, read_audit, on_commit):
    email = make_email(to=["ann@example.com", "bo@example.com"], subject="Report – Ünïcode", html="<p>Hi</p>")
    with on_commit(execute=True):
        assert email_deliver_due() == {"sent": 1}
    [received] = smtp_server.messages
    message = received["message"]
    assert received["mail_from"] == "ops@echopilot.ai"
    assert received["rcpt_tos"] == ["ann@example.com", "bo@example.com"]
    assert message["From"] == "ops@echopilot.ai"
    assert message["To"] == "ann@example.com, bo@example.com"
    assert message["Subject"] == "Report – Ünïcode"
    assert message["Message-ID"] == email.message_id
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "Plain text."
    assert message.get_body(("html",)).get_content().strip() == "<p>Hi</p>"
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (Status.SENT, 1, "")
    assert email.sent_at is not None
    events = read_audit("emails")
    assert [line["event"] for line in events] == ["sending", "sent"]
    assert events[-1]["id"] == email.public_id and events[-1]["attempt"] == 1
    assert "Plain text." not in str(events) and "<p>Hi</p>" not in str(events)


def test_a_text_only_email_is_a_single_part(smtp_server):
    make_email()
    email_deliver_due()
    assert smtp_server.messages[0]["message"].get_content_type() == "text/plain"


def test_a_batch_is_sent_over_one_connection(smtp_server):
    for _ in range(5):
        make_email()
    assert email_deliver_due() == {"sent": 5}
    assert smtp_server.handler.connections == 1
    assert len(smtp_server.messages) == 5


def test_starttls_delivers_with_a_verified_certificate(tls_server):
    server = tls_server("starttls")
    make_email()
    assert email_deliver_due() == {"sent": 1}
    assert len(server.messages) == 1


def test_implicit_tls_delivers_with_a_verified_certificate(tls_server):
    server = tls_server("ssl")
    make_email()
    assert email_deliver_due() == {"sent": 1}
    assert len(server.messages) == 1


def test_an_untrusted_certificate_is_refused(tls_server, monkeypatch):
    server = tls_server("starttls")
    monkeypatch.delenv("SSL_CERT_FILE")
    email = make_email()
    assert email_deliver_due() == {"retry": 1}
    email.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in email.last_error
    assert server.messages == []


def test_when_the_server_is_down_it_retries_and_delivers_exactly_once_when_it_is_back(
    smtp_server, read_audit, on_commit
):
    smtp_server.stop()
    email = make_email()
    before = timezone.now()
    with on_commit(execute=True):
        assert email_deliver_due() == {"retry": 1}
    email.refresh_from_db()
    assert (email.status, email.attempts, email.error_type) == (Status.QUEUED, 1, "transient")
    assert "ConnectionRefusedError" in email.last_error
    assert before + timedelta(seconds=29) < email.next_attempt_at <= timezone.now() + timedelta(seconds=30)

    smtp_server.start()
    assert email_sweep() == {}  # not due yet
    make_due(email)
    with on_commit(execute=True):
        assert email_sweep() == {"sent": 1}
    assert email_sweep() == {}
    assert len(smtp_server.messages) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Status.SENT, 2)
    assert [line["event"] for line in read_audit("emails")] == ["sending", "queued", "sending", "sent"]


def test_when_the_server_cannot_be_reached_one_email_tries_and_the_rest_wait(smtp_server):
    smtp_server.stop()
    emails = [make_email() for _ in range(3)]
    assert email_deliver_due() == {"retry": 1}
    attempts = dict(Email.objects.values_list("pk", "attempts"))
    assert [attempts[e.pk] for e in emails] == [1, 0, 0]
    assert set(Email.objects.values_list("status", flat=True)) == {Status.QUEUED}


@pytest.mark.parametrize(
    ("refuse", "code"),
    [
        (lambda handler: handler.refused.update({"ann@example.com": "550 5.1.1 no such user"}), "5.1.1"),
        (lambda handler: handler.data_replies.append("554 5.7.1 rejected as spam"), "5.7.1"),
    ],
    ids=["550-recipient", "554-data"],
)
def test_a_5xx_reply_fails_at_once(smtp_server, refuse, code, read_audit, on_commit):
    refuse(smtp_server.handler)
    email = make_email()
    with on_commit(execute=True):
        assert email_deliver_due() == {"failed": 1}
    email.refresh_from_db()
    assert (email.status, email.attempts, email.error_type) == (Status.FAILED, 1, "permanent")
    assert code in email.last_error
    assert read_audit("emails")[-1]["event"] == "failed"
    assert read_audit("emails")[-1]["error"] == email.last_error


def test_a_451_reply_retries_with_growing_delays_then_delivers(smtp_server):
    smtp_server.handler.data_replies = ["451 4.3.0 try later"] * 2
    email = make_email()
    delays = []
    for _ in range(2):
        started = timezone.now()
        assert email_deliver_due() == {"retry": 1}
        email.refresh_from_db()
        delays.append((email.next_attempt_at - started).total_seconds())  # the delay, plus the attempt's own time
        make_due(email)
    assert 30 <= delays[0] < 35 and 60 <= delays[1] < 65, delays
    assert "451" in email.last_error
    assert email_deliver_due() == {"sent": 1}
    assert len(smtp_server.messages) == 1


def test_after_the_last_attempt_a_transient_failure_is_final(smtp_server, settings):
    settings.EMAIL_MAX_ATTEMPTS = 2
    smtp_server.handler.data_replies = ["451 4.3.0 try later"] * 2
    email = make_email()
    assert email_deliver_due() == {"retry": 1}
    make_due(email)
    assert email_deliver_due() == {"failed": 1}
    email.refresh_from_db()
    assert (email.status, email.attempts, email.error_type) == (Status.FAILED, 2, "transient")


def test_after_a_421_the_batch_goes_on_over_a_new_connection(smtp_server):
    smtp_server.handler.data_replies = ["421 4.7.0 closing connection"]
    make_email()
    make_email()
    assert email_deliver_due() == {"retry": 1, "sent": 1}
    assert smtp_server.handler.connections == 2


def test_one_refused_email_does_not_stop_the_rest_of_the_batch(smtp_server):
    smtp_server.handler.refused["bad@example.com"] = "550 5.1.1 no such user"
    make_email(to=["bad@example.com"])
    make_email(to=["good@example.com"])
    assert email_deliver_due() == {"failed": 1, "sent": 1}
    assert smtp_server.handler.connections == 1
    assert [m["rcpt_tos"] for m in smtp_server.messages] == [["good@example.com"]]


def test_a_row_that_is_not_queued_or_not_due_is_not_sent(smtp_server):
    sent = make_email(status=Status.SENT)
    later = make_email(next_attempt_at=timezone.now() + timedelta(minutes=5))
    dry = make_email(status=Status.DRY_RUN)
    for email in (sent, later, dry):
        assert email_deliver(email_id=email.pk) == {}
    assert smtp_server.messages == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_email(smtp_server):
    emails = [make_email(subject=f"n{i}") for i in range(10)]
    start = threading.Barrier(4)
    errors = []

    def worker():
        try:
            start.wait()
            email_deliver_due()
        except Exception as exc:  # reported below: an assertion in a thread would be lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m["message"]["Subject"] for m in smtp_server.messages) == sorted(e.subject for e in emails)
    assert set(Email.objects.values_list("status", "attempts")) == {(Status.SENT, 1)}


def test_a_row_left_in_sending_by_a_dead_worker_is_requeued_and_delivered_once(smtp_server, read_audit, on_commit):
    crashed = make_email(status=Status.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(seconds=301))
    busy = make_email(status=Status.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(seconds=10))
    with on_commit(execute=True):
        assert email_sweep() == {"requeued": 1, "sent": 1}
    assert email_sweep() == {}
    crashed.refresh_from_db()
    busy.refresh_from_db()
    assert (crashed.status, crashed.attempts) == (Status.SENT, 2)
    assert busy.status == Status.SENDING  # its worker may still be sending it
    assert [m["message"]["Message-ID"] for m in smtp_server.messages] == [crashed.message_id]
    assert [line["event"] for line in read_audit("emails")] == ["requeued", "sending", "sent"]


def test_a_stuck_row_on_its_last_attempt_fails(settings):
    settings.EMAIL_MAX_ATTEMPTS = 1
    email = make_email(status=Status.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(seconds=301))
    assert email_sweep() == {"failed": 1}
    email.refresh_from_db()
    assert email.status == Status.FAILED and "worker stopped" in email.last_error


def test_the_sweep_task_returns_a_one_line_summary(smtp_server):
    make_email()
    assert tasks.email_sweep() == "email sweep: 1 sent"
    assert tasks.email_sweep() == "email sweep: nothing due"


@pytest.mark.django_db
def test_message_ids_stay_unique_whatever_state_the_random_module_is_in(monkeypatch):
    """Message-IDs come from the OS's randomness: a seeded `random` (Hypothesis seeds it for every example, as the
    API fuzzing does) and one clock tick gave two emails the same id, and the second send answered 500."""
    import random

    from notifications.services import email_send

    monkeypatch.setattr("time.time", lambda: 1795936244.12)
    ids = set()
    for _ in range(2):
        random.seed(7)
        email, _ = email_send(to=["a@example.com"], subject="s", body="b")
        ids.add(email.message_id)
    assert len(ids) == 2
    assert all(id_.startswith("<") and id_.endswith("@echopilot.ai>") for id_ in ids), ids
