"""Fan-out: N channels (default 1,000) due the same minute, each figure beside its floor from the same run.

    python bench/fanout.py [--channels 1000] [--platform slack discord] [--drive scheduler]

Every channel subscribes to the same topic at the same local time; that minute
comes and the bot (the real Core, the platform's real adapter and port, and
BotScheduler firing its post jobs; see bench/_fanout_bot.py) posts every
channel's question to a platform stand-in in another process that answers each
call after 50 ms (bench/_fanout_standin.py).

Printed per platform:

- last post landed: from the due minute to the last post answered by the
  stand-in. Slack's floor: the same number of chat.postMessage calls (same
  payload) made directly with slack-sdk's AsyncWebClient at the bot's
  concurrency, same stand-in, same run. Discord's floor: the successful
  requests the fan-out needed / 50 per second (the global limit the stand-in
  enforces).
- worst event-loop stall during the fan-out (a 1 ms ticker's worst lateness),
  beside the same ticker on the idle, fully started bot.

Nothing is asserted; targets (issue 12) are printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _fanout_bot import (  # noqa: E402
    DRIVES,
    DueMinute,
    Fired,
    LogTally,
    Stall,
    StallTicker,
    bot_concurrency,
    fire,
    idle_floor,
    maybe_await,
    post_statuses,
    seed,
    start_scheduler,
)
from _fanout_standin import GLOBAL_LIMIT, StandInProcess  # noqa: E402

from bot.clock import FakeClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.content import load_bank  # noqa: E402
from bot.core import Core  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.store.repo import Store  # noqa: E402

SLACK_TARGET_S = 5.0
DISCORD_TARGET_RATIO = 1.2


def commit() -> str:
    """HEAD plus how many files under the code directories differ from it (other helpers' work)."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    if not head:
        return "(not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "bot", "adapters", "scheduler"],
                           capture_output=True, text=True).stdout.splitlines()
    return f"{head}" + (f" + {len(dirty)} uncommitted file(s) in bot/ adapters/ scheduler/" if dirty else "")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor > 0 else "n/a"


def build_core(url: str, clock: FakeClock, **platform: Any) -> Core:
    bank, problems = load_bank()
    if problems:
        print(f"  (content problems: {len(problems)})")
    settings = Settings(database_url=url, admins=["UADMIN"], **platform)
    return Core(Runtime(settings=settings, store=Store.open(url), bank=bank, clock=clock))


class Run:
    """One platform's run: a fresh database, stand-in, bot; fire; the floor; print."""

    def __init__(self, args: argparse.Namespace, platform: str) -> None:
        self.args = args
        self.platform = platform
        self.n = args.channels
        self.due = DueMinute.ahead(args.zone)
        self.clock = FakeClock(self.due.moment - _minutes(1))
        self.tmp = tempfile.mkdtemp(prefix=f"mlsd-fanout-{platform}-")
        self.url = args.database_url or f"sqlite:///{self.tmp}/fanout.db"

    async def bot(self, standin: StandInProcess, core: Core, adapter: Any, workspace: str) -> tuple[Fired, Stall]:
        info = standin.info
        ids = seed(core.rt.store, self.platform, workspace, info["channels"], self.args.topic, self.due)
        await maybe_await(adapter.start())
        core.rt.ports[adapter.port.platform] = adapter.port
        sched = await start_scheduler(core)
        idle = await idle_floor(self.args.idle_seconds)
        standin.reset()
        try:
            fired = await fire(core, self.clock, sched, self.due, ids, self.args.drive, self.timeout())
        finally:
            await maybe_await(sched.shutdown())
        return fired, idle

    def timeout(self) -> float:
        if self.platform == "discord":
            return 15 + 2 * (2 * self.n / GLOBAL_LIMIT)
        return 15 + self.n * 0.03

    def header(self, fired: Fired) -> None:
        how = {"scheduler": f"APScheduler firing {fired.jobs} post* jobs (its executor, as at the minute)",
               "post_due": f"{fired.jobs} Core.post_due calls at once", "run_due": "one Core.run_due"}
        print(f"\n{self.platform.capitalize()}: {self.n} channels due {self.due.local} {self.due.zone} "
              f"(FakeClock at the minute), {self.args.latency * 1000:.0f} ms platform latency")
        print(f"  driven by: {how[fired.drive]}" + (f"  [{fired.note}]" if fired.note else ""))

    def common(self, fired: Fired, idle: Stall, stats: dict[str, Any], statuses: dict[str, int],
               logs: LogTally) -> None:
        done = f"{fired.done - fired.t0:.2f} s" if fired.done is not None else f"timed out ({self.timeout():.0f} s)"
        print(f"  every post job finished   {done}   {dict(fired.outcomes)}")
        print(f"  posts landed              {stats['posts']}/{self.n}   database: {statuses}")
        print(f"  stand-in                  {stats['ok']} ok, {stats['rejected']} x 429, {stats['failed']} other "
              f"errors; peak {stats['peak_inflight']} requests in flight; "
              f"its CPU {stats['cpu']:.1f} s")
        print(f"  worst loop stall          {ms(fired.stall.worst):>10} (p99 {ms(fired.stall.p99)})   "
              f"idle floor {ms(idle.worst)} (p99 {ms(idle.p99)})   ratio {ratio(fired.stall.worst, idle.worst)}")
        if logs.counts:
            print(f"  log warnings/errors       {dict(logs.counts.most_common(5))}")
        for line in logs.first:
            print(f"    {line}")

    async def slack(self) -> None:
        from adapters.slack.app import create_adapter

        standin = StandInProcess("slack", self.n, self.args.latency)
        info = standin.info
        core = build_core(self.url, self.clock, slack_bot_token=info["bot_token"],
                          slack_signing_secret=info["signing_secret"], slack_api_url=info["api_url"])
        adapter = create_adapter(core.rt.settings, core, http_port=0, http_host="127.0.0.1")
        try:
            with LogTally() as logs:
                fired, idle = await self.bot(standin, core, adapter, info["team_id"])
            stats = standin.stats()
            statuses = post_statuses(core.rt.store)
            sample = standin.sample()
            concurrency, source = bot_concurrency(core, adapter.port, self.n)
            floor = await self.slack_floor(standin, sample, concurrency)
        finally:
            await maybe_await(adapter.stop())
            core.rt.store.close()
            standin.stop()
        self.header(fired)
        last = _since(stats["last_post"], fired.t0)
        print(f"  last post landed          {last:>8.2f} s after the minute   floor {floor['last']:.2f} s "
              f"({self.n} x chat.postMessage via AsyncWebClient, concurrency {concurrency}: {source})   "
              f"ratio {ratio(last, floor['last'])}   target <= {SLACK_TARGET_S:.0f} s: "
              f"{'met' if last <= SLACK_TARGET_S and stats['posts'] == self.n else 'not met'}")
        print(f"  floor run                 {floor['posts']} landed, worst stall {ms(floor['stall'].worst)}, "
              f"peak {floor['peak']} in flight, stand-in CPU {floor['cpu']:.1f} s")
        self.common(fired, idle, stats, statuses, logs)

    async def slack_floor(self, standin: StandInProcess, sample: dict[str, Any], concurrency: int) -> dict[str, Any]:
        """The same chat.postMessage calls straight through slack-sdk, at the same concurrency."""
        from slack_sdk.web.async_client import AsyncWebClient

        info = standin.info
        client = AsyncWebClient(token=info["bot_token"], base_url=info["api_url"])
        gate = asyncio.Semaphore(concurrency)
        text, blocks = sample.get("text") or "floor", sample.get("blocks") or None

        async def post(channel: str) -> None:
            async with gate:
                await client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                              unfurl_links=False, unfurl_media=False)

        standin.reset()
        ticker = StallTicker().start()
        t0 = time.monotonic()
        await asyncio.gather(*(post(c) for c in info["channels"]), return_exceptions=True)
        stall = await ticker.stop()
        stats = standin.stats()
        return {"last": _since(stats["last_post"], t0), "posts": stats["posts"], "stall": stall,
                "peak": stats["peak_inflight"], "cpu": stats["cpu"]}

    async def discord(self) -> None:
        from adapters.discord.client import create_adapter

        standin = StandInProcess("discord", self.n, self.args.latency)
        info = standin.info
        core = build_core(self.url, self.clock, discord_token="test-token", discord_api_url=info["api_url"],
                          discord_gateway_url=info["gateway_url"], discord_guild_ids=[info["guild_id"]])
        adapter = create_adapter(core.rt.settings, core)
        try:
            with LogTally() as logs:
                fired, idle = await self.bot(standin, core, adapter, str(info["guild_id"]))
            stats = standin.stats()
            statuses = post_statuses(core.rt.store)
        finally:
            await maybe_await(adapter.stop())
            core.rt.store.close()
            standin.stop()
        self.header(fired)
        last = _since(stats["last_ok"], fired.t0)
        floor = stats["ok"] / GLOBAL_LIMIT
        kinds = {k: v for k, v in stats["by_kind"].items() if not k.endswith(" ok") or v}
        print(f"  last request landed       {last:>8.2f} s after the minute   floor {floor:.2f} s "
              f"({stats['ok']} successful requests / {GLOBAL_LIMIT} per s)   ratio {ratio(last, floor)}   "
              f"target <= {DISCORD_TARGET_RATIO}x: "
              f"{'met' if floor and last / floor <= DISCORD_TARGET_RATIO and stats['posts'] == self.n else 'not met'}")
        print(f"  last post landed          {_since(stats['last_post'], fired.t0):>8.2f} s   requests: {kinds}")
        self.common(fired, idle, stats, statuses, logs)


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


def _since(instant: float | None, t0: float) -> float:
    return float("nan") if instant is None else instant - t0


async def main(args: argparse.Namespace) -> None:
    print(f"fan-out bench at {args.label or commit()}; drive: {args.drive}; database: "
          f"{(args.database_url or 'sqlite (temporary file)').split('://')[0]}")
    for platform in args.platform:
        run = Run(args, platform)
        await (run.slack() if platform == "slack" else run.discord())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000, help="channels due the same minute")
    parser.add_argument("--platform", nargs="+", choices=("slack", "discord"), default=["slack", "discord"])
    parser.add_argument("--drive", choices=DRIVES, default="scheduler",
                        help="scheduler: APScheduler runs the post jobs; post_due / run_due: the core directly")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the stand-in takes per call")
    parser.add_argument("--topic", default="serving")
    parser.add_argument("--zone", default="Europe/Berlin", help="the channels' time zone")
    parser.add_argument("--idle-seconds", type=float, default=2.0, help="how long to measure the idle loop")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--label", help="what code this is (default: git HEAD and uncommitted files)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
