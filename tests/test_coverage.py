"""Key-point matching: whole words after light normalisation, never raw substrings."""

from __future__ import annotations

import pytest

from bot.coverage import coverage, normalise, term_matches
from bot.domain import KeyPoint


@pytest.mark.parametrize(
    ("answer", "term", "matches"),
    [
        ("We sit on a chair", "air", False),            # never a substring
        ("An air-gapped canary", "air", True),           # hyphen splits words
        ("I'd cache it", "caching", True),               # verb endings
        ("Caches everywhere", "cache", True),            # plurals
        ("the rankers were re-ranked", "re rank", True),  # hyphen vs space
        ("LATENCY BUDGET, split!", "latency budget", True),  # case, punctuation
        ("the budget for latency", "latency budget", False),  # phrases are in order
        ("a p99 tail of 40 ms", "p99", True),
        ("holdout set kept for a week", "holdout + week", True),  # both anywhere
        ("holdout set kept", "holdout + week", False),
        ("categories and category", "category", True),
        ("we batched the requests", "batching", True),
    ],
)
def test_term_matching(answer, term, matches):
    assert term_matches(normalise(answer), term) is matches


def test_a_key_point_is_covered_when_any_term_matches():
    points = [
        KeyPoint("Degrades gracefully", ("fallback", "graceful degradation")),
        KeyPoint("Splits the budget", ("latency budget",)),
    ]
    result = coverage("It degrades gracefully: graceful degradation matters.", points)
    assert result.covered == (True, False)
    assert result.count == 1 and result.ratio == 0.5
