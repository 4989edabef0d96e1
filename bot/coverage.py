"""Key-point coverage: which key points an answer mentions.

Matching is on whole words after light normalisation, never on raw substrings,
so "air" does not match inside "chair" and "cached" matches "caching". The same
normalisation is applied to the key point's terms and to the answer, which
matters more than linguistic accuracy: both sides reduce to the same stems.

A term is a phrase whose words must appear consecutively ("feature store"),
or several phrases joined by " + " that must all appear anywhere in the answer
("holdout + week"). A key point is covered when any one of its terms matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.domain import KeyPoint

_TOKEN = re.compile(r"[a-z0-9]+")
_VOWELS = set("aeiou")


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """Strip plural and verb endings so inflections of one word compare equal."""
    w = word
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses") or (w.endswith("es") and (w[-3] in "sxz" or w[-4:-2] in ("ch", "sh"))):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    elif w.endswith("ing") and len(w) - 3 >= 3:
        w = _undouble(w[:-3])
    elif w.endswith("ed") and len(w) - 2 >= 3:
        w = _undouble(w[:-2])
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def _undouble(w: str) -> str:
    if len(w) >= 3 and w[-1] == w[-2] and w[-1] not in _VOWELS and w[-1] not in "lsz":
        return w[:-1]
    return w


def normalise(text: str) -> tuple[str, ...]:
    """Lower-case, split on anything that is not a letter or digit, stem each word.

    Hyphens, slashes and underscores split words, so "re-rank", "re rank" and
    "re_rank" all become ("re", "rank").
    """
    return tuple(stem(t) for t in _TOKEN.findall(text.lower()))


def _contains_phrase(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    if n == 0:
        return False
    first = phrase[0]
    return any(tok == first and tuple(tokens[i:i + n]) == tuple(phrase) for i, tok in enumerate(tokens))


def term_matches(tokens: Sequence[str], term: str) -> bool:
    parts = [normalise(p) for p in term.split(" + ")]
    return all(p and _contains_phrase(tokens, p) for p in parts)


@dataclass(frozen=True)
class Coverage:
    covered: tuple[bool, ...]

    @property
    def count(self) -> int:
        return sum(self.covered)

    @property
    def total(self) -> int:
        return len(self.covered)

    @property
    def ratio(self) -> float:
        return self.count / self.total if self.total else 0.0


def coverage(answer: str, key_points: Iterable[KeyPoint]) -> Coverage:
    tokens = normalise(answer)
    return Coverage(
        tuple(any(term_matches(tokens, term) for term in kp.terms) for kp in key_points)
    )
