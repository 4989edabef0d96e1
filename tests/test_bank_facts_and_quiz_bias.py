"""The bank is right and its quiz cannot be gamed: figures a reader can recompute, and shape checks.

The numbers are recomputed here and must appear in the text members read, so a
later edit cannot quietly bring back a wrong figure. The bias checks run over
every built-in item so that a new item cannot bring the "pick the longest" tell back.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.content import BUILTIN_DIR, load_bank
from bot.domain import Difficulty, Topic
from bot.quiz_bias import MAX_LONGEST_SHARE, item_warnings, longest_share, pack_warnings


@pytest.fixture(scope="module")
def bank():
    loaded, problems = load_bank()
    assert problems == []
    return loaded


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_fanout_tail_shard_targets_are_the_recomputed_ones(bank):
    per_shard = 0.99 ** (1 / 20)
    from_p999 = 0.999 ** 20
    assert round(per_shard, 4) == 0.9995 and round(from_p999, 3) == 0.980
    text = _flat(bank.quiz["serving-quiz-fanout-tail"].explanation)
    assert "p99.95" in text and "0.9995" in text and "p98" in text and "0.980" in text


def test_exact_ann_search_costs_256_gflop_per_query(bank):
    multiply_adds = 500e6 * 256
    assert multiply_adds == 128e9 and 2 * multiply_adds == 256e9
    text = _flat(bank.questions["serving-ann-embedding-retrieval"].sample_answer)
    assert "256 GFLOP" in text and "128 GFLOPs" not in text


def test_caching_the_top_one_percent_gives_about_half_the_hits(bank):
    text = _flat(bank.questions["serving-similar-items-caching"].sample_answer)
    assert "50% hit rate" in text and "90%+" not in text


def test_int8_weights_do_not_double_concurrency(bank):
    text = _flat(bank.questions["serving-llm-support-drafts"].sample_answer)
    assert "about 45 sequences (+25%)" in text and "int8 KV cache" in text


def test_h3_resolution_8_cells_are_about_0_7_km2(bank):
    assert "0.7 km²" in _flat(bank.questions["serving-surge-pricing-streaming"].sample_answer)


def test_chargeback_delay_is_one_figure_across_the_bank(bank):
    fraud = [q for q in bank.questions.values() if "chargeback" in q.sample_answer.lower()]
    assert fraud and all("60–90 days" not in q.sample_answer and "60-90 days" not in q.sample_answer for q in fraud)
    assert "120 days" in _flat(bank.questions["modeling-fraud-class-imbalance"].sample_answer)


@pytest.mark.parametrize("topic", list(Topic))
def test_each_topic_has_12_questions_in_a_spread_and_8_quiz_items(bank, topic):
    spread = Counter(q.difficulty for q in bank.questions_for(topic))
    assert sum(spread.values()) >= 12
    assert spread[Difficulty.EASY] >= 3 and spread[Difficulty.MEDIUM] >= 4 and spread[Difficulty.HARD] >= 3
    assert len(bank.quiz_for(topic)) >= 8


def test_the_interviews_the_bank_missed_are_now_asked(bank):
    for question_id in ("formulation-support-ticket-deflection", "monitoring-slow-decline-stable-inputs",
                        "modeling-notification-trees-vs-deep-net", "experimentation-long-term-retention-surrogates",
                        "serving-image-model-capacity-sizing", "serving-feed-two-billion-users"):
        assert question_id in bank.questions


def test_every_topic_marks_exactly_one_readiness_item_and_every_item_has_a_difficulty():
    for path in sorted((BUILTIN_DIR / "quiz").glob("*.yaml")):
        items = yaml.safe_load(path.read_text(encoding="utf-8"))["quiz"]
        assert sum(1 for i in items if i.get("readiness")) == 1, path.name
        assert all(i.get("difficulty") in {"easy", "medium", "hard"} for i in items), path.name


def test_the_longest_choice_is_right_in_at_most_30_percent_of_items(bank):
    items = list(bank.quiz.values())
    assert len(items) >= 48
    assert longest_share(items) <= MAX_LONGEST_SHARE
    assert all(longest_share(bank.quiz_for(t)) <= 0.25 + 1e-9 for t in Topic)  # at most 2 of 8 per topic


def test_no_item_gives_itself_away(bank):
    assert [w for item in bank.quiz.values() for w in item_warnings(item)] == []
    answers = Counter(item.answer for item in bank.quiz.values())
    assert max(answers.values()) - min(answers.values()) <= 6  # the right letter is spread over A-D


def test_validate_warns_a_team_about_a_biased_pack(tmp_path):
    import subprocess
    import sys

    items = [{"id": f"acme-quiz-{n}", "topic": "serving", "prompt": f"Question {n}?",
              "choices": ["No", "Never do it", "Maybe not", "Yes, because the budget is split per stage"],
              "answer": 3, "explanation": "Because."} for n in range(6)]
    pack = Path(tmp_path) / "pack.yaml"
    pack.write_text(yaml.safe_dump({"quiz": items}))
    result = subprocess.run([sys.executable, "-m", "bot.cli", "content", "validate", str(pack)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0  # a warning, not a problem: the pack still loads
    assert "the right choice is the longest in 100% of 6 items" in result.stdout
    assert "acme-quiz-0: distractor uses an absolute word (never)" in result.stdout
    assert pack_warnings([]) == [] and math.isclose(longest_share([]), 0.0)
