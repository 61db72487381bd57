"""Character-level edit distance from draft to final: how far the draft was from done.

`levenshtein` counts single-character insertions, deletions and substitutions. It runs the
bit-parallel algorithm of Myers (1999) in Hyyrö's formulation, with one Python integer as the
bit vector, so a pair of 2,000-character emails costs a few thousand integer operations rather
than four million table cells.
"""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Edit distance between two strings (insert, delete, substitute: cost 1 each).

    >>> levenshtein("kitten", "sitting"), levenshtein("", "abc"), levenshtein("same", "same")
    (3, 3, 0)
    """
    if a == b:
        return 0
    # Common prefix and suffix never cost anything; drafts and finals share most of their text.
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a = a[start : len(a) - end]
    b = b[start : len(b) - end]
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    # Bit i of peq[c] says b[i] == c; the pattern is the shorter string, the text the longer.
    peq: dict[str, int] = {}
    for i, char in enumerate(b):
        peq[char] = peq.get(char, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    plus, minus, score = full, 0, m
    for char in a:
        eq = peq.get(char, 0)
        xv = eq | minus
        xh = (((eq & plus) + plus) ^ plus) | eq
        h_plus = minus | (~(xh | plus) & full)
        h_minus = plus & xh
        if h_plus & top:
            score += 1
        elif h_minus & top:
            score -= 1
        h_plus = ((h_plus << 1) | 1) & full
        h_minus = (h_minus << 1) & full
        plus = h_minus | (~(xv | h_plus) & full)
        minus = h_plus & xv
    return score


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
