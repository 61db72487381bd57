"""Exact figures for the report's statistics: intervals, edit distance, agreement."""

from __future__ import annotations

import random

import pytest

from redraft.editdistance import levenshtein, normalised_edit_distance
from redraft.report.agreement import krippendorff_alpha, weighted_kappa
from redraft.report.stats import Estimate, format_p, mean_interval, median, wilson_interval


def _rounded(e: Estimate, digits: int = 4) -> tuple:
    r = lambda v: None if v is None else round(v, digits)  # noqa: E731
    return (r(e.value), r(e.low), r(e.high), e.n)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # mean 4, sd 1, se 1/sqrt(3) = 0.57735; t(0.975, 2) = 4.302653 -> half 2.484138
        ([3, 4, 5], (4.0, 1.5159, 6.4841, 3)),
        # mean 2.5, sd 1.290994, se 0.645497; t(0.975, 3) = 3.182446 -> half 2.054260
        ([1, 2, 3, 4], (2.5, 0.4457, 4.5543, 4)),
        ([5], (5.0, None, None, 1)),
        ([], (None, None, None, 0)),
    ],
)
def test_mean_interval_is_the_student_t_interval(values, expected):
    assert _rounded(mean_interval(values)) == expected


def test_mean_interval_is_clipped_to_bounds():
    assert _rounded(mean_interval([3, 4, 5], bounds=(1.0, 5.0))) == (4.0, 1.5159, 5.0, 3)


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [
        # p 0.8, z 1.959964: centre (0.8 + 0.192073) / 1.384146 = 0.716741, half 0.226580
        (8, 10, (0.8, 0.4902, 0.9433, 10)),
        # p 0.5: centre 0.5, half 1.416004 * sqrt(0.025 + 0.009604) = 0.263404
        (5, 10, (0.5, 0.2366, 0.7634, 10)),
        # p 0: the interval starts at 0 and reaches z^2/(n + z^2) = 0.277533
        (0, 10, (0.0, 0.0, 0.2775, 10)),
        (0, 0, (None, None, None, 0)),
    ],
)
def test_wilson_interval(successes, n, expected):
    assert _rounded(wilson_interval(successes, n)) == expected


def test_median_and_p_formatting():
    assert (median([3, 1, 2]), median([4, 1, 3, 2]), median([])) == (2.0, 2.5, None)
    assert [format_p(p) for p in (0.0004, 0.004, 0.0437, 0.31, None)] == [
        "p<0.001",
        "p=0.004",
        "p=0.044",
        "p=0.31",
        "p=n/a",
    ]


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("Hi Ann,", "Hi Anna,", 1),
        ("Subject: Hello", "Subject: Hello", 0),
        ("ab" * 100, "ba" * 100, 2),
    ],
)
def test_levenshtein_known_pairs(a, b, distance):
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def _table_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_levenshtein_matches_the_table_algorithm_on_random_strings():
    rng = random.Random(11)
    for _ in range(400):
        a = "".join(rng.choice("ab c") for _ in range(rng.randint(0, 90)))
        b = "".join(rng.choice("ab c") for _ in range(rng.randint(0, 90)))
        assert levenshtein(a, b) == _table_distance(a, b), (a, b)


def test_normalised_edit_distance():
    # 1 insertion over the longer length 10; whitespace runs do not count.
    assert normalised_edit_distance("Hello Ann", "Hello  Anna\n") == 0.1
    assert normalised_edit_distance("abcd", "wxyz") == 1.0
    assert normalised_edit_distance("same text", " same\ntext ") == 0.0
    assert normalised_edit_distance("", "") == 0.0


def test_krippendorff_alpha_by_hand():
    # Coincidences: o11=2, o22=2, o33=2, o34=o43=1; marginals n1=2 n2=2 n3=3 n4=1, n=8.
    # Interval: observed sum 2, expected sum 2*(4+24+18+6+8+3) = 126 -> 1 - 7*2/126 = 0.888889
    units = [[1, 1], [2, 2], [3, 3], [3, 4]]
    assert round(krippendorff_alpha(units, "interval"), 6) == 0.888889
    # Nominal: observed 2, expected 64 - (4+4+9+1) = 46 -> 1 - 7*2/46 = 0.695652
    assert round(krippendorff_alpha(units, "nominal"), 6) == 0.695652
    # Ordinal d(3,4) = (3+1 - (3+1)/2)^2 = 4; expected: d12=4, d13=(2+2+3-2.5)^2=20.25,
    # d14=(8-1.5)^2=42.25, d23=(5-2.5)^2=6.25, d24=(6-1.5)^2=20.25, d34=4
    # sum n_c n_k d = 2*(16+121.5+84.5+37.5+40.5+12) = 624 -> 1 - 7*8/624 = 0.910256
    assert round(krippendorff_alpha(units, "ordinal"), 6) == 0.910256
    assert krippendorff_alpha([[1], [2]]) is None
    assert krippendorff_alpha([[3, 3], [3, 3]]) is None


def test_weighted_kappa_by_hand():
    # Observed weighted disagreement 0.25/9; expected 3/9 -> 1 - 0.0833 = 0.916667
    assert round(weighted_kappa([1, 2, 3, 4], [1, 2, 4, 4], [1, 2, 3, 4]), 6) == 0.916667
    assert weighted_kappa([1, 2, 3], [1, 2, 3], [1, 2, 3]) == 1.0
    assert weighted_kappa([], [], [1, 2]) is None
