"""The `mlsd-bot` command as a new user runs it, and settings from YAML + environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings

PACK = Path(__file__).parent / "fixtures" / "pack.yaml"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_demo_prints_a_readable_week(tmp_path):
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("Daily question · Serving architecture") == 5
    assert out.count("Daily question · Online experimentation") == 5
    for member in ("ana", "ben", "chen", "dee", "eli"):
        assert f"  {member} ↳ in thread" in out
    assert "dee ✎ edited" in out and "eli 🗑 deleted" in out
    assert "(after the deadline)" in out and "late, not scored" in out
    assert "(a peer vote)" in out and "· 1 vote" in out
    assert "Reveal · Serving architecture" in out and "covered" in out
    assert "Leaderboard · this week" in out and "🥇 @ana" in out
    assert "pressed [ B ]" in out or "pressed [ A ]" in out
    assert "✅ Right" in out and "❌ Not quite" in out
    assert "Weekly digest" in out and "Participation:" in out
    assert "Only admins can subscribe a channel" in out
    assert "Unknown topic 'servng'" in out


def test_content_validate_passes_on_the_builtin_bank(capsys):
    assert main(["content", "validate"]) == 0
    assert "ok: 72 questions and 48 quiz items" in capsys.readouterr().out


def test_content_validate_reports_file_and_line_for_each_problem(tmp_path, capsys):
    bad = tmp_path / "team.yaml"
    bad.write_text(
        "questions:\n"
        "  - id: team-q1\n"
        "    topic: servng\n"
        "    difficulty: medium\n"
        "    prompt: p\n"
        "    sample_answer: s\n"
        "    key_points: []\n"
        "quiz:\n"
        "  - id: team-z1\n"
        "    topic: serving\n"
        "    prompt: p\n"
        "    choices: [a, b, c, d]\n"
        "    answer: 7\n"
        "    explanation: e\n"
        "  - id: formulation-quiz-ads-ctr-calibration\n"
        "    topic: serving\n"
        "    prompt: p\n"
        "    choices: [a, b, c, d]\n"
        "    answer: 1\n"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("quiz:\n  - id: [oops\n")
    assert main(["content", "validate", str(bad), str(broken)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{bad}:3: team-q1: unknown topic 'servng': use one of formulation")
               for line in lines)
    assert f"{bad}:13: team-z1: answer 7 is not a choice index (0-3)" in lines
    assert f"{bad}:15: formulation-quiz-ads-ctr-calibration: missing field 'explanation'" in lines
    assert any(line.startswith(f"{broken}:3: invalid YAML") for line in lines)


def test_a_wrong_type_or_an_empty_text_is_said_in_a_pack_authors_words(tmp_path, capsys):
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "quiz:\n"
        "  - id: team-z2\n"
        "    topic: data\n"
        "    prompt: '   '\n"
        "    choices: [a, b, c, d]\n"
        "    answer: 1\n"
        "    explanation: e\n"
        "  - id: team-z3\n"
        "    topic: data\n"
        "    prompt: p\n"
        "    choices: [a, b, c, d]\n"
        "    answer: second\n"
        "    explanation: e\n"
    )
    assert main(["content", "validate", str(pack)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{pack}:4: team-z2: prompt: must not be empty" in lines
    assert f"{pack}:12: team-z3: answer: expected a whole number, got text" in lines


def test_duplicate_ids_across_packs_are_reported(tmp_path, capsys):
    dupe = tmp_path / "dupe.yaml"
    dupe.write_text(PACK.read_text())
    assert main(["content", "validate", str(PACK), str(dupe)]) == 1
    assert f"{dupe}:3: duplicate id 't-serving-carousel' (first in {PACK})" in capsys.readouterr().out


def test_content_list_shows_counts_per_topic_and_difficulty(capsys, monkeypatch):
    monkeypatch.delenv("MLSD_CONFIG", raising=False)
    assert main(["content", "list", "--topic", "serving"]) == 0
    out = capsys.readouterr().out
    assert "serving              3       5     4     12     8" in out
    assert "formulation" not in out.split("topic")[-1]


def test_custom_packs_from_config_load_beside_the_builtin_ones(tmp_path, capsys, monkeypatch):
    config = tmp_path / "mlsd.yaml"
    config.write_text(f"content_packs: [{PACK}]\n")
    monkeypatch.setenv("MLSD_CONFIG", str(config))
    assert main(["content", "list"]) == 0
    out = capsys.readouterr().out
    assert "t-serving-carousel" in out and "serving-similar-items-caching" in out


def test_environment_overrides_the_config_file(tmp_path):
    config = tmp_path / "mlsd.yaml"
    config.write_text("database_url: sqlite:///from-file.db\ntimezone: Europe/Berlin\nadmins: [U1]\n")
    settings = load_settings({"MLSD_CONFIG": str(config), "MLSD_ADMINS": "U7, U8",
                              "SLACK_BOT_TOKEN": "xoxb-secret-value"})
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.admins == ["U7", "U8"]
    assert settings.timezone == "Europe/Berlin"
    assert "xoxb-secret-value" not in repr(settings) and "xoxb-secret-value" not in str(settings)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timezone: Mars/Base\n", "unknown time zone 'Mars/Base'"),
        ("min_answer_chars: lots\n", "min_answer_chars"),
        ("colour: red\n", "colour"),
        ("[unclosed\n", "invalid YAML"),
    ],
)
def test_bad_config_names_the_setting(tmp_path, content, message):
    config = tmp_path / "mlsd.yaml"
    config.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings({"MLSD_CONFIG": str(config)})
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLSD_LLM_DAILY_CAP": "lots"}, "llm_daily_cap: expected a whole number, got text"),
        ({"MLSD_GRADER": "gpt"}, "grader: unknown grader 'gpt': use local or llm"),
        ({"MLSD_DISCORD_GUILD_IDS": "12,abc"}, "discord_guild_ids"),
    ],
)
def test_a_bad_environment_variable_names_the_setting(env, message):
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert message in str(err.value)


def test_run_without_credentials_says_what_to_set(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MLSD_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = run_cli("run", env=env)
    assert result.returncode == 2
    assert "no platform credentials found" in result.stderr and "mlsd-bot demo" in result.stderr


def test_a_pack_that_is_not_utf8_is_one_clear_line_and_the_rest_still_checks(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("questions:\n  - id: caf\xe9\n".encode("latin-1"))
    result = run_cli("content", "validate", str(latin), str(PACK))
    assert result.returncode == 1
    assert f"{latin}:2: not UTF-8 (byte 0xe9 at offset" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1  # the good pack beside it was checked and had nothing to report
