"""Reports: the daily report by email."""

from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from echopilot.audit import audit_event
from echopilot.emails import valid_email
from echopilot.timefmt import moment_format
from notifications.models import Kind
from notifications.rules import status_text
from notifications.services import email_send
from observability import selectors


def daily_report_send(*, now: datetime | None = None) -> str:
    """Yesterday's (UTC) report by email to REPORTS_TO, once per day (idempotency key)."""
    now = now or timezone.now()
    day = (now.astimezone(UTC) - timedelta(days=1)).date()
    if not settings.REPORTS_TO:
        audit_event("observability", "daily_report_skipped", day=day, reason="REPORTS_TO is empty")
        return f"daily report for {day}: skipped (REPORTS_TO is empty)"
    since = datetime.combine(day, time.min, tzinfo=UTC)
    latest = selectors.snapshot_latest()
    summary = selectors.day_summary(since=since, until=since + timedelta(days=1))
    context = {
        "day": day,
        **summary,
        "emails": {status_text(status, channel="email"): count for status, count in summary["emails"].items()},
        "health": latest.data["health"] if latest else None,
        "snapshot_at": moment_format(latest.taken_at) if latest else None,
        "weekly_audit": selectors.audit_week_latest(),
    }
    email, created = email_send(
        to=[valid_email(address) for address in settings.REPORTS_TO],
        subject=f"EchoPilot daily report {day}",
        body=render_to_string("observability/daily_report.txt", context),
        html=render_to_string("observability/daily_report.html", context),
        kind=Kind.REPORT,
        idempotency_key=f"daily-report:{day}",
    )
    audit_event("observability", "daily_report", day=day, email=email.public_id, created=created)
    return f"daily report for {day}: {email.public_id}{'' if created else ' (already sent)'}"
