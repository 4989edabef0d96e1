"""`mlsd-bot content grade` as a pack author runs it: one verdict per answer, in input order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PACK = Path(__file__).parent / "fixtures" / "pack.yaml"


def grade(tmp_path: Path, body: str | bytes, *flags: str) -> subprocess.CompletedProcess[str]:
    answers = tmp_path / "answers.yaml"
    answers.write_bytes(body if isinstance(body, bytes) else body.encode())
    config = tmp_path / "config.yaml"
    config.write_text(f"content_packs: [{PACK}]\n")
    env = {**os.environ, "MLSD_CONFIG": str(config)}
    env.pop("MLSD_GRADER", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "content", "grade", str(answers), *flags],
                          capture_output=True, text=True, timeout=120, env=env)


ANSWERS = """\
- question_id: t-modeling-one
  text: >-
    First I would give retrieval, ranking and rendering each a share of the time we have.
    When the ranker is slow we show popular items instead of waiting.
- question_id: t-modeling-one
  text: "latency budget, cache, fallback, canary, p99"
"""


def test_json_lines_in_input_order_with_evidence(tmp_path):
    result = grade(tmp_path, ANSWERS, "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["question_id"] for line in lines] == ["t-modeling-one", "t-modeling-one"]
    assert lines[0]["covered"] == [1, 3] and lines[0]["total"] == 4 and lines[0]["grader"] == "local"
    assert lines[0]["evidence"]["3"] == "When the ranker is slow we show popular items instead of waiting."
    assert lines[1]["covered"] == [] and lines[1]["evidence"] == {}


def test_text_output_names_each_point(tmp_path):
    result = grade(tmp_path, ANSWERS)
    assert result.returncode == 0, result.stderr
    assert "t-modeling-one: 2/4 key points (local grader)" in result.stdout
    assert "✗ 4. Rolls out behind a canary" in result.stdout


def test_an_unknown_question_or_a_bad_file_is_a_clear_error(tmp_path):
    result = grade(tmp_path, "- question_id: no-such-question\n  text: hello\n")
    assert result.returncode == 1
    assert "unknown question id 'no-such-question'" in result.stderr and "Traceback" not in result.stderr
    result = grade(tmp_path, "questions: [\n")
    assert result.returncode == 1 and "invalid YAML" in result.stderr and "Traceback" not in result.stderr
    result = grade(tmp_path, "- question_id: t-modeling-one\n  text: caf\xe9\n".encode("latin-1"))
    assert result.returncode == 1 and "not UTF-8 (byte 0xe9" in result.stderr


def test_llm_without_an_endpoint_says_what_is_missing(tmp_path):
    result = grade(tmp_path, ANSWERS, "--grader", "llm")
    assert result.returncode == 2 and "MLSD_LLM_BASE_URL" in result.stderr
