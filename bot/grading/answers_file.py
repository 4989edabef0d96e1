"""`mlsd-bot content grade FILE`: grade a file of answers, for pack authors tuning key points.

FILE is a YAML list of `{question_id, text}`. Every problem with the file is
reported before anything is graded, as `FILE:line: what is wrong`, so an author
fixes the whole file in one pass and never sees a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.content import Bank, YamlFileError, read_yaml
from bot.domain import Question
from bot.grading.service import GradingService
from bot.grading.verdict import Grading


class AnswersFileError(Exception):
    """The file cannot be graded; the message lists every problem found."""


@dataclass(frozen=True)
class Entry:
    question: Question
    text: str


def read_entries(path: Path, bank: Bank) -> list[Entry]:
    try:
        lines, data = read_yaml(path)
    except YamlFileError as exc:
        raise AnswersFileError(str(exc)) from exc
    if not isinstance(data, list) or not data:
        raise AnswersFileError(f"{path}:1: expected a non-empty list of {{question_id, text}} entries")
    problems: list[str] = []
    entries: list[Entry] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            problems.append(f"{path}:{lines.at([index])}: entry {index + 1} is not a mapping with question_id and text")
            continue
        qid, text = item.get("question_id"), item.get("text")
        if not isinstance(qid, str) or not qid.strip():
            problems.append(f"{path}:{lines.at([index])}: entry {index + 1} has no question_id")
            continue
        if not isinstance(text, str):
            problems.append(f"{path}:{lines.at([index])}: {qid}: 'text' must be the answer as a string")
            continue
        question = bank.questions.get(qid.strip())
        if question is None:
            problems.append(f"{path}:{lines.at([index])}: unknown question id '{qid}' (see `mlsd-bot content list`)")
            continue
        entries.append(Entry(question, text))
    if problems:
        raise AnswersFileError("\n".join(problems))
    return entries


async def grade_entries(entries: list[Entry], grading: GradingService) -> list[Grading]:
    return [await grading.grade(e.question, e.text) for e in entries]


def print_json(entries: list[Entry], gradings: list[Grading], out: TextIO) -> None:
    for entry, grading in zip(entries, gradings, strict=True):
        covered = [n for n, p in enumerate(grading.points, 1) if p.covered]
        out.write(json.dumps({
            "question_id": entry.question.id,
            "covered": covered,
            "total": grading.total,
            "grader": grading.grader,
            "evidence": {str(n): grading.points[n - 1].evidence for n in covered},
        }, ensure_ascii=False) + "\n")


def print_text(entries: list[Entry], gradings: list[Grading], out: TextIO) -> None:
    for entry, grading in zip(entries, gradings, strict=True):
        out.write(f"{entry.question.id}: {grading.count}/{grading.total} key points ({grading.grader} grader)\n")
        for n, (point, verdict) in enumerate(zip(entry.question.key_points, grading.points, strict=True), 1):
            if verdict.covered:
                out.write(f"  ✓ {n}. {point.text}\n      “{verdict.evidence}”\n")
            else:
                out.write(f"  ✗ {n}. {point.text}\n")
        out.write("\n")
