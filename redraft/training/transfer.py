"""Moving a registry whole: an SQLite file and the home's documents into a shared database.

`redraft models migrate --to URL` copies every version, the activation stacks (in order, so
`rollback` works the same afterwards), each project's active version, the meta counters, and
the evaluation sets and import records kept as files under REDRAFT_HOME. It refuses a target
that already holds versions: two registries are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass

from redraft.documents import KINDS, Documents, FileDocuments
from redraft.training.errors import RegistryError
from redraft.training.modelversion import COLUMNS
from redraft.training.registry import Registry
from redraft.wording import counted

# Each table, its columns in the order copied, and the order rows are read in (identity
# columns are left out: the target numbers rows afresh, in the same order).
TABLES: dict[str, tuple[list[str], str]] = {
    "versions": (COLUMNS, "id"),
    "activations": (["name", "activated_at", "rolled_back", "project_id"], "seq"),
    "project_active": (["project_id", "name"], "project_id"),
    "meta": (["key", "value"], "key"),
}


@dataclass(frozen=True)
class Moved:
    """What one migration copied."""

    rows: dict[str, int]
    documents: dict[str, int]

    def line(self, target: str) -> str:
        """The summary line.

        >>> Moved({"versions": 3, "activations": 2}, {"evalsets": 1, "imports": 0}).line("pg")
        'migrated 3 versions, 2 activations, 1 evaluation set and 0 import records to pg'
        """
        return (
            f"migrated {counted(self.rows.get('versions', 0), 'version')}, "
            f"{counted(self.rows.get('activations', 0), 'activation')}, "
            f"{counted(self.documents.get('evalsets', 0), 'evaluation set')} and "
            f"{counted(self.documents.get('imports', 0), 'import record')} to {target}"
        )


def read_tables(registry: Registry) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, each table in its own order."""
    found: dict[str, list[tuple[object, ...]]] = {}
    with registry._connect() as db:
        for table, (columns, order) in TABLES.items():
            rows = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
            found[table] = [tuple(row) for row in rows.fetchall()]
    return found


def migrate(
    source: Registry, home_documents: FileDocuments, target: Registry, documents: Documents
) -> Moved:
    """Copy `source` (and the home's documents) into the empty registry `target`, in one
    transaction; RegistryError when `target` already holds versions."""
    tables = read_tables(source)
    with target._write() as db:
        (held,) = db.execute("SELECT COUNT(*) FROM versions").fetchone()
        if held:
            raise RegistryError(
                f"the target registry already holds {counted(int(held), 'version')}: migrate "
                "only into an empty database (two registries are never merged) — create a new "
                "database, or point REDRAFT_DATABASE_URL at this one and leave the file"
            )
        for table in ("activations", "project_active", "meta"):
            db.execute(f"DELETE FROM {table}")
        for table, rows in tables.items():
            columns = TABLES[table][0]
            marks = ", ".join("?" for _ in columns)
            for row in rows:
                db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", row)
    copied: dict[str, int] = {}
    for kind in KINDS:
        keys = home_documents.keys(kind)
        for key in keys:
            text = home_documents.read(kind, key)
            if text is not None:
                documents.write(kind, key, text)
        copied[kind] = len(keys)
    return Moved({table: len(rows) for table, rows in tables.items()}, copied)
