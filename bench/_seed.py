"""Seed a database for the HTTP benchmarks through the core's public API.

The history is laid out relative to the real "now", so the bot process runs on
its ordinary system clock (no test hook): `days` daily questions in one Slack
channel, each answered by `members` members and revealed, so the ledger holds
weeks of points; then today's question, posted 30 minutes ago and still open;
then `channels` other channels subscribed at a time about twelve hours away, so
nothing falls due while the benchmark runs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.console.port import MemoryPort
from bot.clock import FakeClock
from bot.config import Settings
from bot.content import load_bank
from bot.core import Core
from bot.domain import ChannelRef, MessageKind, Question, SlashCommand, ThreadReply
from bot.grading.service import GradingService
from bot.grading.verdict import Grading, PointVerdict
from bot.runtime import Runtime
from bot.store.repo import Store

ADMIN = "UADMIN"
MAIN_CHANNEL = "CMAIN"
ANSWERS = (
    "I would split the latency budget per stage, cache the candidates and fall back to a heuristic "
    "when the ranker is slow; member {m}, day {d}.",
    "Start from the product goal and a success metric, build features from the event log, train a "
    "ranker offline and run an A/B test before rollout; member {m}, day {d}.",
    "Monitor drift on the input features and the label delay, alert on the business metric and "
    "retrain on a schedule with a shadow deployment first; member {m}, day {d}.",
)


class _QuickGrader:
    """Seeding only: every other key point covered, quoting the answer's first sentence.
    The bot process itself grades with its real grader; this keeps seeding to seconds."""

    def grade(self, question: Question, answer: str) -> Grading:
        quote = answer.split(";")[0]
        return Grading(tuple(PointVerdict(i % 2 == 0, quote if i % 2 == 0 else "")
                             for i in range(len(question.key_points))))


@dataclass(frozen=True)
class Seeded:
    channel: ChannelRef
    thread_ts: str  # today's open question
    quiet_time: str  # HH:MM about twelve hours from now: subscribing at it posts nothing during the run
    seconds: float


def _hhmm(when: datetime) -> str:
    return f"{when.hour:02d}:{when.minute:02d}"


async def seed(url: str, team_id: str, *, members: int, days: int, channels: int) -> Seeded:
    started = time.perf_counter()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    post_at = now - timedelta(minutes=30)
    quiet = now + timedelta(hours=12)
    settings = Settings(database_url=url, admins=[ADMIN])
    bank, _ = load_bank()
    store = Store.open(url)
    clock = FakeClock(post_at - timedelta(days=days, minutes=5))
    port = MemoryPort(platform="slack")
    grading = GradingService(_QuickGrader())  # type: ignore[arg-type]
    core = Core(Runtime(settings, store, bank, clock, {"slack": port}, grading=grading))
    channel = ChannelRef("slack", team_id, MAIN_CHANNEL)
    ids = iter(range(10**9))
    await core.handle(SlashCommand(channel, ADMIN, f"subscribe serving at {_hhmm(post_at)} tz UTC days daily "
                                   "window 8h", f"seed-{next(ids)}"))
    for day in range(days + 1):
        clock.set(post_at - timedelta(days=days - day))
        await core.run_due()
        thread = [c for c in port.of("send") if c.message is not None
                  and c.message.kind == MessageKind.DAILY_POST][-1].thread_id or ""
        if day == days:
            break
        for m in range(members):
            text = ANSWERS[(m + day) % len(ANSWERS)].format(m=m, d=day)
            await core.handle(ThreadReply(channel, thread, f"seed{day}.{m:04d}", f"U{m:02d}", text,
                                          f"seed-{next(ids)}"))
        clock.advance(hours=8, minutes=1)
        await core.run_due()
    clock.set(post_at + timedelta(minutes=1))
    for c in range(channels):
        other = ChannelRef("slack", team_id, f"CSEED{c:05d}")
        await core.handle(SlashCommand(other, ADMIN, f"subscribe serving at {_hhmm(quiet)} tz UTC",
                                       f"seed-{next(ids)}"))
    store.close()
    return Seeded(channel, thread, _hhmm(quiet), time.perf_counter() - started)


if __name__ == "__main__":  # a quick look: python -m bench._seed
    import tempfile

    tmp = tempfile.mkdtemp(prefix="mlsd-seed-")
    print(asyncio.run(seed(f"sqlite:///{tmp}/seed.db", "T0BENCH", members=50, days=14, channels=1000)))
