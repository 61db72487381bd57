"""Dataset rows from feedback records: which rows each kind of annotation gives (pure).

| case                             | SFT             | DPO            | KTO                     |
|----------------------------------|-----------------|----------------|-------------------------|
| final differs from draft         | final           | final ≻ draft  | final true; draft rated |
| accepted as is                   | final           | —              | final true              |
| low rating, no rewrite, feedback | golden (opt-in) | golden ≻ draft | draft false             |

A rewritten draft without a rating (imported history often has none) gives no KTO row of its
own; the export counts it as left out, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from redraft.editdistance import levenshtein, normalise_whitespace
from redraft.exporters.records import FeedbackRecord
from redraft.knobs import knob
from redraft.prompting import Message

FORMATS = ("openai_sft", "openai_dpo", "trl_sft", "trl_dpo", "trl_kto")
Row = dict[str, Any]


@dataclass(frozen=True)
class RowPolicy:
    """Which rows a record yields; every field is an `export` flag and lands in the manifest."""

    min_rating_sft: int = knob(
        3, "An accepted-as-is draft becomes an SFT row only at this rating or above."
    )
    min_edit_chars: int = knob(
        10,
        "Characters changed from draft to final (edit distance, whitespace runs ignored) for a"
        " preference pair.",
    )
    min_edit_ratio: float = knob(
        0.0, "Those changed characters as a share of the longer text (0-1), for a pair."
    )
    include_accepted: bool = knob(
        True, "Whether drafts sent unchanged become rows.", negative="exclude-accepted"
    )
    kto_threshold: int = knob(
        4, "A rated draft is a desirable KTO example at this rating or above."
    )
    low_rating: int = knob(2, "Ratings at or below this are 'low' (golden-sample candidates).")


def assistant(text: str) -> Message:
    """An assistant message."""
    return {"role": "assistant", "content": text}


def openai_sft(messages: list[Message], completion: str) -> Row:
    """OpenAI chat fine-tuning row.

    >>> openai_sft([{"role": "user", "content": "Brief"}], "Email")
    {'messages': [{'role': 'user', 'content': 'Brief'}, {'role': 'assistant', 'content': 'Email'}]}
    """
    return {"messages": [*messages, assistant(completion)]}


def openai_dpo(messages: list[Message], chosen: str, rejected: str) -> Row:
    """OpenAI preference (DPO) row.

    >>> openai_dpo([{"role": "user", "content": "Brief"}], "Good", "Bad")
    {'input': {'messages': [{'role': 'user', 'content': 'Brief'}]}, \
'preferred_output': [{'role': 'assistant', 'content': 'Good'}], \
'non_preferred_output': [{'role': 'assistant', 'content': 'Bad'}]}
    """
    return {
        "input": {"messages": list(messages)},
        "preferred_output": [assistant(chosen)],
        "non_preferred_output": [assistant(rejected)],
    }


def trl_sft(messages: list[Message], completion: str) -> Row:
    """TRL SFTTrainer conversational row.

    >>> trl_sft([{"role": "user", "content": "Brief"}], "Email")
    {'messages': [{'role': 'user', 'content': 'Brief'}, {'role': 'assistant', 'content': 'Email'}]}
    """
    return {"messages": [*messages, assistant(completion)]}


def trl_dpo(messages: list[Message], chosen: str, rejected: str) -> Row:
    """TRL DPOTrainer conversational preference row.

    >>> trl_dpo([{"role": "user", "content": "Brief"}], "Good", "Bad")
    {'prompt': [{'role': 'user', 'content': 'Brief'}], \
'chosen': [{'role': 'assistant', 'content': 'Good'}], \
'rejected': [{'role': 'assistant', 'content': 'Bad'}]}
    """
    return {
        "prompt": list(messages),
        "chosen": [assistant(chosen)],
        "rejected": [assistant(rejected)],
    }


def trl_kto(messages: list[Message], completion: str, label: bool) -> Row:
    """TRL KTOTrainer unpaired row.

    >>> trl_kto([{"role": "user", "content": "Brief"}], "Email", True)
    {'prompt': [{'role': 'user', 'content': 'Brief'}], \
'completion': [{'role': 'assistant', 'content': 'Email'}], 'label': True}
    """
    return {"prompt": list(messages), "completion": [assistant(completion)], "label": label}


def edit_size(draft: str, final: str) -> tuple[int, float]:
    """Characters changed from draft to final (the edit distance, whitespace runs collapsed),
    and their share of the longer text (0-1): the one measure the report uses too.

    >>> edit_size("Hi Ada, want a demo?", "Hi Ada, want a short demo?")
    (6, 0.23)
    >>> edit_size("Keep it short", "Keep it short!")
    (1, 0.07)
    """
    a, b = normalise_whitespace(draft), normalise_whitespace(final)
    changed = levenshtein(a, b)
    longest = max(len(a), len(b))
    return changed, min(1.0, round(changed / longest, 2)) if longest else 0.0


def classify(record: FeedbackRecord, policy: RowPolicy) -> str:
    """Which table row a record falls in: rewritten, accepted, low_no_rewrite, golden, no_draft.

    >>> r = FeedbackRecord(1, 2, [], final="Same", draft="Same", rating=1, feedback="Too flat")
    >>> classify(r, RowPolicy())
    'low_no_rewrite'
    """
    if record.machine_written:
        return "golden"
    if record.draft is None:
        return "no_draft"
    if not record.accepted_as_is:
        return "rewritten"
    low = record.rating is not None and record.rating <= policy.low_rating
    return "low_no_rewrite" if low and record.feedback else "accepted"


NO_RATING = "draft has no rating"


@dataclass(frozen=True)
class RecordRows:
    """What one record yields: rows per format; why it yields none (else ""); and, per format,
    why a row the table gives is left out (a rewritten draft without a rating in KTO)."""

    rows: dict[str, list[Row]]
    reason: str = ""
    left_out: tuple[tuple[str, str], ...] = ()


def record_rows(record: FeedbackRecord, policy: RowPolicy) -> tuple[dict[str, list[Row]], str]:
    """Rows per format for one record, and a reason when it yields none (pure).

    >>> r = FeedbackRecord(1, 2, [{"role": "user", "content": "B"}],
    ...                    final="Hi Ada, a demo next week?", draft="Hello, demo?", rating=2)
    >>> rows, why = record_rows(r, RowPolicy())
    >>> rows["trl_kto"]
    [{'prompt': [{'role': 'user', 'content': 'B'}], \
'completion': [{'role': 'assistant', 'content': 'Hi Ada, a demo next week?'}], 'label': True}, \
{'prompt': [{'role': 'user', 'content': 'B'}], \
'completion': [{'role': 'assistant', 'content': 'Hello, demo?'}], 'label': False}]
    """
    built = rows_of_record(record, policy)
    return built.rows, built.reason


def rows_of_record(record: FeedbackRecord, policy: RowPolicy) -> RecordRows:
    """`record_rows` with the rows it leaves out and why (pure): the export counts them.

    >>> r = FeedbackRecord(1, 2, [], final="Hi Ada, a demo next week?", draft="Hello, demo?")
    >>> rows_of_record(r, RowPolicy()).left_out
    (('trl_kto', 'draft has no rating'),)
    """
    rows: dict[str, list[Row]] = {name: [] for name in FORMATS}
    left_out: list[tuple[str, str]] = []
    case = classify(record, policy)
    messages, final, draft = record.messages, record.final, record.draft
    reason = ""
    if case in ("rewritten", "no_draft", "golden"):
        _sft(rows, messages, final)
        if case == "rewritten":
            rows["trl_kto"].append(trl_kto(messages, final, True))
        if case == "no_draft":
            rows["trl_kto"].append(trl_kto(messages, final, True))
            reason = "no draft to pair with"
        elif case == "golden" or _big_enough(draft or "", final, policy):
            _pair(rows, messages, final, draft or "")
        if case == "golden":
            rows["trl_kto"].append(trl_kto(messages, draft or "", False))
        elif case == "rewritten" and record.rating is not None:
            rows["trl_kto"].append(
                trl_kto(messages, draft or "", record.rating >= policy.kto_threshold)
            )
        elif case == "rewritten":  # history without a rating: KTO cannot label the draft
            left_out.append(("trl_kto", NO_RATING))
    elif case == "low_no_rewrite":
        rows["trl_kto"].append(trl_kto(messages, draft or "", False))
    elif not policy.include_accepted:
        reason = "accepted as is (excluded by --exclude-accepted)"
    else:
        rating = record.rating
        if rating is None or rating >= policy.min_rating_sft:
            _sft(rows, messages, final)
        kto_label = rating is None or rating >= policy.kto_threshold
        rows["trl_kto"].append(trl_kto(messages, final, kto_label))
    if any(rows.values()):
        return RecordRows(rows, "", tuple(left_out))
    return RecordRows(rows, reason or f"yields no rows ({case})", tuple(left_out))


def _sft(rows: dict[str, list[Row]], messages: list[Message], completion: str) -> None:
    rows["openai_sft"].append(openai_sft(messages, completion))
    rows["trl_sft"].append(trl_sft(messages, completion))


def _pair(rows: dict[str, list[Row]], messages: list[Message], chosen: str, rejected: str) -> None:
    rows["openai_dpo"].append(openai_dpo(messages, chosen, rejected))
    rows["trl_dpo"].append(trl_dpo(messages, chosen, rejected))


def _big_enough(draft: str, final: str, policy: RowPolicy) -> bool:
    """`edit_size` against the policy's minimums, measured only as far as they need.

    Passing is monotone in the distance: find a distance that passes (the smallest, for
    speed) and let the edit distance stop there; below it the distance is exact. Most
    rewrites differ by far more than the minimum, and stopping early is much faster.
    """
    a, b = normalise_whitespace(draft), normalise_whitespace(final)
    longest = max(len(a), len(b))

    def passes(changed: int) -> bool:
        ratio = min(1.0, round(changed / longest, 2)) if longest else 0.0
        return changed >= policy.min_edit_chars and ratio >= policy.min_edit_ratio

    # round(d / longest, 2) >= ratio needs d >= (ratio - 0.005) * longest: start just below.
    start = max(policy.min_edit_chars, math.floor((policy.min_edit_ratio - 0.006) * longest), 0)
    enough = next((d for d in range(start, longest + 1) if passes(d)), None)
    if enough is None:  # not even every character changed would pass
        return False
    if enough == 0:
        return True
    return passes(levenshtein(a, b, at_most=enough - 1))
