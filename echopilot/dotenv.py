"""Write a first ``.env`` from ``.env.example`` with freshly generated secrets.

Run by ``make run`` before Django starts (settings refuse to start without
``SESSION_SECRET``), so it imports nothing from Django. An existing ``.env``
is never touched.
"""

import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def main(target: Path = BASE_DIR / ".env", example: Path = BASE_DIR / ".env.example") -> int:
    if target.exists():
        return 0
    session_secret = secrets.token_urlsafe(50)
    dashboard_key = secrets.token_urlsafe(32)
    lines = []
    for line in example.read_text().splitlines():
        if line.startswith("SESSION_SECRET="):
            line = f"SESSION_SECRET={session_secret}"
        elif line.startswith("DASHBOARD_KEY="):
            line = f"DASHBOARD_KEY={dashboard_key}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    target.chmod(0o600)
    print(f"Wrote {target.name} with a new SESSION_SECRET and DASHBOARD_KEY.")
    print(f"Your API key (shown once; it is in {target.name}): {dashboard_key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
