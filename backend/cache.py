"""Persistent draft cache (SQLite, WAL): re-retrieving predictions never pays twice."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from redraft.prompting import Message

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drafts (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
-- What a draft's confidence score needs that its text does not hold (redraft.scoring.confidence).
CREATE TABLE IF NOT EXISTS draft_signals (
    key TEXT PRIMARY KEY,
    token_confidence REAL,
    truncated INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS inflight (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    since REAL NOT NULL
);
"""
OWNER = f"{os.getpid()}"


def cache_key(
    base_url: str | None,
    model_id: str,
    messages: Sequence[Message],
    temperature: float,
    max_tokens: int,
) -> str:
    """sha256 over the endpoint, the model id, the exact messages and the generation params.

    >>> msgs = [{"role": "user", "content": "Offer a demo."}]
    >>> k = cache_key("http://127.0.0.1:8000/v1", "gpt-4o-mini", msgs, 0.7, 600)
    >>> len(k), k == cache_key("http://127.0.0.1:8000/v1", "gpt-4o-mini", msgs, 0.7, 600)
    (64, True)
    >>> k == cache_key("http://127.0.0.1:8000/v1", "gpt-4o-mini", msgs, 0.2, 600)
    False
    """
    payload = {
        "base_url": (base_url or "").rstrip("/"),
        "model": model_id,
        "messages": [dict(m) for m in messages],
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class DraftCache:
    """A key → draft text store in one SQLite file, safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.quarantined: list[Path] = []
        # One connection guarded by a lock: each statement takes microseconds, far below the
        # cost of a model call, and a single connection closes cleanly.
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            self._conn = self._start_fresh(exc)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(_SCHEMA)
            conn.execute("SELECT COUNT(*) FROM drafts").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _start_fresh(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        """The cache is disposable: move a damaged file aside and start an empty one."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            damaged = Path(f"{self.path}{suffix}")
            if damaged.exists():
                damaged.replace(Path(f"{aside}{suffix}"))
        self.quarantined.append(aside)
        logger.warning(
            "draft cache %s is damaged (%s): moved it to %s and started an empty one; "
            "drafting goes on",
            self.path,
            exc,
            aside,
        )
        return self._open()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"draft cache {self.path} is closed")
        return self._conn

    def get(self, key: str) -> str | None:
        """The cached draft for a key, or None (also when the cache turns out damaged)."""
        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute("SELECT text FROM drafts WHERE key = ?", (key,))
                    .fetchone()
                )
            except sqlite3.DatabaseError as exc:
                self._conn = self._start_fresh(exc)
                return None
        return None if row is None else row[0]

    def put(
        self,
        key: str,
        model_id: str,
        text: str,
        *,
        token_confidence: float | None = None,
        truncated: bool = False,
    ) -> None:
        """Store (or replace) the draft for a key, with what its score needs beyond the text
        (token confidence, cut off); a damaged cache is replaced, not fatal."""
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "INSERT OR REPLACE INTO drafts (key, model, text, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (key, model_id, text, time.time()),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO draft_signals (key, token_confidence, truncated) "
                    "VALUES (?, ?, ?)",
                    (key, token_confidence, int(truncated)),
                )
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._conn = self._start_fresh(exc)

    def signals(self, key: str) -> tuple[float | None, bool]:
        """A cached draft's token confidence (None: not given, or cached before scores) and
        whether it was cut off at max_tokens."""
        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute(
                        "SELECT token_confidence, truncated FROM draft_signals WHERE key = ?",
                        (key,),
                    )
                    .fetchone()
                )
            except sqlite3.DatabaseError as exc:
                self._conn = self._start_fresh(exc)
                return None, False
        return (None, False) if row is None else (row[0], bool(row[1]))

    def claim(self, key: str, stale_after: float) -> bool:
        """Take the right to draft `key` (True), or learn that a live drafter (this process or
        another sharing the file: the backend, `prefill`) holds it (False). A claim older than
        `stale_after` seconds, or of a process that is gone, is taken over."""
        from redraft.processes import process_alive

        now = time.time()
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT owner, since FROM inflight WHERE key = ?", (key,))
                held = row.fetchone()
                if held is not None:
                    owner, since = held
                    alive = owner == OWNER or process_alive(int(owner))
                    if alive and now - since < stale_after:
                        conn.execute("COMMIT")
                        return False
                conn.execute(
                    "INSERT OR REPLACE INTO inflight (key, owner, since) VALUES (?, ?, ?)",
                    (key, OWNER, now),
                )
                conn.execute("COMMIT")
                return True
            except sqlite3.DatabaseError as exc:
                self._conn = self._start_fresh(exc)
                return True

    def release(self, key: str) -> None:
        """Give up the claim on `key` (after storing its draft, or failing)."""
        with self._lock:
            try:
                self._connection().execute(
                    "DELETE FROM inflight WHERE key = ? AND owner = ?", (key, OWNER)
                )
            except sqlite3.DatabaseError as exc:
                self._conn = self._start_fresh(exc)

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM drafts").fetchone()[0]

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
