"""Character-level edit distance from draft to final: how far the draft was from done.

The one measure of an edit, for the exporters (is a rewrite big enough to be a preference
pair?), the report, the evaluation gate and the benchmarks. `levenshtein` counts single-
character insertions, deletions and substitutions, computed by rapidfuzz (C++, about 40 µs
for a pair of 800-character emails).
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz.distance import Levenshtein


def levenshtein(a: str, b: str, at_most: int | None = None) -> int:
    """Edit distance between two strings (insert, delete, substitute: cost 1 each).

    With `at_most`, counting stops past it (much faster): a larger distance is `at_most + 1`.

    >>> levenshtein("kitten", "sitting"), levenshtein("", "abc"), levenshtein("same", "same")
    (3, 3, 0)
    >>> levenshtein("kitten", "sitting", at_most=1), levenshtein("kitten", "sitting", at_most=5)
    (2, 3)
    """
    return int(Levenshtein.distance(a, b, score_cutoff=at_most))


@lru_cache(maxsize=64)  # the exporter asks for a record's draft and final twice
def normalise_whitespace(text: str) -> str:
    """Collapse runs of whitespace, as `accepted_as_is` does, so line endings cost nothing.

    >>> normalise_whitespace("Hi  there,\\r\\n\\nBest ")
    'Hi there, Best'
    """
    return " ".join(text.split())


def normalised_edit_distance(draft: str, final: str) -> float:
    """Levenshtein(draft, final) / the longer length, after whitespace normalisation; 0..1.

    0 means sent as drafted, 1 means nothing of the draft survived in place.

    >>> normalised_edit_distance("Hello Ann", "Hello Anna"), normalised_edit_distance("", "")
    (0.1, 0.0)
    """
    a, b = normalise_whitespace(draft), normalise_whitespace(final)
    longest = max(len(a), len(b))
    if longest == 0:
        return 0.0
    return levenshtein(a, b) / longest
