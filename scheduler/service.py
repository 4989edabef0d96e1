"""APScheduler in the bot's event loop, with jobs derived from the database.

The database is the source of truth. At start the jobs are built from the
core's whole timetable; after that only what changed is read again:

- a subscription or option change (`schedule_changed(group_id)`, called by the
  use case after its commit) marks that group, and one refresher task reads
  that group's timetable on a database thread and replaces that group's jobs;
- a job that ran refreshes the group it concerned;
- the safety sweep and the retry job, which may touch any group, refresh all.

Refreshes asked for while one is running are coalesced into the next round,
so a thousand changes or jobs at once cost one read, and nothing here reads
the database on the event loop. The jobs:

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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core import Core
from bot.schedule_spec import WEEKDAYS, local_occurrence
from bot.timetable import Timetable

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "mlsd:sweep"
RETRY_JOB_ID = "mlsd:retry"  # == _job_id("retry", None)
DEFAULT_SWEEP_SECONDS = 300.0
MIN_RETRY_DELAY = timedelta(seconds=1)
DRAIN_TIMEOUT = 60.0

# Pending groups above this many: one read of everything (which also drops the jobs of
# groups gone meanwhile) rather than a read of each of their rows.
FULL_READ_GROUPS = 500
# Jobs applied between two yields to the event loop.
APPLY_BATCH = 50

# (signature, trigger factory, run_job args, group id) of one wanted job
_Wanted = tuple[tuple[Any, ...], Callable[[], BaseTrigger], tuple[Any, ...], int]


class WallClockCronTrigger(BaseTrigger):
    """A daily (or weekly) trigger that fires when the core's slot happens, once per local day.

    APScheduler's CronTrigger fires a time in the repeated hour of a fall-back
    night twice (01:30 EDT and 01:30 EST), and a time in a spring-forward gap at
    its own choice of instant. This one asks the core's own rule
    (`local_occurrence`) for each day's moment, so a job fires exactly when the
    slot it posts is due, once per local day. It is also ten times cheaper than
    CronTrigger's field-by-field search, which matters when a thousand jobs of
    the same minute are processed in one pass of the scheduler's loop, and it
    skips CronTrigger's compiling of its fields (a fifth of the CPU of
    `/mlsd subscribe`, which makes one). It reprs like the cron line it is.
    """

    __slots__ = ("_at", "_days", "_weekdays", "_zone")

    def __init__(self, *, hour: int, minute: int, timezone: ZoneInfo, days: tuple[str, ...]) -> None:
        self._at = time(hour, minute)
        self._zone = timezone
        self._days = days
        self._weekdays = frozenset(WEEKDAYS.index(day) for day in days)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} (day_of_week='{','.join(self._days)}', hour='{self._at.hour}', "
                f"minute='{self._at.minute}', timezone='{self._zone}')>")

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        # As CronTrigger: the first moment after the previous fire time (possibly still in
        # the past: the scheduler then sees a misfire), else from now; on a whole second.
        start = now.astimezone(UTC)
        if previous_fire_time is not None:
            after = previous_fire_time.astimezone(UTC) + timedelta(microseconds=1)
            start = min(start, after)
            if start <= previous_fire_time:
                start = after
        if start.microsecond:
            start = start.replace(microsecond=0) + timedelta(seconds=1)
        day = start.astimezone(self._zone).date() - timedelta(days=1)
        for _ in range(9):
            if day.weekday() in self._weekdays:
                moment = local_occurrence(day, self._at, self._zone)
                if moment >= start:
                    return moment.astimezone(self._zone)
            day += timedelta(days=1)
        return None


def daily_trigger(hour: int, minute: int, timezone: str, days: tuple[str, ...]) -> WallClockCronTrigger:
    return WallClockCronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(timezone), days=days)


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
        self._fired_at: dict[str, datetime] = {}  # one-off jobs: the moment they last ran for
        self._group_of: dict[str, int] = {}  # job id -> the group whose job it is
        self._jobs_of: dict[int, set[str]] = {}  # and back: a group's refresh looks at its own jobs only
        self._retry_of: dict[int, datetime] = {}  # group -> earliest retry time of its held claims
        self._inflight: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Refreshes asked for and not started yet; one refresher task takes them all at once.
        self._dirty_all = False
        self._dirty_groups: set[int] = set()
        self._waiting: list[asyncio.Future[None]] = []
        self._refresher: asyncio.Task[None] | None = None
        # Post jobs fired in the same moment, not handed to the core yet; the task that will.
        self._due_posts: set[int] = set()
        self._post_batch: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self, *, paused: bool = False) -> None:
        """Catch up at once (overdue reveals, posts within the grace, skips, digests), then schedule.

        `paused=True` builds every job but never runs one by itself: tests drive
        the jobs at the fire times their triggers report.
        """
        self._loop = asyncio.get_running_loop()
        await self.run_job("sweep")
        self.scheduler.start(paused=paused)
        self.scheduler.add_job(self.run_job, IntervalTrigger(seconds=self.sweep_seconds), args=("sweep",),
                               id=SWEEP_JOB_ID, name="safety sweep", replace_existing=True)
        await self._request(None)

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
        refresher = self._refresher
        if refresher is not None and not refresher.done():
            await asyncio.wait([refresher], timeout=self.drain_timeout)
        _release(self._waiting)
        self._waiting = []
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def schedule_changed(self, group_id: int | None = None) -> None:
        """A group's subscriptions or options changed (None: anything may have): refresh its jobs soon.

        A use case calls this synchronously once its unit of work has committed, so
        it must not touch the database: it only marks the group. The refresher task
        then reads that group's timetable off the loop and replaces that group's
        jobs; many changes to one group before it gets there cost one read.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not started: start() reads everything
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            self._request(group_id)
        else:  # called from another thread (a database worker, a CLI tool)
            loop.call_soon_threadsafe(self._request, group_id)

    async def settled(self) -> None:
        """Wait until every refresh asked for so far has been applied (tests and tools wait on this)."""
        while (task := self._refresher) is not None and not task.done():
            await asyncio.shield(task)

    # --------------------------------------------------------------------- jobs

    async def run_job(self, kind: str, key: int | None = None) -> None:
        """Every job runs through here: one core use case, errors logged with context, never raised.

        Afterwards the jobs of the group it concerned are refreshed (a post gets
        its reveal job, a finished reveal loses it); the sweep and the retry job,
        which may touch every group, refresh everything.
        """
        if self._closing:
            return
        job_id = _job_id(kind, key)
        signature = self._signatures.get(job_id)
        if signature is not None and signature[0] == "date":
            self._fired_at[job_id] = signature[1]
        group = key if kind == "digest" else self._group_of.get(job_id)
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
        await self._request(group)

    async def _dispatch(self, kind: str, key: int | None) -> None:
        if kind == "post" and key is not None:
            await self._post_together(key)
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

    async def _post_together(self, subscription_id: int) -> None:
        """Hand the core every post job fired in the same moment as one call, and wait for it.

        A thousand channels due at 09:00 fire a thousand jobs at once; one by one,
        each would cost its own read and claim, and the sends would trickle out.
        Together they are one read, claims in batches and a fan-out that keeps the
        platform's send slots full. APScheduler starts every job of a moment before
        any of them runs, so one turn of the loop is enough to gather them.
        """
        self._due_posts.add(subscription_id)
        batch = self._post_batch
        if batch is None or batch.done():
            batch = self._post_batch = asyncio.get_running_loop().create_task(
                self._post_gathered(), name="mlsd-post-jobs")
        await asyncio.shield(batch)

    async def _post_gathered(self) -> None:
        await asyncio.sleep(0)  # the other jobs of this moment join first
        ids, self._due_posts = sorted(self._due_posts), set()
        self._post_batch = None  # jobs arriving from now on start the next call
        report = await self.core.post_due(*ids)
        what = f"post job of subscription {ids[0]}" if len(ids) == 1 else f"post jobs of {len(ids)} subscriptions"
        _log_report(what, posted=report.posted, skipped=report.skipped, failed=report.failed)

    # ------------------------------------------------------------------ refresh

    def _request(self, group_id: int | None) -> asyncio.Future[None]:
        """Ask for a refresh of one group's jobs (None: all); the future is done once it is applied."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closing or not self.scheduler.running:
            done.set_result(None)  # not started (start() reads everything) or stopping
            return done
        if group_id is None:
            self._dirty_all = True
        else:
            self._dirty_groups.add(group_id)
        self._waiting.append(done)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._drain(), name="mlsd-refresh")
        return done

    async def _drain(self) -> None:
        """The one refresher: reads run one at a time, so an older read never overwrites a newer one.

        Each round takes every refresh asked for until then, in one read: a thousand
        jobs finishing together cost one read, not a thousand, and twenty channels
        subscribing at once cost a read of those twenty groups' rows, not of every group's.
        """
        try:
            while not self._closing and (self._dirty_all or self._dirty_groups):
                await asyncio.sleep(0)  # let changes made in the same moment join this round
                full, groups, waiting = self._dirty_all, self._dirty_groups, self._waiting
                self._dirty_all, self._dirty_groups, self._waiting = False, set(), []
                try:
                    await self._refresh(None if full or len(groups) > FULL_READ_GROUPS else groups)
                finally:
                    _release(waiting)
        finally:
            if self._closing:
                _release(self._waiting)
                self._waiting = []

    async def _refresh(self, group_ids: set[int] | None) -> None:
        """Read these groups' timetable (None: everything) off the loop and make their jobs match."""
        try:
            table = await self.core.timetable(group_ids)
        except Exception:
            what = "the timetable" if group_ids is None else f"the timetable of {_groups(group_ids)}"
            log.exception("could not read %s; keeping the current jobs", what)
            return
        if self._closing or not self.scheduler.running:
            return
        await self._apply(table)

    async def _apply(self, table: Timetable) -> None:
        """Add, replace and remove jobs by stable id: all of them, or those of the groups read.

        A full timetable of a thousand channels is a few thousand jobs: the loop is
        given back every `APPLY_BATCH` of them, so acks never wait behind it.
        """
        scope = table.group_ids
        wanted: set[str] = set()
        for n, (job_id, (signature, make_trigger, args, group_id)) in enumerate(self._wanted(table), 1):
            wanted.add(job_id)
            self._own(job_id, group_id)
            self._ensure(job_id, signature, make_trigger, args)
            if n % APPLY_BATCH == 0:
                await asyncio.sleep(0)
        if scope is None:
            for job in self.scheduler.get_jobs():
                if job.id not in wanted and job.id not in (SWEEP_JOB_ID, RETRY_JOB_ID):
                    job.remove()
            known = set(self._signatures) | set(self._fired_at) | set(self._group_of)
            stale = known - wanted - {RETRY_JOB_ID}
            self._retry_of = dict(table.retries)
        else:
            stale = set().union(*(self._jobs_of.get(group, set()) for group in scope)) - wanted
            for group in scope:
                self._retry_of.pop(group, None)
            self._retry_of.update(table.retries)
        for job_id in stale:
            self._drop(job_id)
        self._ensure_retry()

    def _ensure(self, job_id: str, signature: tuple[Any, ...], make_trigger: Callable[[], BaseTrigger],
                args: tuple[Any, ...]) -> None:
        if self._signatures.get(job_id) == signature and (
                signature[0] == "cron" or self.scheduler.get_job(job_id) is not None):
            return  # unchanged (a cron job stays until we remove it; a one-off one may have run)
        fired = self._fired_at.get(job_id)
        if signature[0] == "date" and fired is not None and fired >= signature[1]:
            # A one-off job runs once per moment: a reveal the core found not due
            # yet (its clock behind ours) must not fire again at once, forever.
            # The retry job and the sweep cover whatever is left.
            return
        try:
            self.scheduler.add_job(self.run_job, make_trigger(), args=args, id=job_id,
                                   name=_label(*args), replace_existing=True)
        except Exception:
            log.exception("could not schedule %s", _label(*args))
            return
        self._signatures[job_id] = signature

    def _ensure_retry(self) -> None:
        """`mlsd:retry` at the earliest retry time over every group's held claims (none: no job).

        Its moment is that retry time itself (not the time it is run at, which is
        never in the past), so a retry time already acted on does not fire again.
        """
        earliest = min(self._retry_of.values(), default=None)
        if earliest is None:
            self._drop(RETRY_JOB_ID)
            return
        when = max(earliest, self.core.rt.clock.now() + MIN_RETRY_DELAY)
        self._ensure(RETRY_JOB_ID, ("date", earliest), lambda: DateTrigger(run_date=when), ("retry", None))

    def _drop(self, job_id: str) -> None:
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)
        self._signatures.pop(job_id, None)
        self._fired_at.pop(job_id, None)
        jobs = self._jobs_of.get(self._group_of.pop(job_id, -1))
        if jobs is not None:
            jobs.discard(job_id)

    def _own(self, job_id: str, group_id: int) -> None:
        """Record whose job this is (a job keeps its id if it ever moved group: move it)."""
        before = self._group_of.get(job_id)
        if before == group_id:
            return
        if before is not None:
            self._jobs_of.get(before, set()).discard(job_id)
        self._group_of[job_id] = group_id
        self._jobs_of.setdefault(group_id, set()).add(job_id)

    @staticmethod
    def _wanted(table: Timetable) -> Iterator[tuple[str, _Wanted]]:
        """(job id, (signature, trigger factory, run_job args, group)). Equal signature: leave the job be."""
        for p in table.posts:
            yield _job_id("post", p.subscription_id), (
                ("cron", p.at, p.timezone, p.days),
                lambda p=p: daily_trigger(p.at.hour, p.at.minute, p.timezone, p.days),
                ("post", p.subscription_id),
                p.group_id,
            )
        for post_id, deadline in table.reveals:
            yield _job_id("reveal", post_id), _one_off(deadline, ("reveal", post_id),
                                                      table.post_groups.get(post_id, 0))
        for post_id, when in table.reminders:
            yield _job_id("remind", post_id), _one_off(when, ("remind", post_id),
                                                      table.post_groups.get(post_id, 0))
        for d in table.digests:
            yield _job_id("digest", d.group_id), (
                ("cron", d.at, d.timezone, d.weekday),
                lambda d=d: daily_trigger(d.at.hour, d.at.minute, d.timezone, (WEEKDAYS[d.weekday],)),
                ("digest", d.group_id),
                d.group_id,
            )


def _groups(group_ids: set[int]) -> str:
    """Groups for a log line: up to ten ids, then how many more."""
    shown = sorted(group_ids)[:LOGGED_IDS]
    more = f" and {len(group_ids) - len(shown)} more" if len(group_ids) > len(shown) else ""
    return f"group{'s' if len(group_ids) > 1 else ''} {', '.join(map(str, shown))}{more}"


def _one_off(when: datetime, args: tuple[Any, ...], group_id: int) -> _Wanted:
    return ("date", when), lambda: DateTrigger(run_date=when), args, group_id


def _release(waiting: list[asyncio.Future[None]]) -> None:
    for future in waiting:
        if not future.done():
            future.set_result(None)


def _job_id(kind: str, key: int | None) -> str:
    return f"{kind}:{key}" if kind in ("post", "reveal", "digest", "remind") else f"mlsd:{kind}"


def _label(kind: str, key: int | None = None) -> str:
    what = {"post": "subscription", "reveal": "post", "digest": "group", "remind": "post"}.get(kind)
    return f"{kind} job of {what} {key}" if what else f"{kind} job"


# Ids listed per kind in a job's log line; a 09:00 batch can post a thousand.
LOGGED_IDS = 10


def _log_report(what: str, **lists: list[Any]) -> None:
    busy = {name: items for name, items in lists.items() if items}
    if busy:
        log.info("%s: %s", what, " ".join(f"{name}={_listed(items)}" for name, items in busy.items()))


def _listed(items: list[Any]) -> str:
    if len(items) <= LOGGED_IDS:
        return str(items)
    return f"{items[:LOGGED_IDS]}... ({len(items)} in all)"
