"""Task entry points of notifications (django-q2 calls these by dotted path)."""

from collections import Counter

from notifications import services


def _summary(what: str, outcomes: Counter) -> str:
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing due"
    return f"{what}: {counts}"


def email_deliver(email_id: int) -> str:
    return _summary(f"email #{email_id}", services.email_deliver(email_id=email_id))


def email_sweep() -> str:
    return _summary("email sweep", services.email_sweep())


def telegram_sweep() -> str:
    return _summary("telegram sweep", services.telegram_sweep())
