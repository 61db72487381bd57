"""The one way redraft builds an OpenAI client: drafting, judging, golden rewrites, A/B,
fine-tuning jobs and auto mode all get the same key rule, timeout and retries."""

from __future__ import annotations

import openai

from redraft.errors import ConfigError
from redraft.settings import Settings

MISSING_KEY = (
    "OPENAI_API_KEY is not set — export it (any non-empty value works for a local "
    "OpenAI-compatible server such as `redraft local serve`, vLLM or Ollama)"
)


def openai_client(
    settings: Settings,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    max_retries: int | None = None,
) -> openai.OpenAI:
    """A client for `base_url` (default OPENAI_BASE_URL, else OpenAI) with `api_key` (default
    OPENAI_API_KEY), the settings' timeout and retries; ConfigError without a key.

    Drafting passes `max_retries=0`: it retries itself, so that it sees each 429 and timeout
    and can slow down (redraft.backend.pacing)."""
    key = api_key or settings.openai_api_key
    if not key:
        raise ConfigError(MISSING_KEY)
    return openai.OpenAI(
        api_key=key,
        base_url=base_url or settings.openai_base_url,
        timeout=settings.call_timeout,
        max_retries=settings.max_retries if max_retries is None else max_retries,
    )
