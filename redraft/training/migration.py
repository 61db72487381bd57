"""Moving off an OpenAI fine-tune: its training files become extra SFT rows for `train trl`.

An agency's OpenAI fine-tuning files are chat JSONL (`{"messages": [...]}`, the last message
the assistant's reply); the open model learns that old style plus the writers' feedback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from redraft.training.errors import ExportFolderError

ROLES = {"system", "user", "assistant"}


def openai_sft_row(line: str, where: str) -> dict[str, Any]:
    """One `{"messages": [...]}` line checked; ExportFolderError naming `where` if it is bad.

    >>> openai_sft_row('{"messages": [{"role": "user", "content": "Brief"},'
    ...                ' {"role": "assistant", "content": "Email"}]}', "f:1")["messages"][1]
    {'role': 'assistant', 'content': 'Email'}
    """
    try:
        row = json.loads(line)
    except ValueError:
        raise ExportFolderError(f"{where}: not JSON — fix or remove the line") from None
    messages = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ExportFolderError(f"{where}: no `messages` list — expected OpenAI chat JSONL")
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise ExportFolderError(
                f"{where}: each message needs a role (system, user, assistant) and text content"
            )
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise ExportFolderError(f"{where}: the last message must be the assistant's reply")
    return {"messages": messages}


def read_openai_sft(path: Path) -> list[dict[str, Any]]:
    """Every row of an OpenAI chat fine-tuning file (blank lines skipped)."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                rows.append(openai_sft_row(line, f"{path}:{number}"))
    if not rows:
        raise ExportFolderError(f"{path} holds no rows")
    return rows
