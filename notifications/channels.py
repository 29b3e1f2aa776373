"""The delivery channels: SMTP (Django's mail framework) and the Telegram Bot API.

Each channel sends one message per ``send()`` call and raises ``DeliveryError``
saying whether the failure is permanent. No channel touches the database.
"""

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from functools import cached_property

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend

from notifications.rules import smtp_error_is_permanent


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool, retry_after: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class VerifyingSmtpBackend(EmailBackend):
    """Django's SMTP backend, verifying the server's certificate and host name.

    Django's own backend passes no TLS context, so smtplib would accept any
    certificate; this one uses the system's trust store (``SSL_CERT_FILE`` honoured).
    """

    @cached_property
    def ssl_context(self):
        return ssl.create_default_context()


def smtp_configured() -> bool:
    return bool(settings.SMTP_HOST)


def smtp_connection() -> EmailBackend:
    """A (not yet opened) connection to the configured SMTP server."""
    return get_connection(
        "notifications.channels.VerifyingSmtpBackend",
        host=settings.SMTP_HOST,
        port=settings.SMTP_PORT,
        username=settings.SMTP_USER,
        password=settings.SMTP_PASS,
        use_ssl=settings.SMTP_SECURITY == "ssl",
        use_tls=settings.SMTP_SECURITY == "starttls",
        timeout=settings.SMTP_TIMEOUT,
        fail_silently=False,
    )


def _smtp_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(
            f"{rcpt}: {code} {reply.decode(errors='replace')}" for rcpt, (code, reply) in exc.recipients.items()
        )
        message = f"all recipients refused: {detail}"
    else:
        message = str(exc) or "no detail"
    return DeliveryError(f"{type(exc).__name__}: {message}"[:1000], permanent=smtp_error_is_permanent(exc))


def _connection_usable_after(exc: Exception) -> bool:
    """A refusal leaves the SMTP session usable; a 421 reply or a network error ends it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code != 421


class SmtpChannel:
    """One SMTP connection reused for every email sent through it; use as a context manager.

    ``open()`` before each ``send()``: it connects when not connected. When the
    session ends (network error, 421 reply) it is closed, so the next ``open()``
    connects again; other 4xx/5xx replies leave it usable.
    """

    def __enter__(self):
        self.connection = smtp_connection()
        return self

    def __exit__(self, *exc_info):
        self.connection.close()

    def open(self) -> None:
        try:
            self.connection.open()
        except Exception as exc:
            self.connection.close()
            raise _smtp_error(exc) from None

    def send(self, *, to: list[str], subject: str, body: str, html: str, message_id: str) -> None:
        message = EmailMultiAlternatives(
            subject,
            body,
            settings.SMTP_FROM,
            to,
            headers={"Message-ID": message_id},
            connection=self.connection,
        )
        if html:
            message.attach_alternative(html, "text/html")
        try:
            self.connection.send_messages([message])
        except Exception as exc:
            if not _connection_usable_after(exc):
                self.connection.close()
            raise _smtp_error(exc) from None


def telegram_configured() -> bool:
    return bool(settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_CHAT_ID)


def inline_keyboard(buttons: list) -> dict:
    """Telegram's reply_markup for rows of [label, callback_data]."""
    return {"inline_keyboard": [[{"text": label, "callback_data": data} for label, data in row] for row in buttons]}


class TelegramChannel:
    """Methods of the Bot API: ``sendMessage`` (parse_mode=HTML) and what answers a button press.

    The bot token is part of the URL; it is scrubbed from every error message.
    429 is transient with the answer's ``retry_after``; 5xx and network errors
    are transient; any other refusal (chat not found, bot blocked, bad token)
    is permanent.
    """

    def call(self, method: str, body: dict):
        """POST one Bot API method; returns its ``result`` (None when the answer has none) or raises DeliveryError."""
        token = settings.TELEGRAM_BOT_TOKEN
        # The URL's scheme is http(s): TELEGRAM_API_URL is validated in settings.
        request = urllib.request.Request(  # noqa: S310
            f"{settings.TELEGRAM_API_URL}/bot{token}/{method}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.TELEGRAM_TIMEOUT) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _telegram_refusal(exc.code, exc.read(), token) from None
        except OSError as exc:
            raise DeliveryError(_scrub(f"{type(exc).__name__}: {exc}", token), permanent=False) from None
        try:
            answer = json.loads(raw)
        except ValueError:  # accepted all the same (HTTP 200)
            return None
        return answer.get("result") if isinstance(answer, dict) else None

    def send(self, *, chat_id: str, text: str, buttons: list | None = None) -> int | None:
        """Send one message, with inline ``buttons`` (rows of [label, callback_data]) under it; returns Telegram's
        message id (None when its answer does not say)."""
        body = {"chat_id": chat_id, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}
        if buttons:
            body["reply_markup"] = inline_keyboard(buttons)
        result = self.call("sendMessage", body)
        try:
            return int(result["message_id"])
        except (KeyError, TypeError, ValueError):  # accepted all the same: sending again would duplicate it
            return None

    def answer_callback(self, *, callback_query_id: str, text: str) -> None:
        """The notice Telegram shows the person who pressed a button (and the end of their client's spinner)."""
        self.call("answerCallbackQuery", {"callback_query_id": callback_query_id, "text": text[:200]})

    def edit(self, *, chat_id: str, message_id: int, text: str, buttons: list) -> None:
        """Replace a sent message's text and buttons (none when ``buttons`` is empty).

        Telegram refuses an edit that changes nothing ("message is not modified"); that is success here, so an
        edit can be sent again safely.
        """
        body = {
            "chat_id": chat_id,
            "message_id": message_id,
            "text": text,
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
            "reply_markup": inline_keyboard(buttons),
        }
        try:
            self.call("editMessageText", body)
        except DeliveryError as error:
            if error.permanent and "message is not modified" in str(error):
                return
            raise


def _scrub(message: str, token: str) -> str:
    return (message.replace(token, "***") if token else message)[:1000]


def _telegram_refusal(status: int, raw: bytes, token: str) -> DeliveryError:
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    message = _scrub(f"HTTP {status}: {answer.get('description') or raw[:200].decode(errors='replace')}", token)
    if status == 429:
        retry_after = (answer.get("parameters") or {}).get("retry_after")
        retry_after = retry_after if isinstance(retry_after, int) and retry_after > 0 else 1
        return DeliveryError(message, permanent=False, retry_after=retry_after)
    return DeliveryError(message, permanent=status < 500)
