"""Dataset checks before anything is marked ready: structure, tokens, limits, size, duplicates.

`RowValidator` checks rows one at a time (the exporter feeds it as it writes); `validate_file`
runs the same checks on any JSONL file and names the line of each problem.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.schema import detect_format, row_problems, undetected
from redraft.exporters.tokens import TokenCounter

VALIDATION_FORMATS = ("openai-sft", "openai-dpo", "trl-sft", "trl-dpo", "trl-kto")
MIN_EXAMPLES = 10
GOOD_EXAMPLES = 50
DEFAULT_CONTEXT_LIMIT = 65_536
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_EPOCHS = 3
# USD per 1M training tokens (OpenAI's published prices; an estimate, check before paying).
TRAINING_PRICES = {
    "gpt-4o-mini-2024-07-18": 3.00,
    "gpt-4o-2024-08-06": 25.00,
    "gpt-4.1-nano-2025-04-14": 1.50,
    "gpt-4.1-mini-2025-04-14": 5.00,
    "gpt-4.1-2025-04-14": 25.00,
}
MAX_LISTED = 200  # problems kept for printing; counts keep going past it


@dataclass(frozen=True)
class Problem:
    """One finding, tied to a line of the file when it has one."""

    severity: str  # "error" or "warning"
    message: str
    line: int | None = None

    def text(self, name: str) -> str:
        """`file:line: error: message`, as compilers print it."""
        where = f"{name}:{self.line}" if self.line is not None else name
        return f"{where}: {self.severity}: {self.message}"


@dataclass
class ValidationReport:
    """Everything `validate` says about one file."""

    format: str
    rows: int = 0
    errors: int = 0
    warnings: int = 0
    problems: list[Problem] = field(default_factory=list)
    tokens_total: int = 0
    tokens_max: int = 0
    billed_tokens: int = 0
    over_limit: int = 0
    duplicates: int = 0
    token_note: str = ""
    context_limit: int = DEFAULT_CONTEXT_LIMIT
    model: str | None = None
    epochs: int | None = None
    estimated_cost_usd: float | None = None

    @property
    def ok(self) -> bool:
        """No errors."""
        return self.errors == 0

    def summary(self) -> dict[str, Any]:
        """The manifest entry: counts, tokens and the estimate, no problem lists."""
        mean = round(self.tokens_total / self.rows, 1) if self.rows else 0
        return {
            "format": self.format,
            "rows": self.rows,
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "tokens": {"total": self.tokens_total, "max": self.tokens_max, "mean": mean},
            "token_counts": self.token_note,
            "context_limit": self.context_limit,
            "over_context_limit": self.over_limit,
            "duplicates": self.duplicates,
            "estimate": self.estimate(),
        }

    def estimate(self) -> dict[str, Any] | None:
        """The estimated training cost, or None when no price is known."""
        if self.estimated_cost_usd is None:
            return None
        return {
            "model": self.model,
            "epochs": self.epochs,
            "billed_tokens": self.billed_tokens * (self.epochs or 1),
            "usd": self.estimated_cost_usd,
            "note": "estimate from a fixed price table — check current prices before training",
        }


class RowValidator:
    """Checks rows of one format, one at a time; `finish()` adds the whole-file checks."""

    def __init__(
        self,
        fmt: str,
        counter: TokenCounter,
        context_limit: int = DEFAULT_CONTEXT_LIMIT,
        check_minimum: bool = True,
        model: str | None = None,
        epochs: int = DEFAULT_EPOCHS,
    ) -> None:
        if fmt not in VALIDATION_FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.report = ValidationReport(fmt, context_limit=context_limit, token_note=counter.note)
        self.counter = counter
        self.check_minimum = check_minimum
        self.model = model or (DEFAULT_MODEL if fmt.startswith("openai") else None)
        self.epochs = epochs
        self._seen: dict[bytes, int] = {}

    def _add(self, severity: str, message: str, line: int | None) -> None:
        report = self.report
        if severity == "error":
            report.errors += 1
        else:
            report.warnings += 1
        if len(report.problems) < MAX_LISTED:
            report.problems.append(Problem(severity, message, line))

    def add(self, line: int, row: Any, text: str | None = None) -> None:
        """Check one parsed row (a dict from one JSONL line).

        `text` is the row as written, when its keys always come in one order (the exporter's
        own rows): duplicates are then found from it without serialising the row again.
        """
        self.report.rows += 1
        if type(row) is not dict and not isinstance(row, Mapping):
            self._add("error", f"expected a JSON object, got {type(row).__name__}", line)
            return
        if text is None:
            text = json.dumps(row, sort_keys=True, ensure_ascii=False)
        digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
        first = self._seen.setdefault(digest, line)
        if first != line:
            self.report.duplicates += 1
            self._add("warning", f"duplicate of line {first}", line)
        problems = row_problems(self.report.format, row)
        for message in problems:
            self._add("error", message, line)
        if problems:
            return
        longest, billed = _tokens(self.report.format, row, self.counter)
        report = self.report
        report.tokens_total += billed
        report.tokens_max = max(report.tokens_max, longest)
        report.billed_tokens += min(billed, report.context_limit)
        if longest > report.context_limit:
            report.over_limit += 1
            self._add(
                "error",
                f"{longest:,} tokens, over the {report.context_limit:,}-token context limit"
                " — shorten this example or drop it",
                line,
            )

    def add_invalid(self, line: int, message: str) -> None:
        """Record a line that cannot be checked as a row, with why."""
        self.report.rows += 1
        self._add("error", message, line)

    def finish(self) -> ValidationReport:
        """Whole-file checks (minimum size) and the cost estimate; returns the report."""
        report = self.report
        if self.check_minimum:
            if report.rows < MIN_EXAMPLES:
                self._add(
                    "error",
                    f"{_examples(report.rows)}: fine-tuning needs at least {MIN_EXAMPLES}"
                    f" — aim for {GOOD_EXAMPLES}+ for a clear improvement",
                    None,
                )
            elif report.rows < GOOD_EXAMPLES:
                self._add(
                    "warning",
                    f"{report.rows} examples: enough to start, {GOOD_EXAMPLES}+ usually needed"
                    " for a clear improvement",
                    None,
                )
        price = TRAINING_PRICES.get(self.model or "")
        if price is not None:
            report.model, report.epochs = self.model, self.epochs
            report.estimated_cost_usd = round(
                report.billed_tokens * self.epochs * price / 1_000_000, 2
            )
        self._seen.clear()
        return report


class NotJsonlError(RedraftError):
    """The file is one JSON document (a Label Studio export, say), not one example per line."""


def check_jsonl(path: Path) -> None:
    """Refuse a file that is one JSON document spread over lines (a list, or an object over
    several lines): validating it line by line would only say every line is broken."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = next((line.strip() for line in handle if line.strip()), "")
    if first.startswith("[") or first == "{":
        raise NotJsonlError(
            f"{path} is one JSON document, not JSONL (one training example per line) — "
            "validate the .jsonl files `redraft export` writes; a Label Studio export is "
            f"read by `redraft export --from-file {path}`"
        )


def validate_file(
    path: Path,
    fmt: str,
    counter: TokenCounter,
    context_limit: int = DEFAULT_CONTEXT_LIMIT,
    model: str | None = None,
    epochs: int = DEFAULT_EPOCHS,
    check_minimum: bool = True,
) -> ValidationReport:
    """Validate a JSONL file line by line; `fmt` "auto" detects it from the first row it can.
    A file that is one JSON document raises NotJsonlError.

    Lines read before the format is known (not JSON, or keys that match no format) are errors
    naming why; a file where no line matches any format has the format "unknown".
    """
    check_jsonl(path)
    validator = None
    if fmt != "auto":
        validator = RowValidator(fmt, counter, context_limit, check_minimum, model, epochs)
    pending: list[tuple[int, str]] = []  # errors on lines read before the format is known
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                if validator is None:
                    pending.append((number, f"not valid JSON ({exc.msg})"))
                else:
                    validator.add_invalid(number, f"not valid JSON ({exc.msg})")
                continue
            if validator is None:
                chosen = detect_format(row, path.name)
                if chosen is None:
                    pending.append((number, undetected(row)))
                    continue
                validator = RowValidator(
                    chosen, counter, context_limit, check_minimum, model, epochs
                )
                for line, message in pending:
                    validator.add_invalid(line, message)
            validator.add(number, row)
    if validator is None:
        return _unknown_format(pending, counter, context_limit, check_minimum)
    return validator.finish()


def _unknown_format(
    pending: list[tuple[int, str]],
    counter: TokenCounter,
    context_limit: int,
    check_minimum: bool = True,
) -> ValidationReport:
    """The report for a file in which no line matched a format (an empty validation file
    is no error: an export with --validation-ratio 0 writes one)."""
    problems = [Problem("error", message, line) for line, message in pending]
    if not pending and check_minimum:
        problems.append(Problem("error", "no rows — the file is empty", None))
    return ValidationReport(
        "unknown",
        rows=len(pending),
        errors=len(problems),
        problems=problems[:MAX_LISTED],
        token_note=counter.note,
        context_limit=context_limit,
    )


def _tokens(fmt: str, row: Mapping[str, Any], counter: TokenCounter) -> tuple[int, int]:
    """(tokens of the longest prompt+answer, tokens billed for the example)."""
    if fmt in ("openai-sft", "trl-sft"):
        n = counter.count_messages(row["messages"])
        return n, n
    if fmt == "openai-dpo":
        prompt, good, bad = (
            row["input"]["messages"],
            row["preferred_output"],
            row["non_preferred_output"],
        )
    elif fmt == "trl-dpo":
        prompt, good, bad = row["prompt"], row["chosen"], row["rejected"]
    else:
        n = counter.count_messages([*row["prompt"], *row["completion"]])
        return n, n
    with_good = counter.count_messages([*prompt, *good])
    with_bad = counter.count_messages([*prompt, *bad])
    return max(with_good, with_bad), with_good + counter.count_messages(bad)


def _examples(count: int) -> str:
    """`1 example`, `2 examples`."""
    return f"{count:,} example" + ("" if count == 1 else "s")
