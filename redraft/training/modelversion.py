"""A model version as the registry stores it: the dataclass, the SQLite schema, row mapping."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUSES: tuple[str, ...] = ("training", "candidate", "active", "retired", "failed")
# "notes": the same model with a new prompt template holding learned style rules.
TRAINERS: tuple[str, ...] = ("openai", "trl", "manual", "notes")
PROMOTABLE: frozenset[str] = frozenset({"candidate", "retired", "active"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    model_id TEXT NOT NULL,
    base_url TEXT,
    base_model TEXT,
    parent TEXT,
    trainer TEXT NOT NULL,
    manifest_sha256 TEXT,
    template_sha256 TEXT,
    job_id TEXT,
    idempotency_key TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    export_dir TEXT,
    error TEXT,
    pid INTEGER,
    projects TEXT NOT NULL DEFAULT '[]'
);
CREATE UNIQUE INDEX IF NOT EXISTS one_active ON versions(status) WHERE status = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS one_training ON versions(status) WHERE status = 'training';
-- project_id NULL: the default scope (projects without a version of their own).
CREATE TABLE IF NOT EXISTS activations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    activated_at TEXT NOT NULL,
    rolled_back INTEGER NOT NULL DEFAULT 0,
    project_id INTEGER
);
-- The version a Label Studio project drafts with, when it is not the default one.
CREATE TABLE IF NOT EXISTS project_active (
    project_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def utc_now() -> str:
    """The current UTC time as ISO 8601, the registry's time format.

    Microseconds, not seconds: "annotated since the last training" compares these stamps with
    Label Studio's, and an annotation made earlier in the same second must not count as newer.
    """
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class ModelVersion:
    """One model version: where it is served, what it was trained from, and its state."""

    name: str
    model_id: str
    base_url: str | None = None
    base_model: str | None = None
    parent: str | None = None
    trainer: str = "manual"
    manifest_sha256: str | None = None
    template_sha256: str | None = None
    job_id: str | None = None
    idempotency_key: str | None = None
    status: str = "candidate"
    created_at: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    export_dir: str | None = None
    error: str | None = None
    pid: int | None = None
    # The Label Studio projects whose annotations trained it (empty: none in particular).
    projects: tuple[int, ...] = ()

    @property
    def template_path(self) -> Path | None:
        """The version's own prompt template (`redraft styles apply`, or a fine-tune trained on
        one); None: it drafts with the settings' template."""
        path = self.metrics.get("template")
        return Path(path) if path else None

    def as_dict(self) -> dict[str, Any]:
        """The version as a JSON-ready dict (what `models list --json` prints)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


COLUMNS: list[str] = [f.name for f in fields(ModelVersion)]
# Each column's SQL type, for adding a column a newer redraft introduces to an older file.
COLUMN_TYPES: dict[str, str] = {
    "base_url": "TEXT",
    "base_model": "TEXT",
    "parent": "TEXT",
    "manifest_sha256": "TEXT",
    "template_sha256": "TEXT",
    "job_id": "TEXT",
    "idempotency_key": "TEXT",
    "metrics": "TEXT NOT NULL DEFAULT '{}'",
    "export_dir": "TEXT",
    "error": "TEXT",
    "pid": "INTEGER",
    "projects": "TEXT NOT NULL DEFAULT '[]'",
}
# Columns added to other tables by a newer redraft.
OTHER_COLUMNS: dict[str, dict[str, str]] = {"activations": {"project_id": "INTEGER"}}


def row_to_version(row: sqlite3.Row) -> ModelVersion:
    """A `versions` row as a ModelVersion (metrics decoded from JSON)."""
    values = {name: row[name] for name in COLUMNS}
    values["metrics"] = json.loads(values["metrics"] or "{}")
    values["projects"] = tuple(int(p) for p in json.loads(values["projects"] or "[]"))
    return ModelVersion(**values)


def column_values(version: ModelVersion) -> dict[str, Any]:
    """The version's fields as SQLite values (metrics and projects as JSON)."""
    values = version.as_dict()
    values["metrics"] = json.dumps(version.metrics, sort_keys=True)
    values["projects"] = json.dumps(list(version.projects))
    return values
