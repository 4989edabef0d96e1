"""APScheduler in the bot's event loop, with jobs derived from the database.

The database is the source of truth. At start, and whenever a subscription
changes or a job has run, the jobs are rebuilt from the core's timetable:

- `post:<subscription id>`: a cron job at the subscription's local time, zone and days;
- `reveal:<post id>`: a one-off job at each open post's deadline;
- `digest:<group id>`: a weekly cron job at the group's digest weekday and time;
- `remind:<post id>`: a one-off job for an open post's deadline reminder (opt-in per channel);
- `mlsd:retry`: a one-off job when a claim released after a platform error
  (or left by a crashed sender) may be retried;
- `mlsd:sweep`: a low-frequency safety sweep of everything due.

Jobs only *ask* the core to do what is due; the core's claims make every post,
reveal and digest happen once however many times (or from however many
processes) it is asked. That is also what makes start-up catch-up a single
sweep, and two schedulers on one PostgreSQL database safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core import Core
from bot.schedule_spec import WEEKDAYS
from bot.timetable import Timetable

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "mlsd:sweep"
RETRY_JOB_ID = "mlsd:retry"  # == _job_id("retry", None)
DEFAULT_SWEEP_SECONDS = 300.0
MIN_RETRY_DELAY = timedelta(seconds=1)
DRAIN_TIMEOUT = 60.0

# (signature, trigger factory, run_job args) of one wanted job
_Wanted = tuple[tuple[Any, ...], Callable[[], BaseTrigger], tuple[Any, ...]]


class WallClockCronTrigger(CronTrigger):
    """A CronTrigger that fires once per local wall-clock time.

    APScheduler's CronTrigger fires a time in the repeated hour of a fall-back
    night twice (01:30 EDT and 01:30 EST); this one skips the second. Times in
    a spring-forward gap fire at the same instant the core uses for the slot
    (the wall time read with the offset before the change).
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        if nxt is not None and previous_fire_time is not None:
            before = previous_fire_time.astimezone(self.timezone).replace(tzinfo=None)
            if nxt.replace(tzinfo=None) == before:
                return super().get_next_fire_time(nxt, nxt)
        return nxt


def daily_trigger(hour: int, minute: int, timezone: str, days: tuple[str, ...]) -> WallClockCronTrigger:
    return WallClockCronTrigger(day_of_week=",".join(days), hour=hour, minute=minute,
                                timezone=ZoneInfo(timezone))


class BotScheduler:
    def __init__(self, core: Core, sweep_seconds: float = DEFAULT_SWEEP_SECONDS,
                 drain_timeout: float = DRAIN_TIMEOUT) -> None:
        self.core = core
        self.sweep_seconds = sweep_seconds
        self.drain_timeout = drain_timeout
        self.scheduler = AsyncIOScheduler(
            timezone="UTC",
            # However late a job gets to run (a blocked loop, a suspended host), run it
            # once: the core decides whether its work is still due.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._signatures: dict[str, tuple[Any, ...]] = {}
        self._fired_at: dict[str, datetime] = {}  # one-off jobs: the run date they last ran for
        self._inflight: set[asyncio.Task[Any]] = set()
        self._closing = False

    # ---------------------------------------------------------------- lifecycle

    async def start(self, *, paused: bool = False) -> None:
        """Catch up at once (overdue reveals, posts within the grace, skips, digests), then schedule.

        `paused=True` builds every job but never runs one by itself: tests drive
        the jobs at the fire times their triggers report.
        """
        await self.run_job("sweep")
        self.scheduler.start(paused=paused)
        self.scheduler.add_job(self.run_job, IntervalTrigger(seconds=self.sweep_seconds), args=("sweep",),
                               id=SWEEP_JOB_ID, name="safety sweep", replace_existing=True)
        self.refresh()

    async def shutdown(self) -> None:
        """Stop taking jobs, let the ones in flight finish (posts half-sent are not cut off)."""
        self._closing = True
        if self.scheduler.running:
            self.scheduler.pause()
        pending = [t for t in self._inflight if not t.done() and t is not asyncio.current_task()]
        if pending:
            log.info("waiting for %d scheduled job(s) to finish", len(pending))
            _done, late = await asyncio.wait(pending, timeout=self.drain_timeout)
            if late:
                log.warning("%d scheduled job(s) still running after %ss; their claims are retried "
                            "at the next start", len(late), self.drain_timeout)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def schedule_changed(self, group_id: int | None = None) -> None:
        """A subscription changed (subscribe, unsubscribe, pause): rebuild the jobs from the database."""
        self.refresh()

    # --------------------------------------------------------------------- jobs

    async def run_job(self, kind: str, key: int | None = None) -> None:
        """Every job runs through here: one core use case, errors logged with context, never raised."""
        if self._closing:
            return
        job_id = _job_id(kind, key)
        signature = self._signatures.get(job_id)
        if signature is not None and signature[0] == "date":
            self._fired_at[job_id] = signature[1]
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._dispatch(kind, key)
        except Exception:
            log.exception("%s failed; the scheduler goes on", _label(kind, key))
        finally:
            if task is not None:
                self._inflight.discard(task)
        self.refresh()

    async def _dispatch(self, kind: str, key: int | None) -> None:
        if kind == "post" and key is not None:
            report = await self.core.post_due(key)
            _log_report(f"post job of subscription {key}", posted=report.posted,
                        skipped=report.skipped, failed=report.failed)
        elif kind == "reveal" and key is not None:
            _log_report(f"reveal job of post {key}", revealed=await self.core.reveal_due(key))
        elif kind == "remind" and key is not None:
            _log_report(f"reminder job of post {key}", reminded=await self.core.remind_due(key))
        elif kind == "digest" and key is not None:
            digest = await self.core.digest_due(key)
            _log_report(f"digest job of group {key}", posted=digest.posted,
                        skipped=digest.skipped, failed=digest.failed)
        elif kind in ("sweep", "retry"):
            report = await self.core.run_due()
            _log_report(kind, posted=report.posted, skipped=report.skipped, revealed=report.revealed,
                        digests=report.digests, reminded=report.reminded, failed=report.failed)
        else:
            raise ValueError(f"unknown job {kind!r}")

    # ------------------------------------------------------------------ rebuild

    def refresh(self) -> None:
        """Make the scheduler's jobs match the database: add, replace and remove by stable id."""
        if self._closing or not self.scheduler.running:
            return
        try:
            table = self.core.timetable()
        except Exception:
            log.exception("could not read the timetable; keeping the current jobs")
            return
        wanted = self._wanted(table)
        for job_id, (signature, make_trigger, args) in wanted.items():
            if self._signatures.get(job_id) == signature and self.scheduler.get_job(job_id) is not None:
                continue
            fired = self._fired_at.get(job_id)
            if signature[0] == "date" and fired is not None and fired >= signature[1]:
                # A one-off job runs once per moment: a reveal the core found not due
                # yet (its clock behind ours) must not fire again at once, forever.
                # The retry job and the sweep cover whatever is left.
                continue
            try:
                self.scheduler.add_job(self.run_job, make_trigger(), args=args, id=job_id,
                                       name=_label(*args), replace_existing=True)
            except Exception:
                log.exception("could not schedule %s", _label(*args))
                continue
            self._signatures[job_id] = signature
        for job in self.scheduler.get_jobs():
            if job.id != SWEEP_JOB_ID and job.id not in wanted:
                job.remove()
        for job_id in set(self._signatures) - set(wanted):
            del self._signatures[job_id]
        for job_id in set(self._fired_at) - set(wanted):
            del self._fired_at[job_id]

    def _wanted(self, table: Timetable) -> dict[str, _Wanted]:
        """Job id -> (signature, trigger factory, run_job args). Equal signature: leave the job be."""
        wanted: dict[str, _Wanted] = {}
        for p in table.posts:
            wanted[_job_id("post", p.subscription_id)] = (
                ("cron", p.at, p.timezone, p.days),
                lambda p=p: daily_trigger(p.at.hour, p.at.minute, p.timezone, p.days),
                ("post", p.subscription_id),
            )
        for post_id, deadline in table.reveals:
            wanted[_job_id("reveal", post_id)] = self._one_off(deadline, ("reveal", post_id))
        for post_id, when in table.reminders:
            wanted[_job_id("remind", post_id)] = self._one_off(when, ("remind", post_id))
        for d in table.digests:
            wanted[_job_id("digest", d.group_id)] = (
                ("cron", d.at, d.timezone, d.weekday),
                lambda d=d: daily_trigger(d.at.hour, d.at.minute, d.timezone, (WEEKDAYS[d.weekday],)),
                ("digest", d.group_id),
            )
        if table.next_retry is not None:
            when = max(table.next_retry, self.core.rt.clock.now() + MIN_RETRY_DELAY)
            wanted[RETRY_JOB_ID] = self._one_off(when, ("retry", None))
        return wanted

    @staticmethod
    def _one_off(when: datetime, args: tuple[Any, ...]) -> _Wanted:
        return ("date", when), lambda: DateTrigger(run_date=when), args


def _job_id(kind: str, key: int | None) -> str:
    return f"{kind}:{key}" if kind in ("post", "reveal", "digest", "remind") else f"mlsd:{kind}"


def _label(kind: str, key: int | None = None) -> str:
    what = {"post": "subscription", "reveal": "post", "digest": "group", "remind": "post"}.get(kind)
    return f"{kind} job of {what} {key}" if what else f"{kind} job"


def _log_report(what: str, **lists: list[Any]) -> None:
    busy = {name: items for name, items in lists.items() if items}
    if busy:
        log.info("%s: %s", what, " ".join(f"{name}={items}" for name, items in busy.items()))
