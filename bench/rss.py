"""Resident memory of the real `mlsd-bot run` process, beside two floors.

    python bench/rss.py [--no-reveal]

Starts `mlsd-bot run` with BOTH adapters against loopback stand-ins
(tests/slack/standin.py over Socket Mode, tests/discord/standin.py's REST and
gateway) on a database that already exists (a restart, as in production: the
very first start on a new database also loads Alembic to create the schema),
waits until Slack's websocket is open and Discord has identified and
synced /mlsd, lets it settle, and reads VmRSS. Beside it:

- floor "imports": a bare Python process that imports aiohttp, slack_bolt's
  AsyncApp, slack_sdk's AsyncWebClient and discord, and connects nothing;
- floor "bare Bolt": bench/_bolt_floor.py, an AsyncApp served over HTTP, idle.

Then (unless --no-reveal) it subscribes a Slack channel, posts a question,
sends three answers and reveals them, which loads the grader model, and reads
the peak (VmHWM) and the RSS after. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._procs import ROOT, clean_env, free_port, mlsd_bot, rss_mb
from tests.discord.standin import DiscordStandIn
from tests.slack import standin as slack_standin

ADMIN = "UADMIN"
CHANNEL = "CRSS0001"
TARGET_MB = 80.0
FLOOR_IMPORTS = ("import aiohttp, slack_bolt.async_app, slack_sdk.web.async_client, discord, sys; "
                 "print('ready', flush=True); sys.stdin.read()")


async def settled_rss(pid: int, seconds: float = 3.0) -> float:
    """The median of a few VmRSS readings once start-up work has had `seconds` to finish."""
    await asyncio.sleep(seconds)
    readings = []
    for _ in range(5):
        readings.append(rss_mb(pid))
        await asyncio.sleep(0.2)
    return statistics.median(readings)


async def floor_imports() -> float:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", FLOOR_IMPORTS, cwd=ROOT,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    await proc.stdout.readline()
    try:
        return await settled_rss(proc.pid, 0.5)
    finally:
        proc.stdin.close()
        await proc.wait()


async def floor_bolt(api_url: str, log: Path) -> float:
    port = free_port()
    env = clean_env(SLACK_BOT_TOKEN=slack_standin.BOT_TOKEN, SLACK_SIGNING_SECRET=slack_standin.SIGNING_SECRET,
                    MLSD_SLACK_API_URL=api_url)
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(sys.executable, str(Path(__file__).with_name("_bolt_floor.py")),
                                                    str(port), env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        await _wait_port(port)
        return await settled_rss(proc.pid, 1.0)
    finally:
        proc.terminate()
        await proc.wait()


async def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


async def command(slack: slack_standin.SlackStandIn, text: str) -> None:
    envelope = await slack.send_envelope("slash_commands",
                                         slack.command_form(text, user=ADMIN, channel=CHANNEL))
    await slack.wait_ack(envelope, timeout=10)


async def reveal_cycle(slack: slack_standin.SlackStandIn) -> None:
    """Subscribe, post now, three answers, reveal now: the reveal grades, loading the model."""
    await command(slack, "subscribe serving at 09:00")
    await slack.wait_for("chat.postMessage", timeout=30)
    before = len(slack.calls_to("chat.postMessage"))
    await command(slack, "post-now serving")
    posts = await slack.wait_for("chat.postMessage", count=before + 1, timeout=30)
    thread = next(c.ts for c in reversed(posts) if not c.args.get("thread_ts"))
    for i, user in enumerate(("U1", "U2", "U3")):
        ts = f"{int(time.time())}.{i + 1:06d}"
        await slack.send_envelope("events_api", slack.event_body({
            "type": "message", "channel": CHANNEL, "user": user, "ts": ts, "thread_ts": thread,
            "channel_type": "channel",
            "text": ("I would split the latency budget per stage, cache candidates near the ranker and "
                     f"fall back to a popularity list when the model is slow. Answer {i}."),
        }))
    await slack.wait_for("reactions.add", count=3, timeout=30)
    await command(slack, "reveal-now")
    await slack.wait_for("chat.postMessage", timeout=60, thread_ts=thread)


async def main(reveal: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="mlsd-bench-rss-"))
    slack = await slack_standin.SlackStandIn(admins=["UOWNER"]).start()
    discord = await DiscordStandIn().start()
    env = clean_env(
        SLACK_BOT_TOKEN=slack_standin.BOT_TOKEN, SLACK_APP_TOKEN=slack_standin.APP_TOKEN,
        SLACK_SIGNING_SECRET=slack_standin.SIGNING_SECRET, MLSD_SLACK_API_URL=slack.api_url,
        DISCORD_TOKEN="test-token", MLSD_DISCORD_API_URL=discord.api_url,
        MLSD_DISCORD_GATEWAY_URL=discord.gateway_url, MLSD_DISCORD_GUILD_IDS=str(discord.guild_id),
        MLSD_DATABASE_URL=f"sqlite:///{tmp / 'bot.db'}", MLSD_ADMINS=ADMIN,
    )
    from bot.store.repo import Store

    Store.open(env["MLSD_DATABASE_URL"]).close()  # the schema exists: this start is a restart
    log = tmp / "bot.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(*mlsd_bot(), "run", env=env, cwd=ROOT, stdout=out, stderr=out)
    peak = after = None
    try:
        started = time.monotonic()
        await slack.socket_connected(timeout=60)
        await discord.wait_for(lambda: discord.commands.get(str(discord.guild_id)), timeout=60,
                               what="the bot to identify and sync /mlsd")
        ready = time.monotonic() - started
        idle = await settled_rss(proc.pid)
        idle_peak = rss_mb(proc.pid, "VmHWM")
        if reveal:
            await reveal_cycle(slack)
            peak, after = rss_mb(proc.pid, "VmHWM"), await settled_rss(proc.pid, 1.0)
    except Exception:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
    imports = await floor_imports()
    bolt = await floor_bolt(slack.api_url, tmp / "floor.log")
    await discord.close()
    await slack.stop()

    print(f"mlsd-bot run (Slack Socket Mode + Discord gateway, both connected in {ready:.1f} s; "
          "existing database)")
    print(f"{'figure':<52} {'MB':>8} {'ratio':>8}  target")
    print(f"{'idle RSS after start':<52} {idle:>8.1f} {'':>8}  <= {TARGET_MB:.0f} MB")
    print(f"{'  peak during start (VmHWM)':<52} {idle_peak:>8.1f}")
    print(f"{'floor: python importing aiohttp+slack_bolt+discord':<52} {imports:>8.1f} {idle / imports:>7.2f}x")
    print(f"{'floor: a bare Bolt AsyncApp served over HTTP, idle':<52} {bolt:>8.1f} {idle / bolt:>7.2f}x")
    if peak is not None and after is not None:
        print(f"{'peak RSS after a reveal that loads the grader (VmHWM)':<52} {peak:>8.1f}")
        print(f"{'  RSS after that reveal':<52} {after:>8.1f}")
    else:
        print("peak after a reveal: not measured (--no-reveal)")
    errors = [line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line]
    if errors:
        print(f"bot log: {len(errors)} error line(s), first: {errors[0][:160]}")
    print(f"log: {log}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-reveal", action="store_true", help="skip the reveal (peak RSS not measured)")
    sys.exit(asyncio.run(main(not parser.parse_args().no_reveal)))
