"""The scheduler against a misbehaving platform and a second scheduler on the same database."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from adapters.console.port import MemoryPort
from bot.clock import FakeClock
from bot.config import Settings
from bot.domain import ChannelRef, MessageKind
from bot.ports import TransientPlatformError
from bot.store.models import DigestRow, PostRow, SubscriptionRow
from bot.store.repo import Store
from scheduler.service import SWEEP_JOB_ID
from tests.conftest import PACK, POSTGRES_URL, _ensure_postgres_db, _reset_postgres
from tests.test_scheduler import C2, posts, seed_last_week, start_bot, stop_bot, utc

# --------------------------------------------------------- 429 and 5xx storms


class FlakyPlatform(MemoryPort):
    """Answers 429 (Retry-After: 45s) and 503 by turns while the clock is inside an outage."""

    def __init__(self, clock: FakeClock, outages: list[tuple[datetime, datetime]]) -> None:
        super().__init__(platform="console")
        self.clock = clock
        self.outages = outages
        self.attempts: list[tuple[datetime, str, str, float | None]] = []  # when, call, channel, retry_after
        self._call = ""
        self._turn = 0

    def _check(self, channel: ChannelRef) -> None:
        now = self.clock.now()
        if any(start <= now < end for start, end in self.outages):
            self._turn += 1
            retry_after = 45.0 if self._turn % 2 else None
            self.attempts.append((now, self._call, channel.channel, retry_after))
            raise TransientPlatformError("429 ratelimited" if retry_after else "503 service unavailable",
                                         retry_after=retry_after)
        self.attempts.append((now, self._call, channel.channel, None))
        super()._check(channel)

    async def send(self, channel, message):  # type: ignore[no-untyped-def]
        self._call = f"send:{message.kind.value}"
        return await super().send(channel, message)

    async def reply(self, channel, thread_id, message):  # type: ignore[no-untyped-def]
        self._call = f"reply:{message.kind.value}"
        return await super().reply(channel, thread_id, message)

    async def upload_image(self, channel, thread_id, png, filename, title):  # type: ignore[no-untyped-def]
        self._call = "upload"
        return await super().upload_image(channel, thread_id, png, filename, title)


async def test_rate_limits_and_5xx_for_a_while_then_everything_is_delivered_once(world, settings, bank, store):
    world.clock.set(utc(2026, 3, 1, 12, 0))  # Sunday
    outages = [(utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 9, 20)),    # posts and the digest
               (utc(2026, 3, 2, 10, 0), utc(2026, 3, 2, 10, 12))]  # the reveals
    platform = FlakyPlatform(world.clock, outages)
    bot = await start_bot(settings, bank, world.clock, platform)
    await bot.command("subscribe serving at 09:00 days mon-fri window 1h")
    await bot.command("subscribe modeling at 09:00 days mon-fri window 1h", channel=C2)
    seed_last_week(store)
    await bot.sim.run_until(utc(2026, 3, 2, 12, 0))

    # Delivered once each, after the outages.
    delivered = Counter((c.call, c.channel.channel, c.message.kind.value if c.message else c.filename)
                        for _, c in bot.sent)
    assert delivered == Counter({
        ("send", "C1", "daily_post"): 1, ("send", "C2", "daily_post"): 1,
        ("reply", "C1", "reveal"): 1, ("reply", "C2", "reveal"): 1,
        ("send", "C1", "digest"): 1, ("send", "C2", "digest"): 1,
        ("upload", "C1", "digest-2026-02-23.png"): 1, ("upload", "C2", "digest-2026-02-23.png"): 1,
    })
    assert all(t >= utc(2026, 3, 2, 9, 20) for t, c in bot.sent if c.call == "send")
    assert all(t >= utc(2026, 3, 2, 10, 12) for t, c in bot.sent if c.call == "reply")
    # Retried with backoff: never before Retry-After, and growing while the errors last.
    failed = [a for a in platform.attempts if any(s <= a[0] < e for s, e in outages)]
    assert len(failed) >= 8
    for key in {(call, channel) for _, call, channel, _ in platform.attempts}:
        mine = [a for a in platform.attempts if (a[1], a[2]) == key]
        gaps = [(b[0] - a[0], a[3]) for a, b in itertools.pairwise(mine)]
        assert all(gap >= timedelta(seconds=retry_after or 15) for gap, retry_after in gaps), (key, gaps)
        assert gaps == [] or max(g for g, _ in gaps) > timedelta(seconds=45)  # backoff grew past Retry-After
    with store.session() as s:
        assert {p.status for p in s.exec(select(PostRow))} == {"revealed"}
        assert {d.status for d in s.exec(select(DigestRow))} == {"posted"}
    await stop_bot(bot)


async def test_an_outage_longer_than_the_grace_skips_the_post_with_the_reason(world, settings, bank, store):
    world.clock.set(utc(2026, 3, 2, 8, 0))
    platform = FlakyPlatform(world.clock, [(utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 12, 0))])
    bot = await start_bot(settings, bank, world.clock, platform)
    await bot.command("subscribe serving at 09:00 window 1h")
    await bot.sim.run_until(utc(2026, 3, 3, 10, 30))
    rows = posts(store)
    assert rows[0].status == "skipped" and rows[0].skip_reason
    assert rows[0].skip_reason.startswith("not delivered within 2.") and "ratelimited" in rows[0].skip_reason
    assert rows[1].status == "revealed"  # the next day goes on as usual
    assert len(bot.of(MessageKind.DAILY_POST)) == 1
    await stop_bot(bot)


# ----------------------------------------------------------- a channel is gone


async def test_a_deleted_channel_pauses_its_subscription_and_the_others_go_on(world, settings, bank, store):
    world.clock.set(utc(2026, 3, 2, 8, 0))
    bot = await start_bot(settings, bank, world.clock, world.port)
    await bot.command("subscribe serving at 09:00 days daily window 2h")
    await bot.command("subscribe modeling at 09:00 days daily window 2h", channel=C2)
    await bot.sim.run_until(utc(2026, 3, 2, 10, 0))
    world.port.unavailable["C1"] = "channel_not_found"  # deleted after its first post
    await bot.sim.run_until(utc(2026, 3, 6, 12, 0))

    by_channel = Counter(c.channel.channel for _, c in bot.of(MessageKind.DAILY_POST))
    assert by_channel == {"C1": 1, "C2": 5}
    assert Counter(c.channel.channel for _, c in bot.of(MessageKind.REVEAL)) == {"C2": 5}
    with store.session() as s:
        sub = s.exec(select(SubscriptionRow).where(SubscriptionRow.id == 1)).one()
    assert sub.active and sub.paused_reason == "channel_not_found"
    jobs = {j.id for j in bot.sched.scheduler.get_jobs()}
    assert "post:1" not in jobs and "digest:1" not in jobs and "post:2" in jobs
    assert "paused: channel_not_found" in await bot.command("schedule", user="UA")

    # The channel is back (or the bot was re-invited): subscribing again resumes it.
    del world.port.unavailable["C1"]
    assert "Resumed" in await bot.command("subscribe serving")
    assert "post:1" in {j.id for j in bot.sched.scheduler.get_jobs()}
    await bot.sim.run_until(utc(2026, 3, 7, 12, 0))
    assert Counter(c.channel.channel for _, c in bot.of(MessageKind.DAILY_POST)) == {"C1": 2, "C2": 6}
    await stop_bot(bot)


# ------------------------------------------------- two schedulers, one database


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set MLSD_TEST_POSTGRES_URL to run two schedulers against PostgreSQL")
        _ensure_postgres_db(POSTGRES_URL)
        _reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return f"sqlite:///{tmp_path / 'shared.db'}"


def _process(url: str, bank, moments: list[datetime], barrier: threading.Barrier,  # type: ignore[no-untyped-def]
             port: MemoryPort, errors: list[BaseException]) -> None:
    """One bot process in its own thread and event loop: at each moment, in step with the
    other process, it runs every job whose trigger fires then, and a sweep."""

    async def main() -> None:
        clock = FakeClock(moments[0])
        settings = Settings(database_url=url, admins=["UADMIN"], content_packs=[str(PACK)])
        barrier.wait()
        bot = await start_bot(settings, bank, clock, port, migrate=False)  # (Alembic is not thread-safe)
        ran_once: set[tuple[str, str]] = set()
        for moment in moments:
            clock.set(moment)
            barrier.wait()
            for job in bot.sched.scheduler.get_jobs():
                if job.id == SWEEP_JOB_ID:
                    continue
                key = (job.id, repr(job.trigger))
                when = job.trigger.get_next_fire_time(None, moment - timedelta(microseconds=1))
                one_off = "DateTrigger" in key[1]
                if when is not None and (when <= moment if one_off else when == moment) and key not in ran_once:
                    if one_off:
                        ran_once.add(key)
                    await job.func(*job.args)
            await bot.sched.run_job("sweep")
        await stop_bot(bot)

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported by the test
        errors.append(exc)
        barrier.abort()


async def test_two_schedulers_on_one_database_post_reveal_and_digest_once(shared_url, bank):
    channels = [ChannelRef("console", "T1", f"C{i}") for i in range(1, 4)]
    setup_clock = FakeClock(utc(2026, 3, 1, 20, 0))
    settings = Settings(database_url=shared_url, admins=["UADMIN"], content_packs=[str(PACK)])
    setup = await start_bot(settings, bank, setup_clock)
    for i, channel in enumerate(channels):
        topic = ("serving", "modeling", "all")[i]
        await setup.command(f"subscribe {topic} at 09:00 days daily window 1h", channel=channel)
    seed_last_week(setup.core.rt.store)
    await stop_bot(setup)

    moments = [utc(2026, 3, 1, 20, 0)]
    for day in range(8):  # Monday 2 March .. Monday 9 March
        base = utc(2026, 3, 2, 9, 0) + timedelta(days=day)
        moments += [base, base + timedelta(seconds=1), base + timedelta(hours=1)]
    barrier = threading.Barrier(2, timeout=60)
    # Two connections to one platform: message ids from one sequence each, never clashing.
    ports = [MemoryPort(platform="console", _ids=itertools.count(1000)),
             MemoryPort(platform="console", _ids=itertools.count(900000))]
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_process, args=(shared_url, bank, moments, barrier, port, errors))
               for port in ports]
    for t in threads:
        t.start()
    await asyncio.to_thread(lambda: [t.join(120) for t in threads])
    assert errors == []

    calls = [c for port in ports for c in port.calls]
    sends = Counter((c.channel.channel, c.message.kind.value) for c in calls if c.call == "send" and c.message)
    assert sends == Counter({**{(ch.channel, "daily_post"): 8 for ch in channels},
                             **{(ch.channel, "digest"): 2 for ch in channels}})
    reveals = Counter(c.thread_id for c in calls if c.call == "reply")
    assert len(reveals) == 24 and set(reveals.values()) == {1}
    assert len([c for c in calls if c.call == "upload"]) == 6
    assert all(port.calls for port in ports)  # both processes did part of the work
    store = Store.open(shared_url)
    with store.session() as s:
        rows = [r for r in s.exec(select(PostRow)) if r.local_date >= date(2026, 3, 2)]  # not the seeded week
        assert len(rows) == 24 and {r.status for r in rows} == {"revealed"}
        assert len({(r.subscription_id, r.local_date) for r in rows}) == 24
        weeks = sorted((d.group_id, d.week_start, d.status) for d in s.exec(select(DigestRow)))
    assert weeks == sorted((g, w, "posted") for g in (1, 2, 3) for w in (date(2026, 2, 23), date(2026, 3, 2)))
    store.close()
