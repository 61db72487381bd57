"""The registry's SQLite file: short connections, write transactions, and small meta values."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redraft.training.errors import RegistryError
from redraft.training.modelversion import COLUMN_TYPES, OTHER_COLUMNS, SCHEMA

BACKUP_SUFFIX = ".bak"


class MetaRows:
    """The registry's key/value `meta` table, the same SQL on SQLite and PostgreSQL (whose
    connection takes `?` placeholders too); a store supplies `_connect` and `_write`."""

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A stored meta value, or default."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a meta value."""
        with self._write() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


class SqliteStore(MetaRows):
    """An SQLite file at `path` with the registry schema; one short connection per operation.

    After every write a consistent copy goes to `PATH.bak` (`redraft models restore`). A file
    that is damaged or emptied is refused, never silently replaced by an empty registry: that
    would drop the active version and draft with the base model. Columns that a newer redraft
    adds are added to an existing file in place.
    """

    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size == 0:
            raise RegistryError(
                f"the model registry {self.path} is empty (0 bytes): it lost its versions — "
                f"restore the last good copy with `redraft models restore`"
            )
        try:
            with self._connect() as db:
                db.executescript(SCHEMA)
                self._migrate(db)
        except sqlite3.DatabaseError as exc:
            raise RegistryError(
                f"the model registry {self.path} is damaged ({exc}) — restore the last good "
                "copy with `redraft models restore`"
            ) from None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Add the columns an older file lacks (the new fields start empty)."""
        for table, columns in {"versions": COLUMN_TYPES, **OTHER_COLUMNS}.items():
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for column, kind in columns.items():
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def fingerprint(self) -> tuple[int, int, int, bytes] | None:
        """What changes whenever SQLite commits to the file: mtime, size, inode, change counter
        (None: no file). Bytes 24..28 of the header are SQLite's file change counter, bumped by
        every committed write in rollback-journal mode (the registry's mode)."""
        return file_fingerprint(self.path)

    @property
    def backup_path(self) -> Path:
        return self.path.with_name(self.path.name + BACKUP_SUFFIX)

    def backup(self) -> None:
        """Copy the registry to PATH.bak with SQLite's online backup (consistent mid-write)."""
        with self._connect() as db, sqlite3.connect(self.backup_path) as copy:
            db.backup(copy)
        copy.close()

    @classmethod
    def restore(cls, path: Path) -> Path:
        """Put PATH.bak back in place; the damaged file is kept beside it. Returns where."""
        path = Path(path)
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        if not backup.is_file():
            raise RegistryError(f"no backup of the registry at {backup} — nothing to restore")
        aside = path.with_name(path.name + ".damaged")
        for suffix in ("", "-wal", "-shm", "-journal"):
            current = Path(f"{path}{suffix}")
            if current.exists():
                current.replace(Path(f"{aside}{suffix}"))
        with sqlite3.connect(backup) as source, sqlite3.connect(path) as target:
            source.backup(target)
        source.close()
        target.close()
        return aside

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        self.backup()

    # -- small counters (auto mode) --------------------------------------------------------


def file_fingerprint(path: Path) -> tuple[int, int, int, bytes] | None:
    """A registry file's mtime, size, inode and change counter; None when there is no file."""
    try:
        stat = os.stat(path)
        with open(path, "rb") as handle:
            header = handle.read(28)[24:28]
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, header)
