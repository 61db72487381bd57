"""The admin login of a Label Studio data dir: generated once, stored owner-only (0600).

No password or token is built into redraft: `init_data_dir` makes a random one per data dir
and `load_login` reads it back (the demo, the tests and the benchmark all do).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from redraft.errors import LabelStudioError

LOGIN_FILE = "redraft-login.json"  # mode 0600: the admin password and API token
ADMIN_EMAIL = "admin@redraft.local"


@dataclass(frozen=True)
class Login:
    """The admin user of a data dir: email, password and legacy API token."""

    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)

    @classmethod
    def generate(cls, username: str = ADMIN_EMAIL) -> Login:
        """A login with a fresh random password and token (made once per data dir)."""
        return cls(username, secrets.token_urlsafe(12), secrets.token_hex(20))


def save_login(data_dir: Path, login: Login) -> Path:
    """Store the login in data_dir/LOGIN_FILE, readable by its owner only (mode 0600)."""
    path = data_dir / LOGIN_FILE
    text = json.dumps(
        {"username": login.username, "password": login.password, "token": login.token}
    )
    write_private(path, text + "\n")
    return path


def load_login(data_dir: Path) -> Login:
    """The login `init_data_dir` stored in data_dir; raise with the fix when it is missing."""
    path = data_dir / LOGIN_FILE
    try:
        stored = json.loads(path.read_text())
        return Login(stored["username"], stored["password"], stored["token"])
    except (OSError, ValueError, KeyError, TypeError):
        raise LabelStudioError(
            f"{path} is missing or unreadable, so the Label Studio login of {data_dir} is "
            "unknown — start from a new data dir (redraft demo --fresh)"
        ) from None


def write_private(path: Path, text: str) -> None:
    """Write text to path with mode 0600 (created so; an existing file is narrowed first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
