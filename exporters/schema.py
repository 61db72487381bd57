"""The row formats, key by key: what OpenAI's fine-tuning API and TRL's trainers accept (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redraft.wording import noun

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_MESSAGE_KEYS = {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"}
_TOP_KEYS = {
    "openai-sft": ({"messages"}, {"tools", "parallel_tool_calls", "functions"}),
    "openai-dpo": ({"input", "preferred_output", "non_preferred_output"}, set()),
    "trl-sft": ({"messages"}, set()),
    "trl-dpo": ({"prompt", "chosen", "rejected"}, set()),
    "trl-kto": ({"prompt", "completion", "label"}, set()),
}


def detect_format(row: Any, filename: str = "") -> str | None:
    """Guess a row's format from its keys (and `trl_` in the file name for chat rows).

    >>> detect_format({"prompt": [], "completion": [], "label": True})
    'trl-kto'
    """
    if not isinstance(row, Mapping):
        return None
    keys = set(row)
    if "messages" in keys:
        return "trl-sft" if Path(filename).name.startswith("trl_") else "openai-sft"
    if "input" in keys and "preferred_output" in keys:
        return "openai-dpo"
    if "prompt" in keys and "chosen" in keys:
        return "trl-dpo"
    if "prompt" in keys and "completion" in keys:
        return "trl-kto"
    return None


def undetected(row: Any) -> str:
    """Why a row matches no format: its keys, and the keys each format needs.

    >>> undetected({"text": "Hi", "label": True})
    'cannot tell the format from keys `label`, `text`: openai-sft and trl-sft need `messages`; \
openai-dpo needs `input`, `non_preferred_output`, `preferred_output`; trl-dpo needs `chosen`, \
`prompt`, `rejected`; trl-kto needs `completion`, `label`, `prompt` — pass --format'
    """
    if not isinstance(row, Mapping):
        return f"cannot tell the format from a JSON {type(row).__name__} — expected an object"
    keys = ", ".join(f"`{k}`" for k in sorted(map(str, row))) or "(none)"
    needs = []
    for fmt in ("openai-sft", "openai-dpo", "trl-dpo", "trl-kto"):
        required = ", ".join(f"`{k}`" for k in sorted(_TOP_KEYS[fmt][0]))
        name = "openai-sft and trl-sft need" if fmt == "openai-sft" else f"{fmt} needs"
        needs.append(f"{name} {required}")
    return f"cannot tell the format from keys {keys}: {'; '.join(needs)} — pass --format"


def row_problems(fmt: str, row: Mapping[str, Any]) -> list[str]:
    """What is wrong with one row of a format; empty when nothing is.

    >>> row_problems("trl-kto", {"prompt": [{"role": "user", "content": "B"}], "label": 1})
    ['missing key `completion`']
    """
    required, optional = _TOP_KEYS[fmt]
    keys = set(row)
    missing = required - keys
    problems = [f"missing key `{key}`" for key in sorted(missing)]
    unknown = keys - required - optional
    if unknown:
        problems.append(
            f"unknown {noun(len(unknown), 'key')} {', '.join(sorted(unknown))} — remove them"
        )
    if missing:
        return problems
    if fmt in ("openai-sft", "trl-sft"):
        problems += _messages(row["messages"], "messages")
        if not problems and not any(m.get("role") == "assistant" for m in row["messages"]):
            problems.append("missing assistant message — add the reply the model should learn")
    elif fmt == "openai-dpo":
        source = row["input"]
        if not isinstance(source, Mapping) or "messages" not in source:
            return ["`input` must be an object with `messages`"]
        problems += _messages(source["messages"], "input.messages")
        problems += _outputs(row["preferred_output"], "preferred_output")
        problems += _outputs(row["non_preferred_output"], "non_preferred_output")
        if not problems and row["preferred_output"] == row["non_preferred_output"]:
            problems.append("preferred and non-preferred outputs are identical")
    elif fmt == "trl-dpo":
        problems += _messages(row["prompt"], "prompt")
        problems += _outputs(row["chosen"], "chosen") + _outputs(row["rejected"], "rejected")
        if not problems and row["chosen"] == row["rejected"]:
            problems.append("chosen and rejected are identical")
    else:
        problems += _messages(row["prompt"], "prompt") + _outputs(row["completion"], "completion")
        if not isinstance(row["label"], bool):
            problems.append("`label` must be true or false")
    return problems


def _messages(messages: Any, where: str) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return [f"`{where}` must be a non-empty list of messages"]
    problems = []
    for index, message in enumerate(messages):
        # The usual message, a known role and text (every row the exporter writes), passes
        # every check below: say so without making them one by one.
        if type(message) is dict and len(message) == 2 and message.get("role") in _ROLES:
            content = message.get("content")
            if type(content) is str and content.strip():
                continue
        if not isinstance(message, Mapping):
            problems.append(f"{where}[{index}] is not an object")
            continue
        role = message.get("role")
        if role not in _ROLES:
            problems.append(f"{where}[{index}] has an unknown role {role!r}")
        unknown = set(message) - _MESSAGE_KEYS
        if unknown:
            names = ", ".join(sorted(unknown))
            problems.append(f"{where}[{index}] has unknown {noun(len(unknown), 'key')} {names}")
        content = message.get("content")
        if "tool_calls" in message or "function_call" in message:
            continue
        if not isinstance(content, str) or not content.strip():
            problems.append(f"{where}[{index}] ({role}) has empty content")
    return problems


def _outputs(outputs: Any, where: str) -> list[str]:
    if not isinstance(outputs, list) or len(outputs) != 1:
        return [f"`{where}` must be a list with exactly one assistant message"]
    problems = _messages(outputs, where)
    if not problems and outputs[0].get("role") != "assistant":
        problems.append(f"{where}[0] must have role assistant")
    return problems
