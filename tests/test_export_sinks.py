"""The export's row encoder writes exactly what json.dumps writes, whatever the row holds."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from redraft.exporters.records import FeedbackRecord
from redraft.exporters.sinks import RECORD_COLUMNS, RowEncoder, record_row

SYSTEM = {"role": "system", "content": 'Be brief.\nSay "hi" \\ once\t—✓'}
USER = {"role": "user", "content": "Offer a demo \u2028 to Ada 😀 \x00\x1f"}
REPLY = {"role": "assistant", "content": "Hi Ada,\r\n\r\nA demo?"}

ROWS: list[Any] = [
    {"messages": [SYSTEM, USER, REPLY]},
    {
        "input": {"messages": [SYSTEM, USER]},
        "preferred_output": [REPLY],
        "non_preferred_output": [{"role": "assistant", "content": "Hello"}],
    },
    {"prompt": [USER], "completion": [REPLY], "label": True},
    {"prompt": [USER], "completion": [REPLY], "label": False},
    # Values that compare equal but serialise differently must not share a cached text.
    {"messages": [{"role": "assistant", "content": "x", "weight": 1}]},
    {"messages": [{"role": "assistant", "content": "x", "weight": True}]},
    {"messages": [{"role": "assistant", "content": "x", "weight": 1.0}]},
    {"messages": [{"role": "assistant", "content": "x", "weight": True}]},
    # Keys in another order are another text.
    {"messages": [{"content": "x", "role": "assistant"}]},
    {"messages": [{"role": "assistant", "content": "x"}]},
    # Shapes the cache does not take: unhashable values, non-dict items, other keys.
    {"messages": [{"role": "assistant", "tool_calls": [{"id": "1"}], "content": None}]},
    {"messages": [SYSTEM, "not a message", 3]},
    {"messages": []},
    {"label": None, "score": 0.5, "n": 3, "nan": float("nan"), "tuple": (1, "a")},
    {1: "int key", "x": [SYSTEM]},
    {True: "bool key"},
    [SYSTEM, USER],
    [SYSTEM, 1, "x"],
    [],
    "a bare string",
]


@pytest.mark.parametrize("size", [512, 1])
def test_row_encoder_writes_what_json_dumps_writes(size: int) -> None:
    encoder = RowEncoder(size=size)
    for _ in range(2):  # the second round reads every message back from the cache
        for row in ROWS:
            assert encoder.encode(row) == json.dumps(row, ensure_ascii=False)


def test_row_encoder_cache_stays_within_its_size() -> None:
    encoder = RowEncoder(size=8)
    for i in range(100):
        encoder.encode({"messages": [{"role": "user", "content": f"text {i}"}], f"k{i}": 1})
    assert len(encoder._messages) <= 8 and len(encoder._keys) <= 8


def test_record_row_is_one_flat_row_in_column_order() -> None:
    record = FeedbackRecord(
        task_id=1,
        annotation_id=2,
        messages=[SYSTEM, USER],
        final="Hi Ada",
        draft="Hello",
        rating=4,
        issues=("tone", "length"),
        data={"brief": "Offer a demo", "when": date(2026, 1, 2), "tags": ["a"]},
        draft_score=0.8,
        draft_signals={"structure": 1.0},
        human_final="Hi Ada!",
    )
    row = record_row(record, "validation", "rewritten", RowEncoder().encode)
    assert list(row) == list(RECORD_COLUMNS)
    assert row == {
        **{name: None for name in RECORD_COLUMNS},
        "task_id": 1,
        "annotation_id": 2,
        "final": "Hi Ada",
        "draft": "Hello",
        "rating": 4,
        "issues": ["tone", "length"],
        "messages": json.dumps([SYSTEM, USER], ensure_ascii=False),
        "data": '{"brief": "Offer a demo", "when": "2026-01-02", "tags": ["a"]}',
        "draft_score": 0.8,
        "draft_signals": '{"structure": 1.0}',
        "human_final": "Hi Ada!",
        "machine_written": False,
        "ground_truth": False,
        "split": "validation",
        "case": "rewritten",
    }
    assert record_row(replace(record, draft_signals=None), "train", "x")["draft_signals"] is None


def _record_rows() -> list[dict[str, Any]]:
    """Record rows with every kind of value a column holds, awkward text included."""
    awkward = SYSTEM["content"] + USER["content"] + REPLY["content"]
    full = {
        **{name: awkward for name in RECORD_COLUMNS},
        "task_id": 2**63 - 1,
        "annotation_id": -3,
        "project_id": 0,
        "prediction_id": 12,
        "rating": 5,
        "issues": ["tone", awkward, ""],
        "machine_written": True,
        "ground_truth": False,
        "lead_time": 0.1 + 0.2,
        "draft_score": 1e-300,
    }
    empty = {**dict.fromkeys(RECORD_COLUMNS), "issues": []}
    return [full, empty, {**full, "lead_time": 61.0, "draft_score": -0.0}]


@pytest.mark.parametrize(
    "rows",
    [
        _record_rows(),
        [],
        # Not plain JSON: Arrow's reader takes no NaN, so the batch goes through from_pylist.
        [*_record_rows(), {**_record_rows()[0], "lead_time": float("nan")}],
    ],
)
def test_records_table_is_what_from_pylist_builds(rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    from redraft.exporters.sinks import _schema, arrow_table

    table = arrow_table(rows)
    expected = pa.Table.from_pylist(rows, schema=_schema())
    assert table.schema == expected.schema
    # repr: NaN equals NaN there, and -0.0 differs from 0.0.
    assert repr(table.to_pylist()) == repr(expected.to_pylist())


@pytest.mark.parametrize("lone", ["\ud800", "\udc00"])
def test_records_with_a_lone_surrogate_fail_as_from_pylist_fails(lone: str) -> None:
    """Arrow's JSON reader refuses a lone surrogate; the batch goes through from_pylist, which
    refuses it as before (never a silently changed string in records.parquet)."""
    import pyarrow as pa

    from redraft.exporters.sinks import _schema, arrow_table

    rows = [*_record_rows(), {**_record_rows()[0], "final": f"Hi {lone}"}]
    with pytest.raises(UnicodeEncodeError):
        pa.Table.from_pylist(rows, schema=_schema())
    with pytest.raises(UnicodeEncodeError):
        arrow_table(rows)


def test_a_records_parquet_export_does_not_import_pandas(tmp_path: Any) -> None:
    """pandas costs a third of a second to import; the export writes records.parquet without it."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from redraft.exporters.sinks import RECORD_COLUMNS, RecordsSink\n"
        "sink = RecordsSink(Path(sys.argv[1]), 'parquet')\n"
        "sink.write({**dict.fromkeys(RECORD_COLUMNS), 'task_id': 1, 'issues': ['tone']})\n"
        "sink.close()\n"
        "print('pandas' in sys.modules)\n"
    )
    out = tmp_path / "records.parquet"
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
    import pyarrow.parquet as pq

    assert pq.read_table(out).to_pylist()[0]["issues"] == ["tone"]
