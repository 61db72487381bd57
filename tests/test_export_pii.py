"""--mask-pii: email addresses and phone numbers, and the things that only look like them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from redraft.csvcells import spreadsheet_value
from redraft.exporters.pii import mask_record, mask_text
from redraft.exporters.records import FeedbackRecord
from redraft.exporters.sinks import RecordsSink, record_row


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Write to ada@example.com today.", "Write to [email] today."),
        ("ada.l+crm@mail.example.co.uk.", "[email]."),
        ("Ada <ada_b@x-y.example.com>", "Ada <[email]>"),
        ('<a href="mailto:bob@corp.io">bob@corp.io</a>', '<a href="mailto:[email]">[email]</a>'),
        ("Grüße: zoë@exämple.de", "Grüße: [email]"),
        ("_x@y.com", "[email]"),
        (
            "user@localhost and a@b.c are not addresses",
            "user@localhost and a@b.c are not addresses",
        ),
        ("Call 555-123-4567 today", "Call [phone] today"),
        ("Tel: (212) 555-0199 ext. 12", "Tel: [phone]"),
        ("+1 415 555 2671.", "[phone]."),
        ("+44 (0)20 7946 0958", "[phone]"),
        ("07700 900123", "[phone]"),
        ("call 0049 30 1234567", "call [phone]"),
        ("mail ada@example.com\n+49 30 901820", "mail [email]\n[phone]"),
        ("In 2024\n555 1234 ok", "In 2024\n[phone] ok"),
        ("Order 12345 shipped", "Order 12345 shipped"),
        ("Order #1234567 ", "Order #1234567 "),
        ("price $1,299.00", "price $1,299.00"),
        ("on 12/05/2024 at 10.30", "on 12/05/2024 at 10.30"),
        ("due 2024-05-01", "due 2024-05-01"),
        ("grew 20-30% in 2023-2024", "grew 20-30% in 2023-2024"),
        ("server 192.168.100.200", "server 192.168.100.200"),
        ("10:30-11:45, v1.2.3", "10:30-11:45, v1.2.3"),
        ("from 1999 to 2024", "from 1999 to 2024"),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_mask_record_masks_every_exported_text() -> None:
    record = FeedbackRecord(
        task_id=1,
        annotation_id=2,
        messages=[{"role": "user", "content": "Brief: email ada@example.com"}],
        final="Reach me on +1 415 555 2671",
        draft="Mail bob@corp.io",
        feedback="Do not put 555-123-4567 in",
        data={"brief": "email ada@example.com", "tags": ["x@y.io"], "n": 5},
    )
    assert mask_record(record) == FeedbackRecord(
        task_id=1,
        annotation_id=2,
        messages=[{"role": "user", "content": "Brief: email [email]"}],
        final="Reach me on [phone]",
        draft="Mail [email]",
        feedback="Do not put [phone] in",
        data={"brief": "email [email]", "tags": ["[email]"], "n": 5},
    )


def test_records_csv_cells_are_safe_in_a_spreadsheet_and_read_back_whole(tmp_path: Path) -> None:
    record = FeedbackRecord(
        1,
        2,
        [{"role": "user", "content": "Brief: x"}],
        final='=HYPERLINK("http://evil.example","Open")',
        draft="- a list item",
        feedback="@cmd|' /C calc'!A0",
        client="'=already quoted",
        lead_time=-1.5,
    )
    sink = RecordsSink(tmp_path / "records.csv", "csv")
    sink.write(record_row(record, "train", "edited"))
    sink.close()
    with open(tmp_path / "records.csv", newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    cells = ("final", "draft", "feedback", "client", "lead_time", "issues")
    assert {c: row[c] for c in cells} == {
        "final": '\'=HYPERLINK("http://evil.example","Open")',
        "draft": "'- a list item",
        "feedback": "'@cmd|' /C calc'!A0",
        "client": "''=already quoted",
        "lead_time": "-1.5",
        "issues": "[]",
    }
    read = {c: spreadsheet_value(row[c]) for c in cells}
    assert read == {
        "final": record.final,
        "draft": record.draft,
        "feedback": record.feedback,
        "client": record.client,
        "lead_time": "-1.5",
        "issues": "[]",
    }
