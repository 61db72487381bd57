"""OpenAI's self-serve fine-tuning shutdown: the date, the notice, and spotting a refusal."""

from __future__ import annotations

from datetime import date

SHUTDOWN = date(2027, 1, 6)
TRL_HINT = (
    "train an open-weights model instead: `redraft train trl EXPORT_DIR --base-model PATH_OR_ID` "
    "(pip install 'redraft[train]'), then serve it with vLLM or Ollama"
)
_REFUSAL_WORDS = ("unavailable", "not available", "no longer", "disabled", "not allowed", "access")


def days_left(today: date) -> int:
    """Days from `today` until new fine-tuning jobs stop (0 or less once closed).

    >>> days_left(date(2027, 1, 1))
    5
    """
    return (SHUTDOWN - today).days


def is_closed(today: date) -> bool:
    """Whether OpenAI self-serve fine-tuning has stopped taking new jobs on `today`."""
    return today >= SHUTDOWN


def notice(today: date) -> str:
    """The line every `train openai` run prints before it starts.

    >>> notice(date(2027, 1, 5))[-59:]
    'on 2027-01-06 — 1 day left; `redraft train trl` outlives it'
    """
    left = days_left(today)
    unit = "day" if left == 1 else "days"
    return (
        f"note: OpenAI self-serve fine-tuning stops taking new jobs on {SHUTDOWN.isoformat()} — "
        f"{left} {unit} left; `redraft train trl` outlives it"
    )


def closed_message(today: date) -> str:
    """Why no job is started on or after the shutdown date, and what to do instead."""
    return (
        f"OpenAI self-serve fine-tuning stopped taking new jobs on {SHUTDOWN.isoformat()} "
        f"(today is {today.isoformat()}) — {TRL_HINT}"
    )


def refusal_message(status_code: int, message: str) -> str | None:
    """The explanation when an API error means fine-tuning is refused to this account, else None.

    >>> refusal_message(403, "Fine-tuning is not available for your organization")[:90]
    'OpenAI refused fine-tuning (HTTP 403: Fine-tuning is not available for your organization) '
    >>> refusal_message(400, "training_file is not valid JSONL") is None
    True
    """
    text = message.lower()
    about_fine_tuning = "fine-tun" in text or "fine tun" in text or "finetun" in text
    if status_code in (400, 403, 404) and about_fine_tuning:
        if status_code == 403 or any(word in text for word in _REFUSAL_WORDS):
            return f"OpenAI refused fine-tuning (HTTP {status_code}: {message}) — {TRL_HINT}"
    return None
