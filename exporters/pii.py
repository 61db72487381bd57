"""Mask email addresses and phone numbers in exported text (pure)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from redraft.exporters.records import FeedbackRecord

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

# \w is Unicode-aware, so internationalised addresses (ünïcode@exämple.de) are caught too.
_EMAIL = re.compile(
    r"(?<![\w.+-])[\w%+-][\w.%+-]*@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
)
# A phone number: optional +country, then digit groups split by spaces, dots, dashes or
# brackets, 7 to 15 digits in all (E.164), not part of a longer token such as a date or an id.
_PHONE = re.compile(
    r"(?<![\w+/.-])(?:\+|00)?\(?\d[\d \t().-]{5,}\d(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,5})?(?![\w/-])"
)
# The one email address pattern: `redraft forget` and the style miner find addresses with it too.
EMAIL_ADDRESS = _EMAIL
# Digit runs that look like phones but are dates, year ranges or IP addresses.
_NOT_PHONE = re.compile(
    r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$|^\d{4}\s?-\s?\d{4}$"
    r"|^\d{1,3}(?:\.\d{1,3}){3}$"
)


def mask_text(text: str) -> str:
    """Replace email addresses and phone numbers with placeholders.

    >>> mask_text("Mail ada.l+crm@mail.example.co.uk or call +44 (0)20 7946 0958, ref 2024-05-01.")
    'Mail [email] or call [phone], ref 2024-05-01.'
    """
    text = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE.sub(_phone_or_keep, text)


def _phone_or_keep(match: re.Match[str]) -> str:
    candidate = match.group(0)
    digits = sum(ch.isdigit() for ch in candidate)
    if not 7 <= digits <= 15 or _NOT_PHONE.match(candidate.strip()):
        return candidate
    separators = set(re.sub(r"[\d\s]", "", candidate.split("x")[0].split("ext")[0]))
    if not separators and " " not in candidate.strip() and not candidate.startswith(("+", "00")):
        # A bare run of digits (an order number, an amount) is only a phone when long enough.
        if digits < 10:
            return candidate
    return PHONE_MASK


def mask_value(value: Any) -> Any:
    """Mask strings inside a JSON-like value (dicts, lists), leaving other values alone."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(item) for item in value)
    return value


def mask_record(record: FeedbackRecord) -> FeedbackRecord:
    """A copy of the record with every exported text masked (messages, draft, final, feedback)."""
    return replace(
        record,
        messages=[{**m, "content": mask_text(m["content"])} for m in record.messages],
        final=mask_text(record.final),
        draft=mask_text(record.draft) if record.draft is not None else None,
        feedback=mask_text(record.feedback) if record.feedback is not None else None,
        human_final=mask_text(record.human_final) if record.human_final is not None else None,
        data=mask_value(record.data),
    )
