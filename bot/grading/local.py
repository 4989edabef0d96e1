"""The default grader: offline, in-process, meaning first and words second.

A key point is covered when one sentence of the answer makes it:

- its embedding is close to one of the point's anchors (the point's text, its
  `examples`, and the sample answer's own sentence(s) that make it) at or above
  the semantic bar; or
- it carries the point's words (a phrase, or every `all_of` group) and is close
  to an anchor at or above the lower lexical bar;
- and it is closer to the point than to any of its `counter_examples`.

Sentences that only enumerate terms, and fragments too short to claim anything,
are never evidence: that is what makes a list of buzzwords worth nothing. The
evidence shown to the member is the covering sentence, verbatim.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain import Question
from bot.grading.embedder import Embedder, shared_embedder
from bot.grading.lexical import supports
from bot.grading.text import Sentence, content_words, split_sentences
from bot.grading.verdict import LOCAL, Grading, PointVerdict

if TYPE_CHECKING:
    import numpy as np

MIN_CLAIM_WORDS = 3  # content words a sentence needs before it can claim anything
MAX_POINTS_PER_SENTENCE = 3
ANCHORS_FROM_SAMPLE = 2
SAMPLE_TIE = 0.05


@dataclass(frozen=True)
class Bars:
    semantic: float = 0.60
    lexical: float = 0.40


@dataclass
class _PointAnchors:
    positive: np.ndarray  # (n, dim) unit vectors
    negative: np.ndarray  # (m, dim), may be empty


class LocalGrader:
    name = LOCAL

    def __init__(self, embedder: Embedder | None = None, bars: Bars | None = None) -> None:
        self.embedder = embedder or shared_embedder()
        self.bars = bars or Bars()
        self._anchors: dict[str, list[_PointAnchors]] = {}
        self._lock = threading.Lock()

    def grade(self, question: Question, answer: str) -> Grading:
        import numpy as np

        anchors = self._anchors_for(question)
        sentences = [s for s in split_sentences(answer) if _can_claim(s)]
        verdicts = [PointVerdict(False) for _ in question.key_points]
        if not sentences:
            return Grading(tuple(verdicts), LOCAL)
        vectors = self.embedder.encode([s.text for s in sentences])
        candidates: list[tuple[float, int, int]] = []  # (similarity, point, sentence)
        for p, (point, point_anchors) in enumerate(zip(question.key_points, anchors, strict=True)):
            positive = (vectors @ point_anchors.positive.T).max(axis=1)
            negative = (
                (vectors @ point_anchors.negative.T).max(axis=1)
                if len(point_anchors.negative) else np.full(len(sentences), -1.0)
            )
            for i, sentence in enumerate(sentences):
                bar = self.bars.lexical if supports(point, sentence.tokens) else self.bars.semantic
                if positive[i] >= bar and positive[i] > negative[i]:
                    candidates.append((float(positive[i]), p, i))
        # Best matches first; one sentence makes at most MAX_POINTS_PER_SENTENCE points.
        used = [0] * len(sentences)
        for _sim, p, i in sorted(candidates, reverse=True):
            if verdicts[p].covered or used[i] >= MAX_POINTS_PER_SENTENCE:
                continue
            verdicts[p] = PointVerdict(True, sentences[i].text)
            used[i] += 1
        return Grading(tuple(verdicts), LOCAL)

    # ------------------------------------------------------------------ anchors

    def _anchors_for(self, question: Question) -> list[_PointAnchors]:
        key = _fingerprint(question)
        cached = self._anchors.get(key)
        if cached is not None:
            return cached
        built = self._build_anchors(question)
        with self._lock:
            self._anchors[key] = built
        return built

    def _build_anchors(self, question: Question) -> list[_PointAnchors]:
        """Each point's text and examples, plus the sample answer's sentences that make it.

        A sample sentence anchors the point it is closest to (or within
        `SAMPLE_TIE` of it), and at most `ANCHORS_FROM_SAMPLE` of them per point.
        They anchor the point in the vocabulary of a full answer, which a terse
        key-point text lacks; a sentence that makes several points at once
        anchors only those it is nearly as close to, so it cannot stand in for all.
        """
        import numpy as np

        sample = [s for s in split_sentences(question.sample_answer) if _can_claim(s)]
        sample_vectors = self.embedder.encode([s.text for s in sample])
        own_vectors = [self.embedder.encode([p.text, *p.examples]) for p in question.key_points]
        if sample:
            closeness = np.stack([(sample_vectors @ v.T).max(axis=1) for v in own_vectors])  # points x sentences
            nearest = closeness.max(axis=0)
        out: list[_PointAnchors] = []
        for p, point in enumerate(question.key_points):
            picked: list[int] = []
            if sample:
                mine = [i for i in range(len(sample)) if closeness[p, i] >= nearest[i] - SAMPLE_TIE]
                lexical = [i for i in mine if supports(point, sample[i].tokens)]
                ranked = sorted(mine, key=lambda i: (i not in lexical, -closeness[p, i]))
                picked = ranked[:ANCHORS_FROM_SAMPLE]
            positive = np.vstack([own_vectors[p], *(sample_vectors[i:i + 1] for i in picked)])
            negative = (
                self.embedder.encode(list(point.counter_examples))
                if point.counter_examples else np.zeros((0, positive.shape[1]), dtype=np.float32)
            )
            out.append(_PointAnchors(positive, negative))
        return out


def _can_claim(sentence: Sentence) -> bool:
    return (
        not sentence.list_items  # a sentence shaped as a list names things, claims nothing
        and not sentence.is_fragment
        and len(content_words(sentence.tokens)) >= MIN_CLAIM_WORDS
    )


def _fingerprint(question: Question) -> str:
    """Anchors depend on the question's content, not only its id (a pack can be edited)."""
    digest = hashlib.sha256()
    digest.update(question.sample_answer.encode())
    for p in question.key_points:
        digest.update(repr((p.text, p.terms, p.all_of, p.examples, p.counter_examples)).encode())
    return f"{question.id}:{digest.hexdigest()[:16]}"
