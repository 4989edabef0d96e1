"""The default grader credits a point made in one's own words and nothing for vocabulary alone.

These run the real shipped model (the int8 ONNX file in the package) on small,
fixed answers to one question of the test pack, so each assertion is what a
member would see at the reveal.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.content import load_bank
from bot.domain import KeyPoint
from bot.grading.local import LocalGrader
from bot.grading.service import DailyCap, GradingService
from bot.grading.text import split_sentences, tokens
from bot.grading.verdict import Grading, PointVerdict

from .conftest import PACK


@pytest.fixture(scope="module")
def question():
    bank, problems = load_bank([PACK], include_builtin=False)
    assert problems == []
    return bank.questions["t-modeling-one"]


@pytest.fixture(scope="module")
def grader():
    return LocalGrader()


@pytest.mark.parametrize(
    ("a", "b"),
    [("randomised", "randomisation"), ("calibrated", "calibration"), ("leaks", "leakage"),
     ("stale", "staleness"), ("26GB", "26 GB"), ("re-rank", "re rank")],
)
def test_inflections_and_units_meet(a, b):
    assert tokens(a) == tokens(b)


def test_a_word_never_matches_inside_another():
    assert "air" not in tokens("We sit on a chair")


def test_a_bare_list_of_terms_is_recognised_as_a_list_not_a_claim():
    sentences = split_sentences("Batch, TTL, fallback, cache all matter. I would log impressions, clicks "
                                "and dwell time at serving time.")
    assert [s.list_items > 0 for s in sentences] == [True, False]


def test_points_made_in_own_words_are_credited_with_the_members_sentence(grader, question):
    answer = ("First I would give retrieval, ranking and rendering each a share of the 120 ms.\n"
              "When the ranker is slow we show popular items instead of waiting.")
    grading = grader.grade(question, answer)
    assert grading.covered == (True, False, True, False)
    assert grading.points[2].evidence == "When the ranker is slow we show popular items instead of waiting."
    assert grading.grader == "local"


def test_a_list_of_buzzwords_earns_nothing(grader, question):
    answer = "Key things: latency budget, p99 tail, cache, precompute, fallback, graceful degradation, canary."
    assert grader.grade(question, answer).count == 0


def test_terms_dropped_into_a_weak_answer_earn_nothing(grader, question):
    answer = "I would make the model better. Latency budget, cache, fallback and canary all matter here."
    assert grader.grade(question, answer).count == 0


def test_all_of_groups_must_meet_in_one_sentence(grader, question):
    # "fall back" and "slow" in different sentences make no claim about falling back when slow.
    answer = "We need a fall back plan for the project timeline. Our release process is slow and painful."
    assert grader.grade(question, answer).covered[2] is False


def test_off_topic_and_empty_answers_cover_nothing(grader, question):
    assert grader.grade(question, "My favourite pizza is margherita with fresh basil and a thin crust.").count == 0
    assert grader.grade(question, "").count == 0


def test_a_counter_example_vetoes_a_close_sounding_sentence(grader):
    point = KeyPoint("Rolls out behind a canary", examples=("Release the new ranker to a small slice first.",),
                     counter_examples=("Release the new ranker to everyone at once.",))
    bank, _ = load_bank([PACK], include_builtin=False)
    base = bank.questions["t-modeling-one"]
    q = type(base)(**{**base.__dict__, "id": "t-counter", "key_points": (point,) * 4})
    assert grader.grade(q, "We would release the new ranker to everyone at once on Monday.").count == 0


def test_the_reveal_asks_about_a_missed_point():
    assert KeyPoint("Rolls out behind a canary").question == "Did you cover this: rolls out behind a canary?"
    assert KeyPoint("x", ask="Did you say how you would roll it out?").question.startswith("Did you say")


def test_a_grading_survives_storage_unchanged():
    grading = Grading((PointVerdict(True, "my “own” words"), PointVerdict(False)), grader="llm", summary="ok")
    assert Grading.from_json(grading.to_json()) == grading


class _Failing:
    name = "llm"

    def __init__(self) -> None:
        self.calls = 0

    async def grade(self, question, answer):
        self.calls += 1
        raise RuntimeError("endpoint down")


async def test_the_service_falls_back_to_local_and_grades_each_text_once(grader, question):
    remote = _Failing()
    service = GradingService(grader, remote, DailyCap(1, lambda: __import__("datetime").date(2026, 1, 1)))
    answer = "When the ranker is slow we show popular items instead of waiting."
    first = await service.grade(question, answer)
    again = await service.grade(question, answer)
    assert first.grader == "local" and first.covered[2]
    assert again == first and remote.calls == 1  # the same text is not graded twice
    await service.grade(question, answer + " Also we cache.")
    assert remote.calls == 1  # the daily cap of one call holds; the local grader decided


async def test_grade_many_returns_local_gradings_past_the_budget(grader, question):
    class _Slow:
        name = "llm"

        async def grade(self, question, answer):
            await asyncio.Event().wait()  # never answers

    service = GradingService(grader, _Slow())
    results = await service.grade_many(question, ["When the ranker is slow we show popular items."], budget=0.05)
    assert [r.grader for r in results] == ["local"]


def test_answers_graded_at_once_in_threads_stem_every_word_as_one_thread_would():
    # A reveal grades its answers concurrently on worker threads. Snowball's stemmer keeps
    # the word it works on in the stemmer object, so one stemmer shared between threads
    # could cut a word mid-stem: a key point silently missed, or an IndexError.
    import sys
    import threading

    import snowballstemmer

    from bot.grading import text

    words = [f"{stem}{suffix}" for stem in ("optimiz", "calibrat", "partition", "retrain", "shard",
                                            "regulariz", "normaliz", "distill", "quantiz", "embedd")
             for suffix in ("ation", "ations", "ing", "ed", "er", "ers", "es", "ability", "ational", "ively")]
    words = [f"{w}{'s' * (i % 3)}" for i in range(40) for w in words]
    expected = [snowballstemmer.stemmer("english").stemWord(w) for w in words]
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a shared stemmer breaks at once
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append([text._stemmer().stemWord(w) for w in words])
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old_interval)
    assert errors == []
    assert all(r == expected for r in results)
