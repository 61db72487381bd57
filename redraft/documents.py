"""Small JSON documents several hosts must agree on: evaluation sets and import records.

On one machine they are files under REDRAFT_HOME (`evalsets/<key>.json`, `imports/<key>.json`);
with a shared registry (REDRAFT_DATABASE_URL) they are rows of its `documents` table, so a
training host and a backend host with different homes read and write the same ones. Callers
get a store from `redraft.training.registry.documents_for(settings)` and never ask which.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

# The kinds of document, each one folder under REDRAFT_HOME on one machine.
KINDS: tuple[str, ...] = ("evalsets", "imports")


class Documents(Protocol):
    """Where documents of each kind are kept."""

    def read(self, kind: str, key: str) -> str | None:
        """The document's text, or None when there is none."""

    def write(self, kind: str, key: str, text: str) -> None:
        """Store the document whole (a reader never sees half of it)."""

    def delete(self, kind: str, key: str) -> None:
        """Remove the document (nothing happens when there is none)."""

    def where(self, kind: str, key: str) -> str:
        """Where the document is, as a message names it."""


class FileDocuments:
    """Documents as files under `home`: `home/<kind>/<key>.json`."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    def path(self, kind: str, key: str) -> Path:
        """The file of one document."""
        return self.home / kind / f"{key}.json"

    def read(self, kind: str, key: str) -> str | None:
        """The file's text, or None when it is missing."""
        path = self.path(kind, key)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def write(self, kind: str, key: str, text: str) -> None:
        """Write the file atomically (a killed process never leaves half of it)."""
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)

    def delete(self, kind: str, key: str) -> None:
        """Remove the file."""
        self.path(kind, key).unlink(missing_ok=True)

    def where(self, kind: str, key: str) -> str:
        return str(self.path(kind, key))

    def keys(self, kind: str) -> list[str]:
        """The keys of every document of `kind` (what `models migrate` copies)."""
        return sorted(p.stem for p in (self.home / kind).glob("*.json"))


def documents_at(place: Path | Documents) -> Documents:
    """A store from a home folder (files) or a store as it is."""
    return FileDocuments(place) if isinstance(place, Path) else place
