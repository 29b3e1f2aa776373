"""manage.py send_email: the API's answer on the command line."""

import json

import pytest
from django.core.management import CommandError, call_command

from notifications.models import Email

pytestmark = pytest.mark.django_db


def test_it_prints_the_dry_run_answer_without_smtp(capsys):
    call_command("send_email", "--to", "ann@example.com", "--subject", "Hi", "--body", "Text")
    answer = json.loads(capsys.readouterr().out)
    assert answer == {
        "ok": True,
        "id": Email.objects.get().public_id,
        "status": "dry_run",
        "dry_run": True,
        "message": "SMTP not configured - email not sent",
    }


def test_it_queues_for_several_recipients_with_smtp(capsys, smtp_server):
    call_command("send_email", "--to", "a@example.com", "--to", "b@example.com", "--subject", "Hi", "--body", "T")
    assert json.loads(capsys.readouterr().out)["status"] == "queued"
    assert Email.objects.get().to == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--to", "nope", "--subject", "Hi", "--body", "T"], "to"),
        (["--to", "a@example.com", "--subject", "Hi\r\nBcc: e@x.io", "--body", "T"], "subject"),
        (["--to", "a@example.com", "--subject", "Hi\x0bBcc: e@x.io", "--body", "T"], "subject"),
        (["--to", "a@example.com", "--subject", "Hi\u2028there", "--body", "T"], "subject"),
        (["--to", "a@example.com", "--subject", "Hi", "--body", "x" * (1024 * 1024 + 1)], "body"),
    ],
)
def test_it_refuses_bad_input_like_the_api(args, field):
    with pytest.raises(CommandError) as error:
        call_command("send_email", *args)
    answer = json.loads(str(error.value))
    assert answer["error"] == "validation_error" and field in answer["fields"]
    assert Email.objects.count() == 0
