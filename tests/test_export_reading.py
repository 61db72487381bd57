"""Reading tasks: streamed JSON arrays and JSONL, and a live project through the real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redraft.exporters.reading import ExportReadError, iter_json_values, read_file_tasks
from tests.fixtures.exports import annotation, prediction, task

TASKS = [
    task(i, brief="é東🎉 " * i, predictions=[prediction(i, f"d{i}")], annotations=[annotation(i)])
    for i in range(1, 40)
]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [2, 7, 64, 4096])
def test_json_array_in_any_chunking(size: int) -> None:
    data = json.dumps(TASKS, ensure_ascii=False, indent=2).encode()
    assert list(iter_json_values(chunked(data, size))) == TASKS


@pytest.mark.parametrize("size", [3, 100])
def test_jsonl_in_any_chunking(size: int) -> None:
    data = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in TASKS).encode()
    assert list(iter_json_values(chunked(data, size))) == TASKS


def test_one_byte_chunks() -> None:
    data = json.dumps(TASKS[:3], ensure_ascii=False).encode()
    assert list(iter_json_values(chunked(data, 1))) == TASKS[:3]


def test_numbers_split_across_chunks() -> None:
    assert list(iter_json_values([b"[12", b"34, 5", b".5e", b"1]"])) == [1234, 55.0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1, 2", "f: the JSON array is not closed with ]"),
        (b"[1 2]", "f: expected , or ] at character 3"),
        (b"[1] x", "f: unexpected data after the closing ]"),
        (
            b'{"a": ',
            "f: not valid JSON at character 6 (Expecting value) — give a Label Studio JSON"
            " export (an array of tasks) or JSONL",
        ),
        (b"[\xc3", "f: ends inside a UTF-8 character"),
    ],
)
def test_malformed_input_says_where(data: bytes, message: str) -> None:
    with pytest.raises(ExportReadError) as info:
        list(iter_json_values(chunked(data, 1), "f"))
    assert str(info.value) == message


def test_file_reader_checks_each_item(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([TASKS[0], "oops"]))
    reader = read_file_tasks(path)
    assert next(reader) == TASKS[0]
    with pytest.raises(ExportReadError) as info:
        next(reader)
    assert str(info.value) == (
        f"{path}: item 2 is a str, not a task object — export the project as JSON"
        " (not JSON_MIN or CSV)"
    )


def test_empty_export(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("[]\n")
    assert list(read_file_tasks(path)) == []


def _first(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next(i for i in items if all(i.get(k) == v for k, v in match.items()))


def test_a_corrupt_value_early_in_a_large_file_stops_the_read_early():
    """Memory stays flat: the reader gives up once a value grows past any task's size."""
    good = json.dumps(TASKS[:3])
    corrupt = good[:-1] + ', {"id": 9, "data": {"brief": "x"} "oops": 1}'
    rest = "".join(", " + json.dumps(t) for t in TASKS * 40) + "]"
    data = (corrupt + rest).encode()
    read: list[int] = []

    def chunks():
        for chunk in chunked(data, 1024):
            read.append(len(chunk))
            yield chunk

    with pytest.raises(ExportReadError, match="not valid JSON at character"):
        list(iter_json_values(chunks(), max_value_chars=10_000))  # small, so the file is too
    assert sum(read) < len(data) / 4
