"""Pure rules: header-safe text, error classification, backoff, Telegram text."""

import smtplib

import pytest

from notifications.models import Email, Status, TelegramMessage
from notifications.rules import (
    check_header_text,
    header_safe,
    header_unsafe,
    request_fingerprint,
    retry_delay_seconds,
    smtp_error_is_permanent,
    status_text,
    telegram_split,
    telegram_text,
)


@pytest.mark.parametrize(
    ("exc", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.io": (550, b"no such user")}), True),
        (smtplib.SMTPDataError(554, b"rejected"), True),
        (smtplib.SMTPSenderRefused(553, b"bad sender", "ops@echopilot.ai"), True),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), True),
        (smtplib.SMTPDataError(451, b"try later"), False),
        (smtplib.SMTPResponseException(421, b"closing"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(111, "refused"), False),
        (TimeoutError("timed out"), False),
        (OSError(101, "network unreachable"), False),
        (ValueError("bad header"), True),
    ],
)
def test_smtp_errors_are_classified(exc, permanent):
    assert smtp_error_is_permanent(exc) is permanent


def test_backoff_doubles_from_the_base_up_to_an_hour():
    assert [retry_delay_seconds(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay_seconds(12, 30) == 3600


def test_telegram_text_escapes_inserted_values_and_keeps_its_own_tags():
    text = telegram_text("Refund <b>spike</b> & more", "<script>x</script> a&b")
    assert text == "<b>Refund &lt;b&gt;spike&lt;/b&gt; &amp; more</b>\n&lt;script&gt;x&lt;/script&gt; a&amp;b"


def test_short_text_is_one_part():
    assert telegram_split("a\nb") == ["a\nb"]


def test_long_text_is_split_at_line_boundaries():
    lines = [f"line {i:04d} " + "x" * 90 for i in range(100)]  # 100 lines of 100 characters
    parts = telegram_split("\n".join(lines), limit=1000)
    assert all(len(part) <= 1000 for part in parts)
    assert [line for part in parts for line in part.split("\n")] == lines
    assert len(parts) == 12  # 9 lines and their line breaks (908 characters) fit in a part


def test_a_line_longer_than_the_limit_is_cut_hard_but_not_inside_an_entity():
    line = "a" * 8 + "&amp;" + "b" * 10
    parts = telegram_split(f"head\n{line}\ntail", limit=10)
    assert parts == ["head", "aaaaaaaa", "&amp;bbbbb", "bbbbb\ntail"]


@pytest.mark.parametrize("code", [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0xD800])
def test_every_control_character_and_line_separator_is_unsafe_in_a_header(code):
    value = f"a{chr(code)}b"
    assert header_unsafe(value) == chr(code)
    with pytest.raises(ValueError, match=f"U\\+{code:04X}"):
        check_header_text(value)
    assert header_safe(value) == "a b"


@pytest.mark.parametrize("value", ["Hello", "Grüße \u00a0€", "\u200d\u200e\u200f\ufeff", "\U0001f600", "a  b"])
def test_printable_text_format_characters_and_spaces_are_header_safe(value):
    assert header_unsafe(value) is None and check_header_text(value) == value


def test_a_request_fingerprint_depends_on_the_values_not_the_order():
    one = request_fingerprint(to=["a@example.com"], subject="s", body="b", html="")
    assert one == request_fingerprint(html="", body="b", subject="s", to=["a@example.com"])
    assert one != request_fingerprint(to=["a@example.com"], subject="s", body="b ", html="")
    assert len(one) == 64


@pytest.mark.parametrize("model", [Email, TelegramMessage])
@pytest.mark.parametrize("status", Status.values)
def test_every_delivery_status_has_a_phrase(model, status):
    text = model(status=status).status_text

    assert text and text != status and "_" not in text


def test_a_dry_run_says_which_channel_is_not_configured():
    assert Email(status=Status.DRY_RUN).status_text == "Dry run — SMTP not configured"
    assert TelegramMessage(status=Status.DRY_RUN).status_text == "Dry run — Telegram not configured"
    assert status_text("failed", channel="email") == "Failed"


def test_an_unknown_status_is_shown_as_it_is():
    assert status_text("bounced", channel="email") == "bounced"
