"""The model registry: every model version redraft knows, in SQLite under REDRAFT_HOME.

A version is `training` while a job runs, then `candidate` (or `failed`); `promote` makes a
candidate `active` and retires the one before it; exactly one version is active at a time
(a partial unique index plus one write transaction per change). Activations are kept as a
stack, so `rollback` re-activates the version that was active before the current one.

Versions belong to projects: a version records the Label Studio projects it was trained for,
and each project can have its own active version (`project_active`), with its own stack of
activations; a project without one drafts with the default active version (status `active`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Any

from redraft.documents import Documents, FileDocuments
from redraft.processes import process_alive
from redraft.settings import Settings
from redraft.training.errors import RegistryError, TrainingInProgressError
from redraft.training.modelversion import (
    COLUMNS,
    PROMOTABLE,
    STATUSES,
    TRAINERS,
    ModelVersion,
    column_values,
    row_to_version,
    utc_now,
)
from redraft.training.pgstore import DatabaseDocuments, PostgresStore
from redraft.training.store import SqliteStore

__all__ = [
    "PROMOTABLE",
    "STATUSES",
    "TRAINERS",
    "ModelVersion",
    "PostgresRegistry",
    "Registry",
    "documents_for",
    "open_registry",
    "process_alive",
    "registry_exists",
    "utc_now",
]


class Registry(SqliteStore):
    """The SQLite model registry at `path`; opens a short connection per operation."""

    # -- reading -------------------------------------------------------------------------

    def list(self) -> list[ModelVersion]:
        """Every version, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM versions ORDER BY id").fetchall()
        return [row_to_version(row) for row in rows]

    def find(self, name: str) -> ModelVersion | None:
        """The version called `name`, or None."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM versions WHERE name = ?", (name,)).fetchone()
        return row_to_version(row) if row else None

    def get(self, name: str) -> ModelVersion:
        """The version called `name`; RegistryError naming the known ones if there is none."""
        version = self.find(name)
        if version is None:
            known = ", ".join(v.name for v in self.list()) or "none yet"
            raise RegistryError(
                f"no model version named {name!r} (known: {known}) — see `redraft models list`"
            )
        return version

    def active(self, project_id: int | None = None) -> ModelVersion | None:
        """The version `project_id` drafts with (its own, else the default active one); None
        while the settings' model drafts."""
        if project_id is not None:
            own = self._one(
                "SELECT versions.* FROM versions JOIN project_active "
                "ON project_active.name = versions.name WHERE project_active.project_id = ?",
                (project_id,),
            )
            if own is not None:
                return own
        return self._one("SELECT * FROM versions WHERE status = 'active'")

    def project_actives(self) -> dict[int, str]:
        """{project id: version name} for the projects with a version of their own."""
        with self._connect() as db:
            rows = db.execute("SELECT project_id, name FROM project_active").fetchall()
        return {int(project): str(name) for project, name in rows}

    def training(self) -> ModelVersion | None:
        """The version whose training is under way, or None."""
        return self._one("SELECT * FROM versions WHERE status = 'training'")

    def by_key(self, key: str) -> ModelVersion | None:
        """The newest version made from the idempotency key `key`, or None."""
        return self._one(
            "SELECT * FROM versions WHERE idempotency_key = ? ORDER BY id DESC LIMIT 1", (key,)
        )

    def latest_candidate(self) -> ModelVersion | None:
        """The newest candidate awaiting review, or None."""
        return self._one("SELECT * FROM versions WHERE status = 'candidate' ORDER BY id DESC")

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> ModelVersion | None:
        with self._connect() as db:
            row = db.execute(sql, params).fetchone()
        return row_to_version(row) if row else None

    def next_name(self, prefix: str = "v") -> str:
        """A fresh version name: one past the highest `v<number>` so far (v1, v2, …); names
        given by hand (`gpt-ft`) do not use up a number."""
        numbers = [
            int(v.name[len(prefix) :])
            for v in self.list()
            if v.name.startswith(prefix) and v.name[len(prefix) :].isdigit()
        ]
        return f"{prefix}{max(numbers, default=0) + 1}"

    # -- writing -------------------------------------------------------------------------

    def add(self, version: ModelVersion) -> ModelVersion:
        """Insert a version (status training or candidate); returns it as stored."""
        if version.status not in ("training", "candidate", "failed"):
            raise RegistryError(
                f"a new version starts as training or candidate, not {version.status!r} — "
                "add it, then `redraft models promote NAME`"
            )
        if version.trainer not in TRAINERS:
            raise RegistryError(f"trainer {version.trainer!r} is not one of {', '.join(TRAINERS)}")
        stored = replace(version, created_at=version.created_at or utc_now())
        values = column_values(stored)
        placeholders = ", ".join("?" for _ in COLUMNS)
        try:
            with self._write() as db:
                db.execute(
                    f"INSERT INTO versions ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                    [values[name] for name in COLUMNS],
                )
        except self.integrity_errors:
            if self.find(version.name) is not None:
                raise RegistryError(
                    f"a model version named {version.name!r} already exists — pick another "
                    "name (`redraft models list` shows the taken ones)"
                ) from None
            running = self.training()
            raise TrainingInProgressError(
                f"{running.name if running else 'another version'} is still training"
                f"{f' (job {running.job_id})' if running and running.job_id else ''} — only one "
                "training runs at a time; wait for it (`redraft status`) or cancel it with "
                f"`redraft models cancel {running.name if running else 'NAME'}`"
            ) from None
        return stored

    def update(self, name: str, **changes: Any) -> ModelVersion:
        """Change fields of a training/candidate version (job id, model id, metrics, status)."""
        allowed = set(COLUMNS) - {"name", "created_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise TypeError(f"cannot update {sorted(unknown)}")
        if changes.get("status") == "active":
            raise RegistryError("use promote() to activate a version")
        if "metrics" in changes:
            changes["metrics"] = json.dumps(changes["metrics"], sort_keys=True)
        if "projects" in changes:
            changes["projects"] = json.dumps([int(p) for p in changes["projects"]])
        self.get(name)
        assignments = ", ".join(f"{key} = ?" for key in changes)
        with self._write() as db:
            db.execute(
                f"UPDATE versions SET {assignments} WHERE name = ?", [*changes.values(), name]
            )
        return self.get(name)

    def set_base_url(self, name: str, base_url: str) -> ModelVersion:
        """Record the OpenAI-compatible endpoint that serves `name` (e.g. a vLLM server)."""
        version = self.get(name)
        if version.status in ("training", "failed"):
            raise RegistryError(
                f"{name} is {version.status}: only a finished version gets an endpoint — "
                "see `redraft models list`"
            )
        return self.update(name, base_url=base_url)

    def delete(self, name: str) -> None:
        """Remove a version that never produced a model (a reservation whose job never began)."""
        with self._write() as db:
            db.execute("DELETE FROM versions WHERE name = ? AND status = 'training'", (name,))

    def promote(self, name: str, project_id: int | None = None) -> ModelVersion:
        """Make `name` the active version — of `project_id`, or the default one — and retire
        the default one active before it (a project's previous version just stops drafting
        there)."""
        with self._write() as db:
            row = db.execute("SELECT * FROM versions WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise RegistryError(f"no model version named {name!r} — see `redraft models list`")
            version = row_to_version(row)
            if version.status not in PROMOTABLE:
                why = {
                    "training": "its training has not finished (see `redraft status`)",
                    "failed": f"its training failed ({version.error or 'see the job'})",
                }[version.status]
                raise RegistryError(
                    f"cannot promote {name}: {why} — promote a candidate from `redraft models list`"
                )
            if project_id is not None:
                db.execute(
                    "INSERT INTO project_active (project_id, name) VALUES (?, ?) "
                    "ON CONFLICT (project_id) DO UPDATE SET name = excluded.name",
                    (project_id, name),
                )
                db.execute(
                    "INSERT INTO activations (name, activated_at, project_id) VALUES (?, ?, ?)",
                    (name, utc_now(), project_id),
                )
                return self._version(db, name)
            if version.status == "active":
                return version
            db.execute("UPDATE versions SET status = 'retired' WHERE status = 'active'")
            db.execute("UPDATE versions SET status = 'active' WHERE name = ?", (name,))
            db.execute(
                "INSERT INTO activations (name, activated_at) VALUES (?, ?)", (name, utc_now())
            )
        return self.get(name)

    def rollback(self, project_id: int | None = None) -> tuple[ModelVersion, ModelVersion | None]:
        """Re-activate the version active before the current one; returns (retired, active).

        When the current version was the first ever activated, it is retired and no version is
        active (None): drafting falls back to the model that settings name, as before it. For a
        project with a version of its own, its previous one comes back, else the default; a
        project without one is refused (its rollback would retire every other project's default).
        """
        if project_id is not None:
            if project_id not in self.project_actives():
                raise RegistryError(self._no_own_version(project_id))
            return self._rollback_project(project_id)
        with self._write() as db:
            current = db.execute("SELECT * FROM versions WHERE status = 'active'").fetchone()
            if current is None:
                raise RegistryError("no active version to roll back — see `redraft models list`")
            stack = db.execute(
                "SELECT seq, name FROM activations WHERE rolled_back = 0 "
                "AND project_id IS NULL ORDER BY seq DESC"
            ).fetchall()
            previous = None
            for _seq, name in stack[1:]:
                row = db.execute("SELECT * FROM versions WHERE name = ?", (name,)).fetchone()
                if row is not None and row["name"] != current["name"]:
                    previous = row
                    break
            if stack:
                db.execute("UPDATE activations SET rolled_back = 1 WHERE seq = ?", (stack[0][0],))
            db.execute("UPDATE versions SET status = 'retired' WHERE name = ?", (current["name"],))
            if previous is not None:
                db.execute(
                    "UPDATE versions SET status = 'active' WHERE name = ?", (previous["name"],)
                )
        return self.get(current["name"]), self.get(previous["name"]) if previous else None

    def _no_own_version(self, project_id: int) -> str:
        """Why `rollback(project_id)` is refused for a project without a version of its own."""
        default = self.active()
        drafts = f"the default version {default.name}" if default else "the settings model"
        return (
            f"project {project_id} has no version of its own to roll back: it drafts with "
            f"{drafts}, as every project without its own does — `redraft models rollback` "
            "(no --project) rolls the default back for all of them, `redraft models promote "
            f"NAME --project {project_id}` gives project {project_id} a version of its own"
        )

    def _rollback_project(self, project_id: int) -> tuple[ModelVersion, ModelVersion | None]:
        with self._write() as db:
            (current,) = db.execute(
                "SELECT name FROM project_active WHERE project_id = ?", (project_id,)
            ).fetchone()
            stack = db.execute(
                "SELECT seq, name FROM activations WHERE rolled_back = 0 AND project_id = ? "
                "ORDER BY seq DESC",
                (project_id,),
            ).fetchall()
            if stack:
                db.execute("UPDATE activations SET rolled_back = 1 WHERE seq = ?", (stack[0][0],))
            previous = next((n for _seq, n in stack[1:] if n != current), None)
            if previous is not None:
                db.execute(
                    "UPDATE project_active SET name = ? WHERE project_id = ?",
                    (previous, project_id),
                )
            else:
                db.execute("DELETE FROM project_active WHERE project_id = ?", (project_id,))
        return self.get(current), self.active(project_id)

    @staticmethod
    def _version(db: sqlite3.Connection, name: str) -> ModelVersion:
        return row_to_version(
            db.execute("SELECT * FROM versions WHERE name = ?", (name,)).fetchone()
        )

    def last_trained_at(self) -> str | None:
        """When the newest trained (non-manual, not failed) version was started, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT MAX(created_at) FROM versions WHERE trainer != 'manual' "
                "AND status != 'failed'"
            ).fetchone()
        return row[0] if row else None


class PostgresRegistry(PostgresStore, Registry):  # type: ignore[misc]
    """The same registry in a shared PostgreSQL database (REDRAFT_DATABASE_URL)."""


def open_registry(settings: Settings) -> Registry:
    """The registry these settings name: PostgreSQL when REDRAFT_DATABASE_URL is set, else
    the SQLite file under REDRAFT_HOME."""
    if settings.database_url:
        return PostgresRegistry(settings.database_url)
    return Registry(settings.registry_path)


def registry_exists(settings: Settings) -> bool:
    """Whether a registry is there to read without creating one (a shared one always is)."""
    return bool(settings.database_url) or settings.registry_path.is_file()


def documents_for(settings: Settings) -> Documents:
    """Where evaluation sets and import records live: the shared registry's `documents` with
    REDRAFT_DATABASE_URL (every host sees the same), else files under REDRAFT_HOME."""
    if settings.database_url:
        return DatabaseDocuments(PostgresRegistry(settings.database_url))
    return FileDocuments(settings.home)


def shared_documents(settings: Settings) -> Documents | None:
    """The shared registry's documents, or None on one machine (files under REDRAFT_HOME)."""
    return documents_for(settings) if settings.database_url else None
