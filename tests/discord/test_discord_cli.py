"""The real `mlsd-bot run discord` process against the stand-in."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

from tests.discord.standin import DiscordStandIn

# Loaded by the child (via PYTHONPATH): any connection to a host other than this machine fails loudly.
LOOPBACK_ONLY = '''
import socket
_connect = socket.socket.connect
def _guarded(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        raise RuntimeError(f"mlsd-bot tried to reach the network: {address!r}")
    return _connect(self, address)
socket.socket.connect = _guarded
'''


def _command() -> list[str]:
    script = shutil.which("mlsd-bot")
    return [script] if script else [sys.executable, "-m", "bot.cli"]


async def _spawn(standin: DiscordStandIn, tmp_path: Path) -> asyncio.subprocess.Process:
    (tmp_path / "sitecustomize.py").write_text(LOOPBACK_ONLY)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLSD_", "SLACK_", "DISCORD_"))},
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "DISCORD_TOKEN": "test-token",
        "MLSD_DISCORD_API_URL": standin.api_url,
        "MLSD_DISCORD_GATEWAY_URL": standin.gateway_url,
        "MLSD_DISCORD_GUILD_IDS": str(standin.guild_id),
        "MLSD_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "MPLBACKEND": "Agg",
    }
    return await asyncio.create_subprocess_exec(
        *_command(), "run", "discord", env=env, cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_mlsd_bot_run_discord_serves_the_stand_in(standin, tmp_path):
    admin = standin.add_user("ada", manage_guild=True)
    process = await _spawn(standin, tmp_path)
    try:
        await standin.wait_for(lambda: standin.commands.get(str(standin.guild_id)), timeout=45,
                               what="the bot to identify and sync /mlsd")
        (identify,) = standin.identifies
        assert identify["token"] == "test-token"

        help_ = await standin.slash(admin, "help")
        await standin.wait_for(lambda: help_.replies, timeout=15, what="/mlsd help to be answered")
        assert help_.answered_in is not None and help_.answered_in < 3.0
        assert "/mlsd subscribe" in help_.text()

        subscribed = await standin.slash(admin, "subscribe", topic="serving", at="09:00", tz="Europe/Berlin")
        await standin.wait_for(lambda: subscribed.replies, timeout=15, what="/mlsd subscribe to be answered")
        assert "Subscribed: Serving architecture at 09:00 Europe/Berlin" in subscribed.text()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log and "tried to reach the network" not in log
    assert "discord: connected as" in log


async def test_mlsd_bot_run_discord_explains_a_missing_message_content_intent(tmp_path):
    standin = await DiscordStandIn(message_content_enabled=False).start()
    try:
        process = await _spawn(standin, tmp_path)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await standin.close()
    log = stderr.decode()
    assert process.returncode != 0
    assert "Message Content intent" in log and "https://discord.com/developers/applications" in log


async def test_mlsd_bot_run_discord_exits_non_zero_when_the_gateway_will_not_take_it_back(standin, tmp_path):
    process = await _spawn(standin, tmp_path)
    try:
        await standin.wait_for(lambda: standin.commands.get(str(standin.guild_id)), timeout=45,
                               what="the bot to identify and sync /mlsd")
        await standin.close_gateway(4004, "Authentication failed.")  # a close discord.py may not retry
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = stderr.decode()
    assert process.returncode == 1, log  # not running on deaf: a supervisor restarts it
    assert "exit status 1" in log and "4004" in log and "will not come back" in log
    assert "Traceback" not in log and "DISCORD_TOKEN" in log
