"""The scheduler on a controlled clock: which jobs exist and when they fire, then what each does.

APScheduler is started paused, so it builds its jobs from the database but
never runs one by itself. `Sim` plays the part of its event loop in simulated
time: it asks each job's trigger for its next fire time, sets the FakeClock
there and runs that job, exactly as APScheduler would, minus the waiting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from sqlmodel import select

from adapters.console.port import MemoryPort, Sent
from bot.clock import FakeClock
from bot.core import Core
from bot.domain import ChannelRef, MessageKind, SlashCommand
from bot.runtime import Runtime
from bot.store.claims import CLAIM_LEASE
from bot.store.models import DigestRow, GroupRow, PostRow, SubscriptionRow
from bot.store.repo import Store
from scheduler.service import SWEEP_JOB_ID, BotScheduler, daily_trigger

NY = ZoneInfo("America/New_York")
C1 = ChannelRef("console", "T1", "C1")
C2 = ChannelRef("console", "T1", "C2")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


@dataclass
class Sim:
    """Runs a paused BotScheduler's jobs at the times their triggers report."""

    sched: BotScheduler
    clock: FakeClock
    fired: dict[tuple[str, str], datetime] = field(default_factory=dict)
    log: list[tuple[datetime, str]] = field(default_factory=list)

    def next_job(self):  # type: ignore[no-untyped-def]
        best = None
        for job in self.sched.scheduler.get_jobs():
            if job.id == SWEEP_JOB_ID:
                continue  # the safety sweep is not needed for anything below: the jobs do it all
            key = (job.id, repr(job.trigger))
            when = job.trigger.get_next_fire_time(self.fired.get(key), self.clock.now())
            if when is not None and (best is None or when < best[0]):
                best = (when.astimezone(UTC), job, key)
        return best

    async def run_until(self, end: datetime) -> None:
        while (nxt := self.next_job()) is not None and nxt[0] <= end:
            when, job, key = nxt
            self.clock.set(max(when, self.clock.now()))
            self.fired[key] = when
            self.log.append((when, job.id))
            await job.func(*job.args)
        self.clock.set(end)

    def fire_times(self, job_id: str) -> list[datetime]:
        return [t for t, j in self.log if j == job_id]


@dataclass
class Bot:
    """One bot process: a core on the shared database, its scheduler, and what it sent."""

    core: Core
    sched: BotScheduler
    sim: Sim
    port: MemoryPort
    sent: list[tuple[datetime, Sent]]

    async def command(self, text: str, channel: ChannelRef = C1, user: str = "UADMIN") -> str:
        outcome = await self.core.handle(SlashCommand(channel, user, text, f"ev-{datetime.now().timestamp()}"))
        await self.sched.settled()  # the jobs of a changed channel are refreshed off the command's path
        assert outcome.reply is not None
        return outcome.reply.message.plain()

    def of(self, kind: MessageKind, call: str | None = None) -> list[tuple[datetime, Sent]]:
        return [(t, c) for t, c in self.sent if c.message is not None and c.message.kind == kind
                and (call is None or c.call == call)]

    def calls(self, call: str) -> list[tuple[datetime, Sent]]:
        return [(t, c) for t, c in self.sent if c.call == call]


async def start_bot(settings, bank, clock: FakeClock, port: MemoryPort | None = None,  # type: ignore[no-untyped-def]
                    migrate: bool = True) -> Bot:
    """A fresh process: new Store, Core and scheduler on the same database (state only in the DB)."""
    port = port or MemoryPort(platform="console")
    sent: list[tuple[datetime, Sent]] = []
    port.on_call = lambda c: sent.append((clock.now(), c))
    store = Store.open(settings.database_url, migrate=migrate)
    core = Core(Runtime(settings=settings, store=store, bank=bank, clock=clock, ports={"console": port}))
    sched = BotScheduler(core)
    core.rt.schedule_listeners.append(sched.schedule_changed)
    await sched.start(paused=True)
    return Bot(core, sched, Sim(sched, clock), port, sent)


async def stop_bot(bot: Bot) -> None:
    await bot.sched.shutdown()
    bot.core.rt.store.close()


def posts(store: Store) -> list[PostRow]:
    with store.session() as s:
        return list(s.exec(select(PostRow).order_by(PostRow.id)))  # type: ignore[arg-type]


def digests(store: Store) -> list[DigestRow]:
    with store.session() as s:
        return list(s.exec(select(DigestRow).order_by(DigestRow.id)))  # type: ignore[arg-type]


# --------------------------------------------------------------- the triggers


def test_a_0900_new_york_trigger_fires_at_0900_local_on_both_sides_of_each_change():
    trigger = daily_trigger(9, 0, "America/New_York", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    for start, change in ((utc(2026, 3, 5), date(2026, 3, 8)), (utc(2026, 10, 29), date(2026, 11, 1))):
        fires, prev = [], None
        for _ in range(7):
            prev = trigger.get_next_fire_time(prev, prev or start)
            fires.append(prev)
        local = [f.astimezone(NY) for f in fires]
        assert [(t.hour, t.minute) for t in local] == [(9, 0)] * 7
        assert [t.date() for t in local] == [start.date() + timedelta(days=i) for i in range(7)]
        offsets = {t.date() >= change: t.utcoffset() for t in local}
        assert offsets[False] != offsets[True]  # the UTC instant moved by an hour, the wall time did not


def test_times_inside_the_changes_fire_once_per_day():
    # 02:30 does not exist on 2026-03-08; 01:30 happens twice on 2026-11-01.
    gap = daily_trigger(2, 30, "America/New_York", ("sun",))
    # (Compared in UTC: Python never finds a time in a gap or fold equal to one in another zone.)
    assert gap.get_next_fire_time(None, utc(2026, 3, 7)).astimezone(UTC) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    fold = daily_trigger(1, 30, "America/New_York", ("sun",))
    first = fold.get_next_fire_time(None, utc(2026, 10, 31))
    assert first.astimezone(UTC) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert fold.get_next_fire_time(first, first).astimezone(UTC) == utc(2026, 11, 8, 6, 30)  # not 01:30 EST


async def test_jobs_are_built_from_the_database_with_stable_ids(world, settings, bank):
    bot = await start_bot(settings, bank, world.clock, world.port)
    assert [j.id for j in bot.sched.scheduler.get_jobs()] == [SWEEP_JOB_ID]
    await bot.command("subscribe serving at 09:00 tz America/New_York days mon,wed")
    await bot.command("subscribe modeling at 17:30 tz America/New_York", channel=C2)
    jobs = {j.id: j for j in bot.sched.scheduler.get_jobs()}
    assert set(jobs) == {SWEEP_JOB_ID, "post:1", "post:2", "digest:1", "digest:2"}
    assert "day_of_week='mon,wed', hour='9', minute='0', timezone='America/New_York'" in repr(jobs["post:1"].trigger)
    assert "day_of_week='mon', hour='9', minute='0'" in repr(jobs["digest:2"].trigger)
    await bot.command("subscribe serving at 10:15 tz America/New_York days mon,wed")  # changed: same id
    assert "hour='10', minute='15'" in repr(bot.sched.scheduler.get_job("post:1").trigger)
    await bot.command("unsubscribe all", channel=C2)
    assert {j.id for j in bot.sched.scheduler.get_jobs()} == {SWEEP_JOB_ID, "post:1", "digest:1"}
    await stop_bot(bot)


async def test_a_change_or_a_job_rereads_only_its_own_group_and_changes_coalesce(world, settings, bank):
    world.clock.set(utc(2026, 3, 2, 8, 0))
    bot = await start_bot(settings, bank, world.clock, world.port)
    await bot.command("subscribe serving at 09:00")
    await bot.command("subscribe modeling at 10:00", channel=C2)
    reads: list[int | frozenset[int] | None] = []
    real = bot.core.timetable

    async def counted(group_ids=None):  # type: ignore[no-untyped-def]
        # One read each: None (everything), a group id (one group) or the set of groups read.
        ids = None if group_ids is None else frozenset(group_ids)
        reads.append(next(iter(ids)) if ids is not None and len(ids) == 1 else ids)
        return await real(group_ids)

    bot.core.timetable = counted  # type: ignore[method-assign]
    for _ in range(5):
        bot.sched.schedule_changed(2)  # synchronous, reads nothing itself
    assert reads == []
    await bot.sched.settled()
    assert reads == [2]  # five changes of one group: one read of that group

    reads.clear()
    world.clock.set(utc(2026, 3, 2, 9, 0))
    await bot.sched.run_job("post", 1)
    assert reads == [1]  # the post job rereads its own group: its reveal job is there
    revealing = {j.id for j in bot.sched.scheduler.get_jobs() if j.id.startswith("reveal:")}
    assert revealing == {f"reveal:{posts(bot.core.rt.store)[0].id}"}
    assert {"post:1", "post:2", "digest:1", "digest:2"} <= {j.id for j in bot.sched.scheduler.get_jobs()}

    reads.clear()
    for group in (1, 2, 1):
        bot.sched.schedule_changed(group)
    await bot.sched.settled()
    assert reads == [frozenset({1, 2})]  # two channels changed at once: one read of both

    reads.clear()
    for group in (None, 1, 2, None, 1):
        bot.sched.schedule_changed(group)
    await bot.sched.settled()
    assert reads == [None]  # everything asked at once: one full read covers the groups too
    await stop_bot(bot)


def test_a_time_in_the_spring_gap_fires_once_when_the_core_posts_it():
    # 02:30 does not exist in New York on 2026-03-08; the core posts that day's slot at
    # local_occurrence (02:30 read with the offset before the change = 03:30 EDT).
    trigger = daily_trigger(2, 30, "America/New_York", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    fires, prev = [], None
    for _ in range(3):
        prev = trigger.get_next_fire_time(prev, prev or utc(2026, 3, 7))
        fires.append(prev)
    assert fires == [datetime.combine(date(2026, 3, d), time(2, 30), tzinfo=NY) for d in (7, 8, 9)]
    assert [f.astimezone(UTC).hour for f in fires] == [7, 7, 6]  # one fire on the change day, none twice


async def test_post_jobs_firing_together_post_every_channel_once_in_one_fan_out(world, settings, bank, store,
                                                                               caplog):
    world.clock.set(utc(2026, 3, 2, 8, 0))
    bot = await start_bot(settings, bank, world.clock, world.port)
    channels = [ChannelRef("console", "T1", f"C{i}") for i in range(1, 6)]
    for channel in channels:
        await bot.command("subscribe serving at 09:00", channel)
    world.clock.set(utc(2026, 3, 2, 9, 0))
    caplog.set_level(logging.INFO, logger="scheduler.service")
    # As APScheduler's executor does at 09:00: every due job is started before any of them runs.
    jobs = [asyncio.ensure_future(bot.sched.run_job("post", i)) for i in range(1, 6)]
    jobs.append(asyncio.ensure_future(bot.sched.run_job("post", 3)))  # a job fired twice in that moment
    await asyncio.gather(*jobs)
    posted = [c.channel for _, c in bot.of(MessageKind.DAILY_POST)]
    assert sorted(posted, key=lambda c: c.channel) == channels  # each channel once
    assert [r.status for r in posts(store)] == ["posted"] * 5
    assert "post jobs of 5 subscriptions: posted=" in caplog.text  # one call to the core for all
    await bot.sched.run_job("post", 2)  # a job alone later: nothing more is due
    assert len(bot.of(MessageKind.DAILY_POST)) == 5
    await stop_bot(bot)


# --------------------------------------------------------------- a DST week


async def test_a_week_across_the_spring_change_posts_reveals_and_digests_on_time(world, settings, bank, store):
    world.clock.set(ny(2026, 3, 5, 7, 0))  # Thursday before the change (Sunday 2026-03-08)
    bot = await start_bot(settings, bank, world.clock, world.port)
    await bot.command("subscribe serving at 09:00 tz America/New_York days daily window 2h")
    await bot.sim.run_until(ny(2026, 3, 12, 7, 0))

    days = [date(2026, 3, d) for d in range(5, 12)]
    post_times = [t for t, _ in bot.of(MessageKind.DAILY_POST)]
    assert post_times == [ny(d.year, d.month, d.day, 9, 0) for d in days]
    assert [t.astimezone(NY).hour for t in post_times] == [9] * 7
    assert post_times[2].hour == 14 and post_times[3].hour == 13  # UTC moved with the change
    reveal_times = [t for t, _ in bot.of(MessageKind.REVEAL)]
    assert reveal_times == [ny(d.year, d.month, d.day, 11, 0) for d in days]
    # The weekly digest: Monday 09:00 in the group's zone, reporting the week before.
    digest_times = [t for t, _ in bot.of(MessageKind.DIGEST)]
    assert digest_times == [ny(2026, 3, 9, 9, 0)]
    assert [t for t, c in bot.calls("upload") if c.filename == "digest-2026-03-02.png"] == digest_times
    assert [(d.week_start, d.status) for d in digests(store)] == [(date(2026, 3, 2), "posted")]
    # The jobs fired at those moments, each once.
    assert bot.sim.fire_times("post:1") == post_times
    assert bot.sim.fire_times("digest:1") == digest_times
    rows = posts(store)
    assert [(r.local_date, r.status) for r in rows] == [(d, "revealed") for d in days]
    await stop_bot(bot)


async def test_a_week_across_the_fall_change_at_a_time_that_happens_twice(world, settings, bank, store):
    world.clock.set(ny(2026, 10, 29, 0, 0))
    bot = await start_bot(settings, bank, world.clock, world.port)
    await bot.command("subscribe data at 01:30 tz America/New_York days daily window 1h")
    await bot.sim.run_until(ny(2026, 11, 5, 0, 0))
    post_times = [t.astimezone(NY) for t, _ in bot.of(MessageKind.DAILY_POST)]
    assert [t.date().day for t in post_times] == [29, 30, 31, 1, 2, 3, 4]
    assert {(t.hour, t.minute) for t in post_times} == {(1, 30)}
    assert len(bot.sim.fire_times("post:1")) == 7  # the repeated 01:30 on 1 November did not fire
    assert len(bot.of(MessageKind.REVEAL)) == 7
    await stop_bot(bot)


# ------------------------------------------------------------------ restarts


async def test_restart_mid_week_catches_up_by_the_rules(world, settings, bank, store):
    world.clock.set(utc(2026, 3, 2, 8, 0))  # Monday
    bot = await start_bot(settings, bank, world.clock)
    await bot.command("subscribe serving at 09:00 days daily window 2h")
    await bot.command("subscribe modeling at 11:00 days daily window 24h")
    await bot.sim.run_until(utc(2026, 3, 8, 20, 0))  # Sunday evening
    assert len(bot.of(MessageKind.DAILY_POST)) == 14
    await stop_bot(bot)  # the process goes away; only the database remembers

    # Down overnight; back on Monday 12:30. Due meanwhile: serving at 09:00 (3.5h ago,
    # beyond the 2h grace), modeling at 11:00 (1.5h ago), Sunday's modeling reveal
    # (11:00), and the weekly digest (09:00, 3.5h ago: under a day).
    world.clock.set(utc(2026, 3, 9, 12, 30))
    bot = await start_bot(settings, bank, world.clock)
    at_start = [c for t, c in bot.sent if t == utc(2026, 3, 9, 12, 30)]
    kinds = sorted(c.message.kind.value for c in at_start if c.message)
    assert kinds == ["daily_post", "digest", "reveal"]
    rows = {(r.topic, r.local_date): r for r in posts(store)}
    skipped = rows[("serving", date(2026, 3, 9))]
    assert skipped.status == "skipped" and "missed by 3.5h" in (skipped.skip_reason or "")
    assert rows[("modeling", date(2026, 3, 8))].status == "revealed"
    assert rows[("modeling", date(2026, 3, 9))].status == "posted"
    assert [(d.week_start, d.status) for d in digests(store)] == [(date(2026, 3, 2), "posted")]
    schedule = await bot.command("schedule", user="UA")
    assert "Open: modeling question" in schedule

    # From here on the rebuilt jobs carry on as if nothing happened.
    await bot.sim.run_until(utc(2026, 3, 10, 13, 0))
    assert [t for t, _ in bot.of(MessageKind.DAILY_POST)] == [
        utc(2026, 3, 9, 12, 30), utc(2026, 3, 10, 9, 0), utc(2026, 3, 10, 11, 0)]
    assert [t for t, _ in bot.of(MessageKind.REVEAL)] == [
        utc(2026, 3, 9, 12, 30), utc(2026, 3, 10, 11, 0), utc(2026, 3, 10, 12, 30)]
    await stop_bot(bot)

    # Down from Sunday until Tuesday 10:00: Monday's digest is over a day late, so it
    # is skipped and the skip recorded; Tuesday's 09:00 post is within the grace.
    bot = await start_bot(settings, bank, world.clock)
    await bot.sim.run_until(utc(2026, 3, 15, 20, 0))
    await stop_bot(bot)
    world.clock.set(utc(2026, 3, 17, 10, 0))
    bot = await start_bot(settings, bank, world.clock)
    assert bot.of(MessageKind.DIGEST) == []
    last = digests(store)[-1]
    assert (last.week_start, last.status) == (date(2026, 3, 9), "skipped")
    assert "missed by 25.0h" in (last.skip_reason or "")
    assert [t for t, _ in bot.of(MessageKind.DAILY_POST)] == [utc(2026, 3, 17, 10, 0)]  # Tuesday's serving
    by_day = {(r.topic, r.local_date): r.status for r in posts(store)}
    assert by_day[("serving", date(2026, 3, 16))] == "skipped"
    assert by_day[("modeling", date(2026, 3, 16))] == "skipped"
    assert by_day[("serving", date(2026, 3, 17))] == "posted"
    await stop_bot(bot)


class _DiesMidSend(MemoryPort):
    """A process that dies between claiming a post and sending it."""

    async def send(self, channel, message):  # type: ignore[no-untyped-def]
        raise asyncio.CancelledError


async def test_a_claim_left_by_a_crash_is_posted_once_when_its_lease_runs_out(world, settings, bank, store):
    world.clock.set(utc(2026, 3, 2, 8, 0))
    bot = await start_bot(settings, bank, world.clock, _DiesMidSend())
    await bot.command("subscribe serving at 09:00 window 2h")
    with pytest.raises(asyncio.CancelledError):
        await bot.sim.run_until(utc(2026, 3, 2, 9, 0))
    bot.core.rt.store.close()
    assert [r.status for r in posts(store)] == ["claimed"]

    world.clock.set(utc(2026, 3, 2, 9, 1))
    bot = await start_bot(settings, bank, world.clock)
    assert bot.of(MessageKind.DAILY_POST) == []  # the claim may still be in another process's hands
    assert bot.sched.scheduler.get_job("mlsd:retry") is not None
    await bot.sim.run_until(utc(2026, 3, 2, 12, 0))
    assert [t for t, _ in bot.of(MessageKind.DAILY_POST)] == [utc(2026, 3, 2, 9, 0) + CLAIM_LEASE]
    assert [r.status for r in posts(store)] == ["revealed"]
    await stop_bot(bot)


# ----------------------------------------------- the scheduler keeps running


async def test_an_exception_in_one_job_is_logged_with_context_and_others_run(world, settings, bank, caplog):
    bot = await start_bot(settings, bank, world.clock, world.port)
    await bot.command("subscribe serving at 09:00")
    await bot.command("subscribe modeling at 09:00", channel=C2)
    real = bot.core.post_due

    async def broken(subscription_id: int):  # type: ignore[no-untyped-def]
        if subscription_id == 1:
            raise RuntimeError("boom")
        return await real(subscription_id)

    bot.core.post_due = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="scheduler.service"):
        await bot.sim.run_until(utc(2026, 3, 2, 9, 30))
    assert "post job of subscription 1 failed" in caplog.text and "RuntimeError: boom" in caplog.text
    assert [c.channel.channel for _, c in bot.of(MessageKind.DAILY_POST)] == ["C2"]
    assert bot.sched.scheduler.running
    await bot.sched.run_job("sweep")  # the safety sweep still posts the other one
    assert sorted(c.channel.channel for _, c in bot.of(MessageKind.DAILY_POST)) == ["C1", "C2"]
    await stop_bot(bot)


async def test_the_running_scheduler_survives_a_failing_sweep(world, settings, bank):
    bot = await start_bot(settings, bank, world.clock, world.port)
    await bot.sched.shutdown()
    sched = BotScheduler(bot.core, sweep_seconds=0.02)
    calls = []

    async def flaky(now=None):  # type: ignore[no-untyped-def]
        calls.append(now)
        if len(calls) % 2:
            raise RuntimeError("database went away")
        return await real(now)

    real = bot.core.run_due
    bot.core.run_due = flaky  # type: ignore[method-assign]
    await sched.start()  # not paused: APScheduler runs the sweep itself
    for _ in range(200):
        if len(calls) >= 5:
            break
        await asyncio.sleep(0.01)
    await sched.shutdown()
    assert len(calls) >= 5
    bot.core.rt.store.close()


class _SlowPort(MemoryPort):
    def __init__(self) -> None:
        super().__init__(platform="console")
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, channel, message):  # type: ignore[no-untyped-def]
        self.entered.set()
        await self.release.wait()
        return await super().send(channel, message)


async def test_shutdown_lets_an_inflight_post_finish_and_takes_no_new_jobs(world, settings, bank, store):
    port = _SlowPort()
    bot = await start_bot(settings, bank, world.clock, port)
    await bot.command("subscribe serving at 09:00")
    world.clock.set(utc(2026, 3, 2, 9, 0))
    job = asyncio.create_task(bot.sched.run_job("post", 1))
    await port.entered.wait()
    stopping = asyncio.create_task(bot.sched.shutdown())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the post being sent
    port.release.set()
    await stopping
    await job
    assert [r.status for r in posts(store)] == ["posted"]
    assert not bot.sched.scheduler.running
    await bot.sched.run_job("sweep")  # after shutdown: does nothing
    assert len(bot.of(MessageKind.DAILY_POST)) == 1
    bot.core.rt.store.close()


async def test_digest_time_and_zone_come_from_the_group(world, settings, bank, store):
    world.clock.set(utc(2026, 3, 2, 8, 0))
    bot = await start_bot(settings, bank, world.clock, world.port)
    await bot.command("subscribe serving at 09:00 tz Europe/Berlin days daily")
    with store.session() as s:
        group = s.exec(select(GroupRow)).one()
        group.digest_weekday, group.digest_time = 4, "16:30"  # Friday afternoon
        s.add(group)
    bot.sched.schedule_changed()
    await bot.sched.settled()
    assert "day_of_week='fri', hour='16', minute='30', timezone='Europe/Berlin'" in repr(
        bot.sched.scheduler.get_job("digest:1").trigger)
    await bot.sim.run_until(utc(2026, 3, 9, 8, 0))
    friday = datetime(2026, 3, 6, 16, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert [t for t, _ in bot.of(MessageKind.DIGEST)] == [friday]
    assert [d.week_start for d in digests(store)] == [date(2026, 3, 2)]  # from Thursday on: this week
    await stop_bot(bot)


async def test_the_configured_digest_default_applies_where_a_group_sets_none(world, settings, bank):
    configured = msgspec.structs.replace(settings, digest_weekday=2, digest_time="18:00")
    bot = await start_bot(configured, bank, world.clock, world.port)
    await bot.command("subscribe serving tz Asia/Tokyo")
    assert "day_of_week='wed', hour='18', minute='0', timezone='Asia/Tokyo'" in repr(
        bot.sched.scheduler.get_job("digest:1").trigger)
    await stop_bot(bot)


def test_the_clock_file_test_hook(tmp_path, monkeypatch, settings):
    from bot.cli import build_core
    from bot.clock import FileClock

    path = tmp_path / "now.txt"
    path.write_text("2026-03-08T09:00:00-04:00")
    monkeypatch.setenv("MLSD_CLOCK_FILE", str(path))
    core = build_core(settings)
    assert isinstance(core.rt.clock, FileClock)
    assert core.rt.clock.now() == utc(2026, 3, 8, 13, 0)
    path.write_text("2026-03-09T08:00:00")  # no zone: UTC
    assert core.rt.clock.now() == utc(2026, 3, 9, 8, 0)
    path.write_text("")  # caught mid-rewrite: time stands still
    assert core.rt.clock.now() == utc(2026, 3, 9, 8, 0)
    core.rt.store.close()


def seed_last_week(store: Store, day: date = date(2026, 2, 27)) -> None:
    """Give every subscription one revealed question in the week before the scenario.

    A weekly digest is only posted for a week in which questions were posted, so a
    scenario that starts on a Sunday needs that history for Monday's digest.
    """
    moment = datetime.combine(day, time(9, 0), tzinfo=UTC)
    with store.session() as s:
        for sub in s.exec(select(SubscriptionRow)).all():
            s.add(PostRow(subscription_id=sub.id or 0, group_id=sub.group_id, topic=sub.topic,
                          question_id=None, local_date=day, scheduled_for=moment,
                          deadline=moment + timedelta(hours=1), status="revealed", claimed_at=moment,
                          posted_at=moment, revealed_at=moment + timedelta(hours=1)))
