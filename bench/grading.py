"""How well the default grader credits understanding, on answers it was not written for.

    python bench/grading.py [--set tune|heldout|all] [--semantic 0.6 --lexical 0.4]

The answers under bench/grading_data/ were written by people who saw each
question's prompt and key-point statements, never the term lists, examples or
grader: six kinds per question, each with the key points it truly makes marked
by hand. `tune-*.yaml` is what thresholds and content were tuned on;
`heldout-*.yaml` is kept apart and only reported. Printed per set:

- recall: truly covered points credited, for the two strong kinds;
- false credit: points credited that the answer does not truly make, for the
  weak, off-topic, buzzword-list and stuffed kinds (share of their points);
- the bank's own sample answers: share of their key points credited;
- the median and p95 time to grade one answer, beside the floor of embedding
  one sentence with the same model (the part no grader of this kind avoids).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.content import load_bank
from bot.grading.local import Bars, LocalGrader

DATA = Path(__file__).resolve().parent / "grading_data"
STRONG = ("strong_usual", "strong_other")
OTHER = ("weak", "off_topic", "buzzword_list", "stuffed")


def load_set(name: str) -> list[dict]:
    pattern = "*.yaml" if name == "all" else f"{name}-*.yaml"
    entries: list[dict] = []
    for path in sorted(DATA.glob(pattern)):
        entries += yaml.safe_load(path.read_text(encoding="utf-8"))
    return entries


def evaluate(grader: LocalGrader, entries: list[dict], verbose: bool = False) -> dict[str, tuple[int, int]]:
    bank, _ = load_bank()
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in entries:
        question = bank.questions.get(e["question_id"])
        if question is None:
            print(f"  (skipped: question {e['question_id']} is not in the loaded bank)")
            continue
        grading = grader.grade(question, e["text"])
        truth = set(e.get("covers") or [])
        for number, verdict in enumerate(grading.points, 1):
            kind = e["kind"]
            if kind in STRONG:
                if number in truth:
                    hits[kind][1] += 1
                    hits[kind][0] += verdict.covered
                    if verbose and not verdict.covered:
                        print(f"  MISS {e['question_id']} {kind} #{number}: {question.key_points[number - 1].text}")
            elif number not in truth:
                hits[kind][1] += 1
                hits[kind][0] += verdict.covered
                if verbose and verdict.covered:
                    print(f"  FALSE {e['question_id']} {kind} #{number}: {verdict.evidence[:140]!r}")
    return {k: (v[0], v[1]) for k, v in hits.items()}


def sample_answers(grader: LocalGrader) -> tuple[int, int]:
    bank, _ = load_bank()
    got = total = 0
    for q in bank.questions.values():
        g = grader.grade(q, q.sample_answer)
        got, total = got + g.count, total + g.total
    return got, total


def timing(grader: LocalGrader, entries: list[dict]) -> tuple[float, float, float]:
    bank, _ = load_bank()
    samples = []
    for e in entries:
        if e["question_id"] not in bank.questions:
            continue
        grader.embedder._cache.clear()  # time a first sight of the answer, as at a reveal
        started = time.perf_counter()
        grader.grade(bank.questions[e["question_id"]], e["text"])
        samples.append((time.perf_counter() - started) * 1000)
    floor = []
    for e in entries[:50]:
        grader.embedder._cache.clear()
        started = time.perf_counter()
        grader.embedder.encode([e["text"][:200]])
        floor.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], statistics.median(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="both", choices=["tune", "heldout", "all", "both"])
    parser.add_argument("--semantic", type=float, default=Bars.semantic)
    parser.add_argument("--lexical", type=float, default=Bars.lexical)
    parser.add_argument("-v", "--verbose", action="store_true", help="print each miss and false credit")
    args = parser.parse_args()
    grader = LocalGrader(bars=Bars(args.semantic, args.lexical))
    sets = ["tune", "heldout"] if args.set == "both" else [args.set]
    print(f"default grader, semantic bar {args.semantic}, lexical bar {args.lexical}")
    for name in sets:
        entries = load_set(name)
        if not entries:
            print(f"\n[{name}] no answers found under {DATA}")
            continue
        figures = evaluate(grader, entries, args.verbose)
        questions = len({e["question_id"] for e in entries})
        print(f"\n[{name}] {len(entries)} answers to {questions} questions")
        for kind in STRONG:
            got, total = figures.get(kind, (0, 0))
            print(f"  recall        {kind:<14} {got:>4}/{total:<4} {100 * got / max(total, 1):5.1f}%")
        for kind in OTHER:
            got, total = figures.get(kind, (0, 0))
            print(f"  false credit  {kind:<14} {got:>4}/{total:<4} {100 * got / max(total, 1):5.1f}%")
    got, total = sample_answers(grader)
    print(f"\nsample answers: {got}/{total} of their own key points credited ({100 * got / max(total, 1):.1f}%)")
    median, p95, floor = timing(grader, load_set("all"))
    print(f"time to grade one answer: median {median:.1f} ms, p95 {p95:.1f} ms; "
          f"floor (embed one sentence) {floor:.1f} ms; ratio {median / floor:.1f}x")


if __name__ == "__main__":
    main()
