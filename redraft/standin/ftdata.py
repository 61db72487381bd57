"""Fine-tuning files: JSONL parsing at upload and per-method example checks at job start."""

from __future__ import annotations

import json
from typing import Any

from redraft.standin.text import count_tokens

MIN_EXAMPLES = 10
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "function_call", "tool_call_id"}
)
SFT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
DPO_INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})


class FileFormatError(ValueError):
    """A fine-tuning file breaks the format; the message names the line and the fix."""


def parse_jsonl(data: bytes) -> list[Any]:
    """Parse a JSONL upload: one JSON object per line (blank lines are an error).

    >>> parse_jsonl(b'{"a": 1}\\n{"b": 2}\\n')
    [{'a': 1}, {'b': 2}]
    >>> parse_jsonl(b'{"a": 1}\\nnope\\n')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    redraft...FileFormatError: Invalid file format ... Line 2 is not valid JSON: Expecting value.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(
            "Invalid file format for Fine-Tuning API. The file is not UTF-8 text."
        ) from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise FileFormatError(
                f"Invalid file format for Fine-Tuning API. Line {number} is empty; "
                "remove blank lines."
            )
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileFormatError(
                f"Invalid file format for Fine-Tuning API. Line {number} is not valid JSON: "
                f"{exc.msg}."
            ) from None
        rows.append(row)
    return rows


def _check_message(line: int, where: str, message: Any) -> None:
    if not isinstance(message, dict):
        raise FileFormatError(f"Line {line}: {where} is not an object.")
    unknown = sorted(set(message) - MESSAGE_KEYS)
    if unknown:
        raise FileFormatError(f"Line {line}: {where} has unrecognized key '{unknown[0]}'.")
    if message.get("role") not in ROLES:
        raise FileFormatError(
            f"Line {line}: {where} has invalid role {message.get('role')!r}; "
            f"use one of {', '.join(sorted(ROLES))}."
        )
    content = message.get("content")
    if content is None and message["role"] == "assistant" and message.get("tool_calls"):
        return
    if not isinstance(content, str) or not content.strip():
        raise FileFormatError(f"Line {line}: {where} has no text content.")
    if "weight" in message and message["weight"] not in (0, 1):
        raise FileFormatError(f"Line {line}: {where} has weight {message['weight']!r}; use 0 or 1.")


def _check_messages(line: int, where: str, messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise FileFormatError(f"Line {line}: '{where}' must be a non-empty list of messages.")
    for index, message in enumerate(messages):
        _check_message(line, f"{where}[{index}]", message)


def _check_sft(line: int, row: dict[str, Any]) -> None:
    unknown = sorted(set(row) - SFT_KEYS)
    if unknown:
        raise FileFormatError(f"Line {line}: unrecognized key '{unknown[0]}'.")
    if "messages" not in row:
        raise FileFormatError(f"Line {line}: missing 'messages'.")
    _check_messages(line, "messages", row["messages"])
    if not any(m["role"] == "assistant" for m in row["messages"]):
        raise FileFormatError(
            f"Line {line}: no assistant message; every example needs at least one."
        )


def _check_output(line: int, key: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) != 1:
        raise FileFormatError(f"Line {line}: '{key}' must be a list with exactly one message.")
    _check_message(line, f"{key}[0]", value[0])
    if value[0]["role"] != "assistant":
        raise FileFormatError(f"Line {line}: '{key}[0]' must be an assistant message.")


def _check_dpo(line: int, row: dict[str, Any]) -> None:
    unknown = sorted(set(row) - DPO_KEYS)
    if unknown:
        raise FileFormatError(f"Line {line}: unrecognized key '{unknown[0]}'.")
    for key in ("input", "preferred_output", "non_preferred_output"):
        if key not in row:
            raise FileFormatError(f"Line {line}: missing '{key}'.")
    given = row["input"]
    if not isinstance(given, dict) or "messages" not in given:
        raise FileFormatError(f"Line {line}: 'input' must be an object with 'messages'.")
    unknown = sorted(set(given) - DPO_INPUT_KEYS)
    if unknown:
        raise FileFormatError(f"Line {line}: 'input' has unrecognized key '{unknown[0]}'.")
    _check_messages(line, "input.messages", given["messages"])
    _check_output(line, "preferred_output", row["preferred_output"])
    _check_output(line, "non_preferred_output", row["non_preferred_output"])


def check_examples(rows: list[Any], method: str, min_examples: int = MIN_EXAMPLES) -> None:
    """Raise FileFormatError naming the first bad line for a `supervised` or `dpo` file.

    >>> row = {"messages": [{"role": "user", "content": "Hi"}]}
    >>> check_examples([row] * 10, "supervised")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    redraft...FileFormatError: Line 1: no assistant message; every example needs at least one.
    """
    check = _check_dpo if method == "dpo" else _check_sft
    for line, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise FileFormatError(f"Line {line}: each line must be a JSON object.")
        check(line, row)
    if len(rows) < min_examples:
        raise FileFormatError(
            f"The file has {len(rows)} example(s), but must have at least {min_examples} examples."
        )


def example_tokens(rows: list[Any]) -> int:
    """Estimated tokens in a file's examples (all message texts)."""
    return count_tokens(json.dumps(rows)) // 2


def train_loss(step: int, total_steps: int, seed: int) -> float:
    """A loss curve that falls with the step, with a little seeded wobble.

    >>> [train_loss(s, 4, 0) for s in (1, 4)]
    [1.6, 0.7]
    """
    # The wobble (at most 0.01) never outweighs the fall per step, so the curve only falls.
    wobble = ((seed * 31 + step * 17) % 7 - 3) / 300 if 1 < step < total_steps else 0.0
    return round(1.6 - 0.9 * (step - 1) / max(total_steps - 1, 1) + wobble, 4)
