"""Who did it: the one label scheme of every ``created_by``, ``opened_by``, ``closed_by``, ``revoked_by`` and audit ``by``.

- ``user:<username>``: a staff user, in the admin;
- ``key:<name>``: an API caller, by its key's name (``DASHBOARD_KEY#<n>`` for the n-th value of DASHBOARD_KEY);
- ``command:<name>``: an operator running a management command;
- ``task:<name>``: a background task, ``task:<name>:<id>`` when it acts for one record;
- ``portal:<link id>``: a customer acting through the portal link they opened;
- ``telegram:<user id>``: an on-call person pressing a button of one of our Telegram messages.

Labels name the actor, never a secret (no key, no signature). Rows written
before this scheme keep the labels they were written with.
"""

NOBODY = ""  # a *_by field that names no one (not yet approved, a request withdrawn)


def actor_user(user) -> str:
    return f"user:{user.get_username()}"


def actor_key(name: str) -> str:
    return f"key:{name}"


def actor_command(name: str) -> str:
    return f"command:{name}"


def actor_task(name: str, *, on: str = "") -> str:
    return f"task:{name}:{on}" if on else f"task:{name}"


def actor_portal(link_id: str) -> str:
    return f"portal:{link_id}"


def actor_telegram(user_id: int | str) -> str:
    return f"telegram:{user_id}"
