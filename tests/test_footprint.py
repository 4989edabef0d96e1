"""The long-running bot leaves out the libraries only tests, migrations and the LLM grader need.

Idle memory is a budget (80 MB with both adapters connected, `bench/rss.py`):
SQLAlchemy's ORM with SQLModel costs about 10 MB of it, pydantic about 7 MB,
Alembic about 10 MB, and matplotlib far more. A start of the bot on an existing
database, with its scheduler running, must not import any of them; an import
slipped into a module on that path shows up here before it shows up in RSS.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bot.store.repo import Store

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy.orm", "sqlmodel", "pydantic", "alembic", "matplotlib", "numpy", "onnxruntime", "openai")

START = textwrap.dedent("""
    import asyncio, sys
    import adapters.discord.client, adapters.slack.app, bot.cli, scheduler.service
    from bot.config import load_settings

    async def main():
        core = bot.cli.build_core(load_settings())
        jobs = scheduler.service.BotScheduler(core)
        await jobs.start()
        await core.run_due()
        await jobs.shutdown()
        core.rt.store.close()

    asyncio.run(main())
    print(" ".join(m for m in {heavy} if m in sys.modules))
""")


def test_a_restarted_bot_imports_none_of_the_heavy_libraries(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    Store.open(url).close()  # the schema exists: this start is a restart
    script = START.replace("{heavy}", repr(HEAVY))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "MLSD_DATABASE_URL": url}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"the bot imported {result.stdout.strip()}"
