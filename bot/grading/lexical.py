"""Does one sentence carry a key point's words: a phrase, or every group of an `all_of`.

Lexical support never covers a point alone (see `local.py`): it lowers the
semantic bar for a sentence that also says something close to the point, so an
answer in the usual vocabulary is credited reliably while a word dropped into
an unrelated sentence is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from bot.domain import KeyPoint
from bot.grading.text import tokens


@lru_cache(maxsize=16384)
def phrase(term: str) -> tuple[str, ...]:
    return tokens(term)


def contains(sentence: Sequence[str], words: tuple[str, ...]) -> bool:
    n = len(words)
    if n == 0:
        return False
    first = words[0]
    return any(tok == first and tuple(sentence[i:i + n]) == words for i, tok in enumerate(sentence))


def _term_matches(sentence: Sequence[str], term: str) -> bool:
    # The legacy "a + b" form: every part somewhere in the sentence.
    return all(contains(sentence, phrase(part)) for part in term.split(" + "))


def supports(point: KeyPoint, sentence: Sequence[str]) -> bool:
    if any(_term_matches(sentence, t) for t in point.terms):
        return True
    return bool(point.all_of) and all(
        any(contains(sentence, phrase(alt)) for alt in group) for group in point.all_of
    )
