"""The bot side of bench/fanout.py: seed N channels, start the bot as `mlsd-bot run` does, fire the minute.

The bot is built the way `bot/cli.py serve()` builds it (Core + the platform's
real adapter + BotScheduler listening to schedule changes), on a FakeClock
that stands a minute before the due time while everything starts. Then the
clock is set to the due minute and the post jobs fire:

- `scheduler` (default): APScheduler itself runs every `post*` job it holds, as
  at the minute in production: the jobs are given a next run time of now and
  the scheduler is resumed, so its own executor starts them. Only the wall-clock
  wait is skipped.
- `post_due`: every subscription's `Core.post_due` at once (what the jobs call).
- `run_due`: one `Core.run_due` (what the safety sweep calls).

The due minute is twelve hours ahead of the wall clock, so neither the cron
triggers nor the reveal jobs the posts create fire by themselves during the run.

Written against APIs in transition (use cases and scheduler becoming async):
anything that may or may not be a coroutine goes through `maybe_await`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from sqlmodel import Session, func, select

from bot.clock import FakeClock
from bot.core import Core
from bot.store.models import GroupRow, PostRow, SubscriptionRow
from bot.store.repo import Store
from scheduler.service import BotScheduler

DRIVES = ("scheduler", "post_due", "run_due")


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@dataclass(frozen=True)
class DueMinute:
    """The minute every channel is due: `local` HH:MM in `zone`, which is `moment` in UTC."""

    moment: datetime
    local: str
    zone: str

    @classmethod
    def ahead(cls, zone: str, hours: int = 12) -> DueMinute:
        moment = (datetime.now(UTC) + timedelta(hours=hours)).replace(second=0, microsecond=0)
        return cls(moment, moment.astimezone(ZoneInfo(zone)).strftime("%H:%M"), zone)


def seed(store: Store, platform: str, workspace: str, channels: list[str], topic: str, due: DueMinute,
         ) -> list[int]:
    """One group and one subscription per channel, all at the same local time; returns the ids.

    Through the store in one unit of work (rows exactly as `/mlsd subscribe` writes
    them), because a thousand subscribe commands would take longer than the run.
    Subscribed ten minutes before the minute: no earlier slot to skip or look up.
    """
    since = due.moment - timedelta(minutes=10)

    def insert(s: Session) -> list[int]:
        groups = [GroupRow(platform=platform, workspace=workspace, channel=c, timezone=due.zone,
                           created_at=since) for c in channels]
        s.add_all(groups)
        s.flush()
        subs = [SubscriptionRow(group_id=g.id or 0, topic=topic, post_time=due.local, timezone=due.zone,
                                days="mon,tue,wed,thu,fri,sat,sun", window_minutes=1440, effective_from=since,
                                updated_at=since, created_by="UADMIN") for g in groups]
        s.add_all(subs)
        s.flush()
        return [sub.id or 0 for sub in subs]

    with store.session() as s:
        return insert(s)


def post_statuses(store: Store) -> dict[str, int]:
    with store.session() as s:
        rows = s.exec(select(PostRow.status, func.count()).group_by(PostRow.status)).all()  # type: ignore[arg-type]
    return {str(status): int(n) for status, n in rows}


class StallTicker:
    """A task that sleeps 1 ms in a loop; how late it wakes is how long the loop was blocked."""

    PERIOD = 0.001

    def __init__(self) -> None:
        self.late: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.PERIOD)
            self.late.append(time.perf_counter() - started - self.PERIOD)

    def start(self) -> StallTicker:
        self.late = []
        self._task = asyncio.create_task(self._run(), name="stall-ticker")
        return self

    async def stop(self) -> Stall:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return Stall.of(self.late)


@dataclass(frozen=True)
class Stall:
    worst: float
    p99: float
    ticks: int

    @classmethod
    def of(cls, late: list[float]) -> Stall:
        if not late:
            return cls(0.0, 0.0, 0)
        ordered = sorted(late)
        return cls(ordered[-1], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], len(ordered))


async def idle_floor(seconds: float) -> Stall:
    ticker = StallTicker().start()
    await asyncio.sleep(seconds)
    return await ticker.stop()


@dataclass
class Fired:
    drive: str
    jobs: int
    t0: float  # time.monotonic() at the due minute
    done: float | None  # when the last job finished (None: timed out)
    stall: Stall
    outcomes: Counter[str] = field(default_factory=Counter)
    note: str = ""


async def start_scheduler(core: Core) -> BotScheduler:
    """As `serve()` does: the scheduler listens to schedule changes, catches up, builds its jobs."""
    sched = BotScheduler(core)
    core.rt.schedule_listeners.append(sched.schedule_changed)
    await maybe_await(sched.start())
    return sched


async def fire(core: Core, clock: FakeClock, sched: BotScheduler, due: DueMinute, sub_ids: list[int],
               drive: str, timeout: float) -> Fired:
    """Set the clock to the due minute and let the posts go; returns when every job is done."""
    clock.set(due.moment)
    if drive == "scheduler":
        jobs = [j for j in sched.scheduler.get_jobs() if j.id.startswith("post")]
        if jobs:
            return await _fire_scheduler(sched, jobs, timeout)
        note = "the scheduler held no post* job; fell back to Core.post_due"
        drive = "post_due"
    else:
        note = ""
    ticker = StallTicker().start()
    t0 = time.monotonic()
    work = [core.post_due(i) for i in sub_ids] if drive == "post_due" else [core.run_due(due.moment)]
    outcomes: Counter[str] = Counter()
    try:
        results = await asyncio.wait_for(asyncio.gather(*work, return_exceptions=True), timeout)
        done: float | None = time.monotonic()
        for r in results:
            outcomes["raised" if isinstance(r, BaseException) else "finished"] += 1
            for name in ("posted", "skipped", "failed"):
                outcomes[name] += len(getattr(r, name, ()) or ())
    except TimeoutError:
        done = None
    return Fired(drive, len(work), t0, done, await ticker.stop(), outcomes, note)


async def _fire_scheduler(sched: BotScheduler, jobs: list[Any], timeout: float) -> Fired:
    aps = sched.scheduler
    pending = {j.id for j in jobs}
    outcomes: Counter[str] = Counter()
    all_done = asyncio.Event()

    def finished(event: JobEvent) -> None:
        if event.job_id in pending:
            pending.discard(event.job_id)
            outcomes[{EVENT_JOB_EXECUTED: "finished", EVENT_JOB_ERROR: "raised", EVENT_JOB_MISSED: "missed",
                      EVENT_JOB_MAX_INSTANCES: "skipped (still running)"}.get(event.code, str(event.code))] += 1
            if not pending:
                all_done.set()

    aps.pause()
    now = datetime.now(UTC)
    for job in jobs:
        job.modify(next_run_time=now)
    aps.add_listener(finished, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    ticker = StallTicker().start()
    t0 = time.monotonic()
    aps.resume()
    try:
        await asyncio.wait_for(all_done.wait(), timeout)
        done: float | None = time.monotonic()
    except TimeoutError:
        done = None
    stall = await ticker.stop()
    aps.remove_listener(finished)
    return Fired("scheduler", len(jobs), t0, done, stall, outcomes)


def bot_concurrency(core: Core, port: Any, default: int) -> tuple[int, str]:
    """How many posts the bot lets go out at once, if it says so anywhere; else `default`.

    Looked up by name (a module constant, a setting, or a port attribute whose name
    says concurrency), because the posting code is being reworked while this bench
    is written. Without one, every due job runs at once: the scheduler starts them all.
    """
    import bot.practice as practice

    pattern = re.compile(r"concurren|parallel|in_?flight|fan_?out", re.I)
    places: list[tuple[str, Any]] = [("bot.practice", practice), ("settings", core.rt.settings), ("port", port)]
    for label, obj in places:
        for name in dir(obj):
            if name.startswith("__") or not pattern.search(name):
                continue
            value = getattr(obj, name, None)
            if isinstance(value, asyncio.Semaphore):
                value = getattr(value, "_bound_value", None) or getattr(value, "_value", None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return min(value, default), f"{label}.{name}"
    return default, "none set: every due job at once"


class LogTally(logging.Handler):
    """Counts warnings and errors by logger and keeps the first of each, so a run's output stays short."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.levelname} {record.name}"
        self.counts[key] += 1
        if self.counts[key] == 1 and len(self.first) < 5:
            self.first.append(f"first {key}: {record.getMessage()[:160]}")

    def __enter__(self) -> LogTally:
        root = logging.getLogger()
        self._saved = (root.level, root.handlers[:])
        root.handlers = [self]
        root.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.setLevel(self._saved[0])
        root.handlers = self._saved[1]
