"""Streaming writers for an export folder: JSONL datasets, rejects, and the records table."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from redraft.csvcells import spreadsheet_safe
from redraft.exporters.records import FeedbackRecord
from redraft.exporters.validation import RowValidator

RECORD_COLUMNS = (
    "task_id",
    "annotation_id",
    "project_id",
    "client",
    "external_id",
    "annotator",
    "model_version",
    "prediction_id",
    "draft_source",
    "rating",
    "issues",
    "feedback",
    "draft",
    "final",
    "human_final",
    "machine_written",
    "ground_truth",
    "lead_time",
    "created_at",
    "updated_at",
    "template_sha256",
    "split",
    "case",
    "messages",
    "data",
    "draft_score",
    "draft_signals",
)


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # built once: json.dumps builds one a call


def dumps(value: Any) -> str:
    """One JSON line's text: `json.dumps(value, ensure_ascii=False)`."""
    return _ENCODER.encode(value)


class RowEncoder:
    """`dumps` for dataset rows, serialising each distinct chat message once.

    The same messages recur in every row of a record (the prompt) and in several formats
    (the final text): their JSON is kept in a small cache, keyed by content, and joined.
    The text is exactly what `dumps(row)` gives.

    >>> encoder = RowEncoder()
    >>> row = {"input": {"messages": [{"role": "user", "content": "Hi \u2014"}]}, "label": True}
    >>> encoder.encode(row) == dumps(row)
    True
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size  # cached messages (a flat cap: only a task's own messages recur)
        self._messages: dict[tuple[tuple[str, str], ...], str] = {}
        self._keys: dict[str, str] = {}

    def encode(self, value: Any) -> str:
        """The JSON text of a row, of a list of messages, or of any value."""
        if type(value) is list and value:
            return self._messages_text(value)
        if type(value) is not dict:
            return dumps(value)
        parts = []
        for key, item in value.items():
            head = self._keys.get(key)
            if head is None:
                if type(key) is not str:
                    return dumps(value)
                if len(self._keys) >= self.size:
                    self._keys.clear()
                head = self._keys[key] = dumps(key) + ": "
            kind = type(item)
            if kind is list and item:
                text = self._messages_text(item)
            elif kind is dict:
                text = self.encode(item)
            elif kind is bool:
                text = "true" if item else "false"
            else:
                text = dumps(item)
            parts.append(head + text)
        return "{" + ", ".join(parts) + "}"

    def _messages_text(self, items: list[Any]) -> str:
        cache = self._messages
        texts = []
        for message in items:
            if type(message) is not dict:
                return dumps(items)
            key = tuple(message.items())
            try:
                text = cache.get(key)
            except TypeError:  # a value that cannot be a key (a list of tool calls)
                return dumps(items)
            if text is None:
                text = dumps(message)
                # Only text is cached: 1 == True == 1.0 would share a key, yet not a text.
                if all(type(name) is str and type(part) is str for name, part in key):
                    if len(cache) >= self.size:
                        cache.clear()
                    cache[key] = text
            texts.append(text)
        return "[" + ", ".join(texts) + "]"


@dataclass
class JsonlSink:
    """One JSONL file; each row is checked by its validator as it is written.

    `encode` turns a row into its line (`dumps`; the export shares one `RowEncoder`).
    """

    path: Path
    validator: RowValidator | None = None
    rows: int = 0
    machine_written_lines: list[int] = field(default_factory=list)
    _handle: IO[str] | None = None
    encode: Callable[[Any], str] = dumps

    def open(self) -> JsonlSink:
        # A larger buffer than the default 8 KiB: rows run to kilobytes, so fewer writes.
        self._handle = open(self.path, "w", encoding="utf-8", newline="\n", buffering=1 << 16)
        return self

    def write(self, row: dict[str, Any], machine_written: bool = False) -> None:
        """Append one row (a JSON object on one line)."""
        assert self._handle is not None, "open() first"
        text = self.encode(row)
        self._handle.write(text + "\n")
        self.rows += 1
        if self.validator is not None:
            self.validator.add(self.rows, row, text)
        if machine_written:
            self.machine_written_lines.append(self.rows)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# The record's fields that are columns as they are (issues, messages, data and draft_signals
# are written below; split and case are not fields).
_PLAIN_COLUMNS = tuple(
    f.name
    for f in fields(FeedbackRecord)
    if f.name in RECORD_COLUMNS and f.name not in ("issues", "messages", "data", "draft_signals")
)
_DATA_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def record_row(
    record: FeedbackRecord, split: str, case: str, encode: Callable[[Any], str] = dumps
) -> dict[str, Any]:
    """A flat row for records.parquet / records.csv (lists and dicts as JSON text).

    `encode` writes the messages as JSON (the export passes its shared `RowEncoder`).
    """
    row: dict[str, Any] = dict.fromkeys(RECORD_COLUMNS)  # in column order, all None
    for name in _PLAIN_COLUMNS:
        row[name] = getattr(record, name)
    row["issues"] = list(record.issues)
    row["messages"] = encode(record.messages)
    row["data"] = _DATA_ENCODER.encode(record.data)
    if record.draft_signals is not None:
        row["draft_signals"] = dumps(record.draft_signals)
    row["split"] = split
    row["case"] = case
    return row


RECORD_FORMATS = ("parquet", "csv")


class RecordsSink:
    """records.parquet (written in batches, so memory stays flat) or records.csv (its cells
    safe to open in a spreadsheet: `redraft.csvcells`)."""

    BATCH = 2000

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self.rows = 0
        self._batch: list[dict[str, Any]] = []
        self._writer: Any = None
        self._csv_handle: IO[str] | None = None
        self._csv: Any = None
        if fmt == "csv":
            self._csv_handle = open(path, "w", encoding="utf-8", newline="")
            self._csv = csv.DictWriter(self._csv_handle, fieldnames=RECORD_COLUMNS)
            self._csv.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        """Add one record row."""
        self.rows += 1
        if self._csv is not None:
            cells = {**row, "issues": json.dumps(row["issues"], ensure_ascii=False)}
            self._csv.writerow({k: spreadsheet_safe(v) for k, v in cells.items()})
            return
        self._batch.append(row)
        if len(self._batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow.parquet as pq

        table = arrow_table(self._batch)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, _schema())
        self._writer.write_table(table)
        self._batch = []

    def close(self) -> None:
        if self._csv_handle is not None:
            self._csv_handle.close()
            self._csv_handle = None
            return
        if self._batch or self._writer is None:
            self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# allow_nan=False: a NaN or an infinity raises here (not JSON; Arrow's reader takes neither).
_ARROW_JSON = json.JSONEncoder(allow_nan=False)


def arrow_table(rows: list[dict[str, Any]]) -> Any:
    """The records' Arrow table, read from JSON lines by Arrow's own reader.

    The same table `pa.Table.from_pylist` builds, without its import of pandas (a third of a
    second, in every export; pyarrow checks each Python sequence for a pandas object). A batch
    that is not plain JSON (a NaN, a lone surrogate) goes through `from_pylist`, which raises
    or converts it as before.
    """
    import pyarrow as pa
    import pyarrow.json as pj

    schema = _schema()
    if not rows:
        return schema.empty_table()
    try:
        data = "\n".join(map(_ARROW_JSON.encode, rows)).encode("ascii")
        return pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error"
            ),
        )
    except ValueError:  # pyarrow.ArrowInvalid is one
        return pa.Table.from_pylist(rows, schema=schema)


def _schema() -> Any:
    import pyarrow as pa

    types = {
        "task_id": pa.int64(),
        "annotation_id": pa.int64(),
        "project_id": pa.int64(),
        "prediction_id": pa.int64(),
        "rating": pa.int64(),
        "issues": pa.list_(pa.string()),
        "machine_written": pa.bool_(),
        "ground_truth": pa.bool_(),
        "lead_time": pa.float64(),
        "draft_score": pa.float64(),
    }
    return pa.schema([(name, types.get(name, pa.string())) for name in RECORD_COLUMNS])


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
