"""Answer text -> sentences and stemmed tokens, the units every grader reasons over.

A key point is made by a claim, and a claim lives in a sentence: matching per
sentence (not over the whole answer) is what stops words scattered across an
answer from adding up to a point nobody made. Stemming is Snowball's English
stemmer, so "randomised"/"randomisation" and "calibrated"/"calibration" meet;
numbers are split from their units so "26GB" and "26 GB" read the same.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
_NUMBER_UNIT = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")
# A sentence ends at . ! ? followed by space, or at a line break; a bullet starts one.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+|(?<=:)\s*\n")
_BULLET = re.compile(r"^\s*(?:[-*•·–]|\d+[.)]|\(?[a-z]\))\s+", re.IGNORECASE)
# Words that carry no claim: an answer made only of these and list items says nothing.
STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "at", "from", "as", "is",
    "are", "be", "been", "being", "it", "its", "this", "that", "these", "those", "we", "i", "you", "they",
    "he", "she", "our", "my", "your", "their", "would", "will", "can", "could", "should", "may", "might",
    "must", "do", "does", "did", "not", "no", "so", "if", "then", "than", "but", "also", "all", "any",
    "each", "more", "most", "some", "such", "very", "just", "about", "into", "over",
))


# Derivations Snowball leaves apart that name the same idea in an answer.
_DERIVED = {"leakag": "leak"}


_PER_THREAD = threading.local()


def _stemmer() -> Any:
    """This thread's Snowball English stemmer, made on first use.

    One per thread: a stemmer keeps the word it is working on in itself, and a
    reveal grades its answers on several threads at once, so a shared one cut words
    mid-stem (a key point silently missed, or an IndexError). Made on first use
    because the package imports every language's stemmer (about 3 MB), which a bot
    that has not graded anything yet need not hold.
    """
    stemmer = getattr(_PER_THREAD, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _PER_THREAD.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    stemmed = _stemmer().stemWord(word)
    return _DERIVED.get(stemmed, stemmed)


def tokens(text: str) -> tuple[str, ...]:
    """Lower-case, split numbers from units and words on anything else, and stem."""
    lowered = _NUMBER_UNIT.sub(" ", text.lower().replace("’", "'"))
    return tuple(stem(w) for w in _WORD.findall(lowered))


@dataclass(frozen=True)
class Sentence:
    text: str  # the member's own words, as written (stripped)
    tokens: tuple[str, ...]
    list_items: int  # items it enumerates, when it is shaped as a list (0: a sentence)

    @property
    def is_fragment(self) -> bool:
        """A few words with no full stop: a bullet naming a thing ("time-based split"), not a claim."""
        return len(self.tokens) < 6 and not self.text.rstrip("\"')]").endswith((".", "!", "?"))


def split_sentences(text: str) -> list[Sentence]:
    out: list[Sentence] = []
    for raw in _SENTENCE_END.split(text or ""):
        chunk = _BULLET.sub("", raw).strip()
        if not chunk or not _WORD.search(chunk.lower()):
            continue
        out.append(Sentence(chunk, tokens(chunk), list_items(chunk)))
    return out


_LIST_SPLIT = re.compile(r"\s*(?:[,;/|]|\band\b|\bor\b|&|\+)\s*", re.IGNORECASE)


def list_items(sentence: str) -> int:
    """How many items a sentence enumerates, when it reads as an enumeration (else 0).

    The test is shape, not vocabulary: four or more items of a few words each
    ("batch, TTL, fallback and cache all matter") name things rather than claim
    something about them. A lead-in ("Key things to consider:") does not change
    that. A claim that enumerates a few things ("log impressions, clicks and
    dwell time at serve time") has fewer, longer items.
    """
    body = sentence.split(":", 1)[1] if ":" in sentence[:60] else sentence
    items = [i for i in _LIST_SPLIT.split(body) if _WORD.search(i.lower())]
    if len(items) < 4:
        return 0
    lengths = sorted(len(_WORD.findall(i.lower())) for i in items)
    return len(items) if lengths[len(lengths) // 2] <= 3 else 0


def content_words(toks: tuple[str, ...]) -> list[str]:
    return [t for t in toks if t not in STOPWORDS]
