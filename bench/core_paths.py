"""Benchmark the core's hot paths on a realistic channel, printing figures.

    python bench/core_paths.py [--members 200] [--days 60] [--database-url sqlite:///...]

Seeds one channel with a subscription, `days` daily questions and `members`
answering each (through the real core and the in-memory port), then times:
recording one answer, one reveal, a leaderboard, a member's stats and the
weekly digest (wall time, database and chart threads included), and the CPU
one `/mlsd leaderboard` costs this process (`time.process_time()` over many
calls: what limits acks under concurrency, since threads share one GIL).
Nothing here asserts: read the numbers, compare across changes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.console.port import MemoryPort
from bot.clock import FakeClock
from bot.config import Settings
from bot.content import load_bank
from bot.core import Core
from bot.domain import ChannelRef, SlashCommand, ThreadReply
from bot.runtime import Runtime
from bot.store.repo import Store

CHANNEL = ChannelRef("console", "bench", "C1")


def _timed(samples: list[float], started: float) -> None:
    samples.append((time.perf_counter() - started) * 1000)


def _report(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"{name:<28} n={len(samples):>5}  median {statistics.median(samples):8.2f} ms  "
          f"p95 {p95:8.2f} ms  max {samples[-1]:8.2f} ms")


async def main(members: int, days: int, database_url: str | None) -> None:
    tmp = tempfile.mkdtemp(prefix="mlsd-bench-")
    url = database_url or f"sqlite:///{tmp}/bench.db"
    settings = Settings(database_url=url, admins=["lead"])
    bank, _ = load_bank()
    store = Store.open(url)
    clock = FakeClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    port = MemoryPort()
    core = Core(Runtime(settings, store, bank, clock, {"console": port}))
    await core.handle(SlashCommand(CHANNEL, "lead", "subscribe all at 09:00 days daily window 8h", "s1"))
    answer_ms: list[float] = []
    reveal_ms: list[float] = []
    started_all = time.perf_counter()
    for day in range(days):
        clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(days=day))
        await core.run_due()
        thread = port.of("send")[-1].thread_id or ""
        for m in range(members):
            text = (f"Member {m}: I would split the latency budget per stage, cache candidates, "
                    f"and fall back to a heuristic; day {day}.")
            started = time.perf_counter()
            await core.handle(ThreadReply(CHANNEL, thread, f"d{day}m{m}", f"U{m}", text, f"e{day}-{m}"))
            _timed(answer_ms, started)
        clock.advance(hours=8, minutes=1)
        started = time.perf_counter()
        await core.run_due()
        _timed(reveal_ms, started)
    seeded = time.perf_counter() - started_all
    print(f"database: {url.split(':')[0]} · {members} members × {days} days "
          f"= {members * days:,} answers seeded in {seeded:.1f} s\n")
    _report("record one answer", answer_ms)
    _report(f"reveal ({members} answers)", reveal_ms)
    for name, text in (("leaderboard week", "leaderboard week"), ("leaderboard all", "leaderboard all"),
                       ("stats (with chart)", "stats"), ("digest (with chart)", "digest")):
        samples: list[float] = []
        for i in range(10):
            started = time.perf_counter()
            await core.handle(SlashCommand(CHANNEL, f"U{i}", text, f"{name}-{i}"))
            _timed(samples, started)
        _report(name, samples)
    print()
    for window in ("week", "month", "all"):
        calls = 500
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(calls):
            await core.handle(SlashCommand(CHANNEL, f"U{i % members}", f"leaderboard {window}", f"cpu-{window}-{i}"))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{'leaderboard ' + window + ' CPU':<28} n={calls:>5}  {cpu / calls * 1000:8.3f} ms CPU per command  "
              f"(wall {wall / calls * 1000:.3f} ms)")
    store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.members, args.days, args.database_url))
