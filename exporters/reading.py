"""Reading completed tasks: a Label Studio JSON/JSONL export file or a live project's snapshot.

Both sources end as one iterator of task dicts, parsed incrementally so memory stays flat.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError

logger = logging.getLogger(__name__)

CHUNK = 1 << 16
# Ask for predictions in full: a plain export lists them as ids only.
SNAPSHOT_OPTIONS = {"predictions": {"only_id": False}}


class ExportReadError(RedraftError):
    """An export file or a project snapshot cannot be read as Label Studio tasks."""


def iter_json_values(
    chunks: Iterable[bytes], source: str = "<stream>", max_value_chars: int | None = None
) -> Iterator[Any]:
    """Yield each element of a top-level JSON array, or each line of JSONL, chunk by chunk.

    >>> list(iter_json_values([b'[{"id": 1}, {"i', b'd": 2}]']))
    [{'id': 1}, {'id': 2}]
    >>> list(iter_json_values([b'{"id": 1}\\n{"id": 2}\\n']))
    [{'id': 1}, {'id': 2}]
    """
    decoder = json.JSONDecoder()
    buffer = ""
    offset = 0  # characters consumed before `buffer`, for error positions
    pending = b""
    in_array: bool | None = None
    done = False
    stream = iter(chunks)
    exhausted = False
    pos = 0
    after_value = False
    while True:
        pos = _skip(buffer, pos)
        if in_array is None and pos < len(buffer):
            in_array = buffer[pos] == "["
            if in_array:
                pos += 1
        elif in_array and pos < len(buffer) and after_value and buffer[pos] != "]":
            if buffer[pos] != ",":
                raise ExportReadError(f"{source}: expected , or ] at character {offset + pos}")
            pos = _skip(buffer, pos + 1)
            after_value = False
            continue
        if in_array and pos < len(buffer) and buffer[pos] == "]":
            done = True
            pos += 1
        if done:
            if buffer[pos:].strip() or (not exhausted and _rest_not_blank(stream)):
                raise ExportReadError(f"{source}: unexpected data after the closing ]")
            return
        if pos < len(buffer):
            try:
                value, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError as exc:
                # A value longer than any task will not be mended by more data: fail now
                # rather than buffer the rest of the file.
                longest = max_value_chars or MAX_VALUE_CHARS
                if exhausted or len(buffer) - pos > longest:
                    raise ExportReadError(
                        f"{source}: not valid JSON at character {offset + exc.pos} ({exc.msg})"
                        " — give a Label Studio JSON export (an array of tasks) or JSONL"
                    ) from None
            else:
                # A number that reaches the end of the buffer, or stops at "e" or "." there,
                # may continue in the next chunk.
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                if exhausted or not number or buffer[end:].lstrip("eE.+-") != "":
                    yield value
                    pos, after_value = end, True
                    continue
        elif exhausted:
            if in_array:
                raise ExportReadError(f"{source}: the JSON array is not closed with ]")
            return
        buffer, offset, pos = buffer[pos:], offset + pos, 0
        chunk = next(stream, None)
        if chunk is None:
            exhausted = True
            if pending:
                raise ExportReadError(f"{source}: ends inside a UTF-8 character")
            continue
        pending += chunk
        text, pending = _decode_utf8(pending)
        buffer += text


# No task is this large (16 Mi characters): past it, a value that does not parse is corrupt,
# not cut off by a chunk boundary, and reading on would buffer the rest of the file.
MAX_VALUE_CHARS = 1 << 24


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n\ufeff":
        pos += 1
    return pos


def _rest_not_blank(stream: Iterator[bytes]) -> bool:
    return any(chunk.strip() for chunk in stream)


def _decode_utf8(data: bytes) -> tuple[str, bytes]:
    """Decode what is complete; keep a split multi-byte character for the next chunk."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8"), data[cut:]
        except UnicodeDecodeError:
            continue
    raise ExportReadError("the export is not UTF-8 text")


def iter_tasks(values: Iterable[Any], source: str) -> Iterator[dict[str, Any]]:
    """Check that each value is a task object; fail naming its position otherwise."""
    for position, value in enumerate(values, start=1):
        if not isinstance(value, dict):
            raise ExportReadError(
                f"{source}: item {position} is a {type(value).__name__}, not a task object"
                " — export the project as JSON (not JSON_MIN or CSV)"
            )
        yield value


def read_file_tasks(path: Path) -> Iterator[dict[str, Any]]:
    """Stream tasks from a Label Studio JSON export (array) or a JSONL file."""

    def chunks() -> Iterator[bytes]:
        try:
            with open(path, "rb") as handle:
                while block := handle.read(CHUNK):
                    yield block
        except OSError as exc:
            raise ExportReadError(f"cannot read {path}: {exc.strerror}") from None

    yield from iter_tasks(iter_json_values(chunks(), str(path)), str(path))


def read_project_tasks(
    client: Any,
    project_id: int,
    timeout: float = 600.0,
    poll: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    keep_snapshot: bool = False,
) -> Iterator[dict[str, Any]]:
    """Stream tasks of a live project from a snapshot export with full predictions (SDK 2.x).

    The snapshot is deleted from the server once read (or when reading stops), unless
    `keep_snapshot`, so repeated exports do not pile up there.
    """
    exports = client.projects.exports
    snapshot = exports.create(
        project_id, title="redraft export", serialization_options=SNAPSHOT_OPTIONS
    )
    try:
        snapshot = _wait_for(exports, project_id, snapshot, timeout, poll, sleep)
        logger.info("project %s: downloading export snapshot %s", project_id, snapshot.id)
        chunks = exports.download(
            project_id, snapshot.id, export_type="JSON", request_options={"chunk_size": CHUNK}
        )
        source = f"project {project_id} export {snapshot.id}"
        yield from iter_tasks(iter_json_values(chunks, source), source)
    finally:
        if not keep_snapshot:
            _delete_snapshot(exports, project_id, snapshot.id)


def _wait_for(
    exports: Any,
    project_id: int,
    snapshot: Any,
    timeout: float,
    poll: float,
    sleep: Callable[[float], None],
) -> Any:
    waited = 0.0
    while str(getattr(snapshot, "status", "completed")) != "completed":
        if str(snapshot.status) == "failed":
            raise ExportReadError(
                f"project {project_id}: Label Studio failed to build export {snapshot.id}"
                " — see the server log, then retry"
            )
        if waited >= timeout:
            raise ExportReadError(
                f"project {project_id}: export {snapshot.id} not ready after {timeout:.0f} s"
                " — retry later or raise --timeout"
            )
        sleep(poll)
        waited += poll
        snapshot = exports.get(project_id, snapshot.id)
    return snapshot


def _delete_snapshot(exports: Any, project_id: int, snapshot_id: int) -> None:
    """Delete a snapshot export; a failure is only logged (the datasets are already read)."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        exports.delete(project_id, snapshot_id)
    except (ApiError, httpx.HTTPError) as exc:
        logger.warning(
            "project %s: could not delete export snapshot %s (%s) — delete it in the"
            " project's Export page",
            project_id,
            snapshot_id,
            getattr(exc, "status_code", None) or type(exc).__name__,
        )
    else:
        logger.info("project %s: deleted export snapshot %s", project_id, snapshot_id)
