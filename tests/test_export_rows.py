"""Dataset rows for every kind of annotation, asserted whole."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from redraft.exporters.golden import golden_record
from redraft.exporters.records import FeedbackRecord
from redraft.exporters.rows import (
    NO_RATING,
    RecordRows,
    RowPolicy,
    _big_enough,
    classify,
    edit_size,
    record_rows,
    rows_of_record,
)

PROMPT = [
    {"role": "system", "content": "Write for Acme."},
    {"role": "user", "content": "Brief: Offer Ada a demo."},
]
DRAFT = "Hi Ada, want a demo?"
FINAL = "Hi Ada, could I show you a 20-minute demo on Thursday?"


def rec(**changes: object) -> FeedbackRecord:
    base = FeedbackRecord(task_id=1, annotation_id=2, messages=PROMPT, final=FINAL, draft=DRAFT)
    return replace(base, **changes)


def sft(text: str) -> dict:
    return {"messages": [*PROMPT, {"role": "assistant", "content": text}]}


def openai_pair(good: str, bad: str) -> dict:
    return {
        "input": {"messages": PROMPT},
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": bad}],
    }


def trl_pair(good: str, bad: str) -> dict:
    return {
        "prompt": PROMPT,
        "chosen": [{"role": "assistant", "content": good}],
        "rejected": [{"role": "assistant", "content": bad}],
    }


def kto(text: str, label: bool) -> dict:
    return {
        "prompt": PROMPT,
        "completion": [{"role": "assistant", "content": text}],
        "label": label,
    }


def rows_of(sft_rows: list, pairs: list[tuple[str, str]], kto_rows: list) -> dict:
    return {
        "openai_sft": [sft(t) for t in sft_rows],
        "openai_dpo": [openai_pair(*p) for p in pairs],
        "trl_sft": [sft(t) for t in sft_rows],
        "trl_dpo": [trl_pair(*p) for p in pairs],
        "trl_kto": kto_rows,
    }


CASES = [
    # final differs from draft: SFT final; final ≻ draft; KTO final true, draft by rating.
    (
        "rewritten, rated 2",
        rec(rating=2),
        RowPolicy(),
        "rewritten",
        rows_of([FINAL], [(FINAL, DRAFT)], [kto(FINAL, True), kto(DRAFT, False)]),
        "",
    ),
    (
        "rewritten, rated 4 (≥ threshold)",
        rec(rating=4),
        RowPolicy(),
        "rewritten",
        rows_of([FINAL], [(FINAL, DRAFT)], [kto(FINAL, True), kto(DRAFT, True)]),
        "",
    ),
    (
        "rewritten, no rating: no draft KTO row",
        rec(),
        RowPolicy(),
        "rewritten",
        rows_of([FINAL], [(FINAL, DRAFT)], [kto(FINAL, True)]),
        "",
    ),
    (
        "small edit: below --min-edit-chars, no pair",
        rec(final=DRAFT + "!!", rating=3),
        RowPolicy(min_edit_chars=20),
        "rewritten",
        rows_of([DRAFT + "!!"], [], [kto(DRAFT + "!!", True), kto(DRAFT, False)]),
        "",
    ),
    (
        "edit ratio below --min-edit-ratio, no pair",
        rec(rating=3),
        RowPolicy(min_edit_ratio=0.9),
        "rewritten",
        rows_of([FINAL], [], [kto(FINAL, True), kto(DRAFT, False)]),
        "",
    ),
    # accepted as is: SFT final; no pair; KTO final true.
    (
        "accepted, rated 5",
        rec(final=DRAFT, rating=5),
        RowPolicy(),
        "accepted",
        rows_of([DRAFT], [], [kto(DRAFT, True)]),
        "",
    ),
    (
        "accepted, no rating (history): sent unchanged, so SFT and KTO true",
        rec(final=DRAFT),
        RowPolicy(),
        "accepted",
        rows_of([DRAFT], [], [kto(DRAFT, True)]),
        "",
    ),
    (
        "accepted, whitespace-only change",
        rec(final=" Hi Ada,\nwant a demo? ", rating=5),
        RowPolicy(),
        "accepted",
        rows_of([" Hi Ada,\nwant a demo? "], [], [kto(" Hi Ada,\nwant a demo? ", True)]),
        "",
    ),
    (
        "accepted, rated 3: SFT, KTO below threshold",
        rec(final=DRAFT, rating=3),
        RowPolicy(),
        "accepted",
        rows_of([DRAFT], [], [kto(DRAFT, False)]),
        "",
    ),
    (
        "accepted, rated 1, no feedback: below --min-rating-sft",
        rec(final=DRAFT, rating=1),
        RowPolicy(),
        "accepted",
        rows_of([], [], [kto(DRAFT, False)]),
        "",
    ),
    (
        "accepted, excluded",
        rec(final=DRAFT, rating=5),
        RowPolicy(include_accepted=False),
        "accepted",
        rows_of([], [], []),
        "accepted as is (excluded by --exclude-accepted)",
    ),
    # low rating, no rewrite, feedback given, golden off: KTO draft false only.
    (
        "low rating + feedback, no rewrite",
        rec(final=DRAFT, rating=1, feedback="Too vague."),
        RowPolicy(),
        "low_no_rewrite",
        rows_of([], [], [kto(DRAFT, False)]),
        "",
    ),
    # golden (opt-in): SFT golden; golden ≻ draft; KTO draft false.
    (
        "golden rewrite",
        golden_record(rec(final=DRAFT, rating=1, feedback="Too vague."), "Golden text.", "m"),
        RowPolicy(),
        "golden",
        rows_of(["Golden text."], [("Golden text.", DRAFT)], [kto(DRAFT, False)]),
        "",
    ),
    # no prediction to compare with: SFT and KTO from the final, nothing to pair.
    (
        "no draft",
        rec(draft=None, rating=4),
        RowPolicy(),
        "no_draft",
        rows_of([FINAL], [], [kto(FINAL, True)]),
        "",
    ),
]


@pytest.mark.parametrize(
    ("record", "policy", "case", "expected", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_rows_for_each_case(
    record: FeedbackRecord, policy: RowPolicy, case: str, expected: dict, reason: str
) -> None:
    assert classify(record, policy) == case
    assert record_rows(record, policy) == (expected, reason)


@pytest.mark.parametrize(
    ("draft", "final", "size"),
    [
        ("same text", "same text", (0, 0.0)),
        ("", "", (0, 0.0)),
        ("same   text\n", "same text", (0, 0.0)),
        ("Hi Ada", "Hi Bob", (3, 0.5)),
        ("", "New email", (9, 1.0)),
        ("New email", "", (9, 1.0)),
        ("Grüße, Zoë", "Grüße, Zoë! 🎉", (3, 0.23)),
        # One character added is one character changed, not both words counted.
        ("short", "short!", (1, 0.17)),
        ("a b", "a x b", (2, 0.4)),
        ("a b c", "a c", (2, 0.4)),
        # A long rewritten stretch: exact, in milliseconds.
        ("x" * 300 + " end", "y" * 350 + " end", (350, 0.99)),
        ("a b c d", "a c b d", (2, 0.29)),
    ],
)
def test_edit_size(draft: str, final: str, size: tuple[int, float]) -> None:
    assert edit_size(draft, final) == size


def test_a_trivial_edit_is_no_pair_by_default() -> None:
    record = rec(draft="Thanks, short and clear", final="Thanks, short and clear!", rating=4)
    rows, reason = record_rows(record, RowPolicy())
    assert (rows["openai_dpo"], rows["trl_dpo"], reason) == ([], [], "")
    assert rows["openai_sft"] == [sft("Thanks, short and clear!")]


@pytest.mark.parametrize(("ratio", "paired"), [(0.5, True), (0.6, False)])
def test_min_edit_ratio_is_a_share_of_the_longer_text(ratio: float, paired: bool) -> None:
    # "demo Thursday" -> "call tomorrow": 12 of 24 characters, 0.5 of the longer text.
    record = rec(draft="Hello Ada, demo Thursday", final="Hello Ada, call tomorrow", rating=3)
    assert edit_size(record.draft or "", record.final) == (12, 0.5)
    rows, _ = record_rows(record, RowPolicy(min_edit_chars=1, min_edit_ratio=ratio))
    assert bool(rows["openai_dpo"]) is paired


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # Only the draft of a rewrite needs a rating (its KTO label): that row is left out.
        (
            rec(),
            RecordRows(
                rows_of([FINAL], [(FINAL, DRAFT)], [kto(FINAL, True)]),
                "",
                (("trl_kto", NO_RATING),),
            ),
        ),
        (
            rec(rating=4),
            RecordRows(rows_of([FINAL], [(FINAL, DRAFT)], [kto(FINAL, True), kto(DRAFT, True)])),
        ),
        (rec(final=DRAFT), RecordRows(rows_of([DRAFT], [], [kto(DRAFT, True)]))),
        (rec(draft=None), RecordRows(rows_of([FINAL], [], [kto(FINAL, True)]))),
    ],
    ids=["rewritten, no rating", "rewritten, rated", "accepted, no rating", "no draft"],
)
def test_rows_left_out_name_the_format_and_why(
    record: FeedbackRecord, expected: RecordRows
) -> None:
    assert rows_of_record(record, RowPolicy()) == expected


def test_a_pair_is_decided_as_the_whole_edit_size_decides_it() -> None:
    # The export measures an edit only as far as the minimums need; the verdict must be the
    # one the full measure gives, at every threshold, including right at the boundaries.
    rng = random.Random(5)
    words = ["demo", "Ada", "Thursday", "call", "a", "the", "short", " ", "\n"]
    pairs = [("", ""), ("", "Hi"), ("Hi", "Hi"), (DRAFT, FINAL)]
    for _ in range(150):
        draft = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        final = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        pairs.append((draft, final))
    policies = [
        RowPolicy(min_edit_chars=chars, min_edit_ratio=ratio)
        for chars in (0, 1, 3, 10, 40)
        for ratio in (0.0, 0.01, 0.1, 0.25, 0.33, 0.5, 0.9, 1.0)
    ]
    for draft, final in pairs:
        chars, ratio = edit_size(draft, final)
        for policy in policies:
            whole = chars >= policy.min_edit_chars and ratio >= policy.min_edit_ratio
            assert _big_enough(draft, final, policy) is whole, (draft, final, policy)
