"""Links created when an email is handed to SMTP, never stored.

A receipt's stored body holds ``PORTAL_LINK_PLACEHOLDER`` where its portal
link goes. The portal, which notifications must not import, registers the
function that creates such a link (``PortalConfig.ready``); delivery calls
``mint_link`` for an email whose ``portal_link_for`` is set and puts the URL
into the message it hands to SMTP only.
"""

from collections.abc import Callable

PORTAL_LINK_PLACEHOLDER = "[a personal link to your payments, created when this email is sent]"

_minter: Callable | None = None


def register_link_minter(minter: Callable) -> None:
    """Set the function that turns an ``Email`` into a fresh portal link URL for its ``portal_link_for``."""
    global _minter
    _minter = minter


def mint_link(email) -> str | None:
    """A fresh link URL for ``email.portal_link_for``; None when no minter is registered. The minter's errors propagate."""
    if _minter is None:
        return None
    return _minter(email)
