"""The webhook secret: one value that `redraft init` puts on the webhook it creates and that
`redraft serve` requires, so Label Studio's annotation events reach auto mode authenticated
with no hand steps.

REDRAFT_WEBHOOK_SECRET wins (set it on both machines when Label Studio and the backend are
set up from different homes); without it, the first of `serve` and `init` to need one writes a
random secret to REDRAFT_HOME/webhook-secret (mode 0600) and both read it from there.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from redraft.settings import Settings

WEBHOOK_SECRET_HEADER = "X-Redraft-Webhook-Secret"


def secret_path(home: Path) -> Path:
    """Where the generated secret is kept."""
    return home / "webhook-secret"


def webhook_secret(settings: Settings) -> str:
    """REDRAFT_WEBHOOK_SECRET, else this home's generated secret (created on first use)."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = secret_path(settings.home)
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        stored = ""
    if stored:
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:  # O_EXCL: when serve and init race, the first write wins and both read it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def with_webhook_secret(settings: Settings) -> Settings:
    """Settings whose webhook secret is set (see the module docstring)."""
    return settings.with_overrides(webhook_secret=webhook_secret(settings))
