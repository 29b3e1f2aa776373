"""Pure rules of notifications: header-safe text, request fingerprints, retry timing, Telegram text, status words.

Addresses are ``echopilot.emails``; amounts are shown with ``echopilot.money.money_format``.
"""

import hashlib
import html
import json
import smtplib
import unicodedata

MAX_RETRY_DELAY_SECONDS = 3600
TELEGRAM_LIMIT = 4096
TELEGRAM_SUBJECT_CHARS = 256

# A delivery's status in plain words, for people (admin lists, dashboard); the API keeps the codes.
# ``{channel}`` is what is not configured when a delivery is only recorded: "SMTP" or "Telegram".
STATUS_TEXT = {
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "dry_run": "Dry run — {channel} not configured",
    "suppressed": "Suppressed — address on the suppression list",
}
CHANNEL_NAMES = {"email": "SMTP", "telegram": "Telegram"}

# What no mail header may carry: control characters (Cc: C0 with tab, DEL, C1 with NEL U+0085), line and
# paragraph separators (Zl, Zp) and lone surrogates (Cs, not encodable). Python's email package breaks header
# lines not only at CR and LF but at VT, FF, U+001C-U+001E, U+0085, U+2028 and U+2029 too, so such a subject
# would be cut or fail at sending as a permanent header error. Format characters (Cf: zero-width joiners in
# emoji, right-to-left marks) are fine: they are encoded like any other non-ASCII text.
HEADER_UNSAFE_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})


def header_unsafe(value: str) -> str | None:
    """The first character of ``value`` that no mail header may carry, or None when it is header-safe."""
    if value.isascii() and value.isprintable():  # the common case, without looking at each character
        return None
    return next((char for char in value if unicodedata.category(char) in HEADER_UNSAFE_CATEGORIES), None)


def check_header_text(value: str) -> str:
    """``value`` unchanged when it is header-safe; ``ValueError`` naming the first character that is not."""
    char = header_unsafe(value)
    if char is not None:
        raise ValueError(f"Must not contain control characters or line breaks (found U+{ord(char):04X}).")
    return value


def header_safe(value: str) -> str:
    """``value`` on one line: every run of whitespace and characters no header may carry becomes one space."""
    if header_unsafe(value) is not None:
        value = "".join(" " if unicodedata.category(char) in HEADER_UNSAFE_CATEGORIES else char for char in value)
    return " ".join(value.split())


def status_text(status: str, *, channel: str) -> str:
    """A delivery status in plain words: "Sent", "Dry run — SMTP not configured"; an unknown code as it is."""
    text = STATUS_TEXT.get(status, status)
    return text.format(channel=CHANNEL_NAMES[channel]) if "{channel}" in text else text


def request_fingerprint(**fields) -> str:
    """SHA-256 of a request's validated fields in one canonical form (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def smtp_error_is_permanent(exc: Exception) -> bool:
    """Whether retrying cannot help: 5xx replies, every recipient refused, bad credentials.

    4xx replies and network trouble (refused, reset, timed out, disconnected) are transient.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return not isinstance(exc, (smtplib.SMTPServerDisconnected, OSError))


def retry_delay_seconds(attempts: int, base_seconds: int) -> int:
    """Exponential backoff after the given number of attempts, at most an hour."""
    return min(base_seconds * 2 ** (attempts - 1), MAX_RETRY_DELAY_SECONDS)


def telegram_text(subject: str, text: str) -> str:
    """The subject in bold and the text, every inserted value escaped for parse_mode=HTML."""
    return f"<b>{html.escape(subject[:TELEGRAM_SUBJECT_CHARS])}</b>\n{html.escape(text)}"


def telegram_split(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters at line boundaries.

    A single line longer than ``limit`` is cut hard, but never inside an HTML
    entity such as ``&amp;``.
    """
    parts: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        while len(line) > limit:
            cut = limit
            entity = line.rfind("&", 0, cut)
            if entity > 0 and ";" not in line[entity:cut]:
                cut = entity
            if current is not None:
                parts.append(current)
                current = None
            parts.append(line[:cut])
            line = line[cut:]
        if current is None:
            current = line
        elif len(current) + 1 + len(line) <= limit:
            current = f"{current}\n{line}"
        else:
            parts.append(current)
            current = line
    parts.append(current)
    return parts


# Bounces anymail reports as "bounced" although the provider says they are temporary, by provider: the field of
# the provider's own event and its values. (Postmark's SoftBounce "might also receive HardBounce later"; Mailgun's
# temporary failures anymail already reports as "deferred".)
TEMPORARY_BOUNCES = {"postmark": ("Type", frozenset({"SoftBounce"}))}


def suppression_reason(*, provider: str, event_type: str, reject_reason: str | None, esp_event) -> str | None:
    """Whether a tracking event (anymail's normalised type and reason) puts its recipient on the suppression list.

    "complained" for a spam complaint, "bounced" for a hard bounce (the address does not exist or is invalid);
    None for everything else: deliveries, deferrals and soft bounces (the retry policy handles them), and
    bounces for other reasons (blocked by policy, a virus), which say nothing about the address.
    """
    if event_type == "complained":
        return "complained"
    if event_type == "rejected" and reject_reason == "invalid":
        return "bounced"
    if event_type != "bounced" or reject_reason not in ("bounced", "invalid"):
        return None
    field, temporary = TEMPORARY_BOUNCES.get(provider, ("", frozenset()))
    if field and isinstance(esp_event, dict) and esp_event.get(field) in temporary:
        return None
    return "bounced"


def event_digest(esp_event) -> str:
    """An id for a provider event that carries none: ``sha256:`` and the digest of its payload."""
    return "sha256:" + request_fingerprint(event=esp_event)
