# The real SMTP server (aiosmtpd) and Telegram API stand-ins of the notifications tests.
from tests.notifications.conftest import smtp_server, telegram_api  # noqa: F401
