"""The shipped question bank: valid, complete, and honest about coverage.

These tests guard what members actually read at the reveal: a key point the
sample answer itself misses would tell the sample answer it missed points, and
a term so generic that an off-topic answer matches would hand out free points.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.content import builtin_files, load_bank
from bot.domain import Difficulty, Topic
from bot.grading.local import LocalGrader
from bot.grading.text import tokens

FIXTURES = Path(__file__).parent / "fixtures"
IDS_LOCK = FIXTURES / "content_ids.txt"

GENERIC_SINGLE_WORDS = {
    "model", "data", "user", "system", "feature", "metric", "train", "test", "ml",
    "use", "good", "better", "performance", "accuracy", "machine", "learning", "time",
    "approach", "design", "problem", "solution", "scale", "result", "improve",
    # Words the topic's buzzword lists are made of: never enough on their own.
    "fallback", "guardrail", "stale", "holdout", "skew", "segment", "recall", "budget", "cache",
    "drift", "calibration", "batch", "latency", "embedding", "embeddings", "precision", "leakage",
    "monitoring", "retrain", "retraining", "sharding", "ttl", "freshness", "canary", "ab",
}

OFF_TOPIC_ANSWERS = [
    "I would think about it carefully, talk to the team, and then build something good.",
    "Use machine learning: train a model on the data, test it, and ship it to users.",
    "Honestly I am not sure, but I would probably try a few things and see what works best.",
    "My favourite pizza is margherita with fresh basil and a thin crust from a wood oven.",
]


@pytest.fixture(scope="module")
def grader():
    return LocalGrader()


@pytest.fixture(scope="module")
def bank():
    loaded, problems = load_bank()
    assert problems == [], "\n".join(map(str, problems))
    return loaded


def test_every_builtin_file_validates():
    assert builtin_files(), "no built-in content found"
    _, problems = load_bank()
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize("topic", list(Topic))
def test_each_topic_has_enough_questions_of_every_difficulty(bank, topic):
    questions = bank.questions_for(topic)
    assert len(questions) >= 12, f"{topic}: {len(questions)} questions"
    spread = Counter(q.difficulty for q in questions)
    assert set(spread) == set(Difficulty), f"{topic}: difficulties {dict(spread)}"


@pytest.mark.parametrize("topic", list(Topic))
def test_each_topic_has_enough_quiz_items(bank, topic):
    assert len(bank.quiz_for(topic)) >= 6


def test_readiness_set_has_one_item_per_topic(bank):
    assert sorted(i.topic for i in bank.readiness_items()) == sorted(Topic)


def test_sample_answers_are_150_to_350_words(bank):
    bad = {
        q.id: len(q.sample_answer.split())
        for q in bank.questions.values()
        if not 150 <= len(q.sample_answer.split()) <= 350
    }
    assert bad == {}


def test_questions_have_follow_ups_and_company_tags(bank):
    assert [q.id for q in bank.questions.values() if not 1 <= len(q.follow_ups) <= 3] == []
    assert [q.id for q in bank.questions.values() if not q.companies] == []


def test_every_key_point_is_covered_by_its_own_sample_answer(bank, grader):
    missed = {}
    for q in bank.questions.values():
        covered = grader.grade(q, q.sample_answer).covered
        missed[q.id] = [kp.text for kp, ok in zip(q.key_points, covered, strict=True) if not ok]
    assert {k: v for k, v in missed.items() if v} == {}


def test_no_key_point_term_is_a_lone_word(bank):
    generic = [
        (q.id, term)
        for q in bank.questions.values()
        for kp in q.key_points
        for term in kp.terms
        if len(tokens(term)) == 1 and term.lower().strip() in GENERIC_SINGLE_WORDS
    ]
    assert generic == []


def test_off_topic_answers_cover_nothing(bank, grader):
    hits = [
        (q.id, answer)
        for q in bank.questions.values()
        for answer in OFF_TOPIC_ANSWERS
        if grader.grade(q, answer).count
    ]
    assert hits == []


def test_ids_are_stable_once_shipped(bank):
    """Ids are the key of every post's history: shipped ids may be added, never removed."""
    shipped = {line.strip() for line in IDS_LOCK.read_text().splitlines() if line.strip()}
    current = set(bank.questions) | set(bank.quiz)
    assert sorted(shipped - current) == []


def _coverage_cases():
    for path in sorted((FIXTURES / "coverage_answers").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text())["cases"]:
            yield pytest.param(case, id=f"{path.stem}:{case['question']}")


@pytest.mark.parametrize("case", list(_coverage_cases()))
def test_strong_weak_and_off_topic_answers_score_as_a_reader_expects(bank, grader, case):
    q = bank.questions[case["question"]]
    strong = grader.grade(q, case["strong"])
    weak = grader.grade(q, case["weak"])
    off = grader.grade(q, case["off_topic"])
    assert strong.ratio >= 0.6, f"strong answer covered {strong.count}/{strong.total}"
    assert weak.count <= max(1, q.key_points.__len__() // 3), f"weak covered {weak.count}"
    assert weak.count < strong.count
    assert off.count == 0


def test_every_topic_has_a_coverage_case(bank):
    topics = {bank.questions[c.values[0]["question"]].topic for c in _coverage_cases()}
    assert topics == set(Topic)
