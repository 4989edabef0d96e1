"""The bank installs with the package: a wheel in a fresh virtualenv lists every question.

An editable install finds content/ beside the code; a wheel, `pip install .`,
pipx and the Docker image only have what the distribution carries, so this
builds one and installs it with no network (dependencies come from this
environment through --system-site-packages, our own package from the wheel).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.content import load_bank

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """Build the wheel and install it alone into a folder put first on PYTHONPATH."""
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = out.glob("mlsd_bot-*.whl")
    target = out / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return target, wheel


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("MLSD_CONFIG", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_a_wheel_install_lists_the_whole_bank(wheel_env, tmp_path):
    target, _ = wheel_env
    where = _run(target, tmp_path, "-c", "import bot.content as c; print(c.BUILTIN_DIR)")
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr  # not this checkout
    result = _run(target, tmp_path, "-m", "bot.cli", "content", "list")
    assert result.returncode == 0, result.stderr
    bank, _ = load_bank()
    assert [q for q in bank.questions if q not in result.stdout] == []


def test_the_wheel_carries_the_grader_model(wheel_env):
    import zipfile

    _, wheel = wheel_env
    names = zipfile.ZipFile(wheel).namelist()
    assert "bot/grading/model/model.onnx" in names and "bot/grading/model/tokenizer.json" in names
    assert any(n.startswith("mlsd_bank/questions/") and n.endswith(".yaml") for n in names)


def test_an_empty_bank_stops_demo_and_run_with_the_reason(wheel_env, tmp_path):
    import shutil

    target, _ = wheel_env
    broken = tmp_path / "site"
    shutil.copytree(target, broken)
    for path in (broken / "mlsd_bank" / "questions").glob("*.yaml"):
        path.unlink()
    demo = _run(broken, tmp_path, "-m", "bot.cli", "demo")
    assert demo.returncode == 2
    assert "no questions to post: the built-in question banks are missing" in demo.stderr
    assert "Traceback" not in demo.stderr
    env_run = _run(broken, tmp_path, "-c", (
        "import os, sys; os.environ['SLACK_BOT_TOKEN'] = 'xoxb-test'; os.environ['SLACK_SIGNING_SECRET'] = 's';"
        f"os.environ['MLSD_DATABASE_URL'] = 'sqlite:///{tmp_path}/x.db';"
        "from bot.cli import main; sys.exit(main(['run', 'slack', '--http', '--port', '0']))"))
    assert env_run.returncode == 2 and "no questions to post" in env_run.stderr, env_run.stderr[-1500:]
