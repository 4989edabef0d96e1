"""The scheduler through the real Slack ChatPort against the Slack stand-in, over loopback HTTP:
HTTP 429 with Retry-After and 5xx for a while, then everything delivered once; a
deleted channel pauses its subscription while the others go on.

slack-sdk first retries 429/5xx itself (waiting out Retry-After); once it gives
up, the port raises TransientPlatformError and the core backs off on the
controlled clock, so these tests only wait for slack-sdk's own short pauses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.domain import ChannelRef
from bot.store.models import DigestRow, PostRow, SubscriptionRow
from tests.test_scheduler import seed_last_week, start_bot, stop_bot, utc

standin_module = pytest.importorskip("tests.slack.standin", reason="the Slack stand-in is not there yet")
outbound = pytest.importorskip("adapters.slack.outbound", reason="the Slack adapter is not there yet")

TEAM = standin_module.TEAM_ID


@pytest.fixture
async def standin() -> AsyncIterator[object]:
    async with standin_module.SlackStandIn() as s:
        yield s


async def slack_bot(settings, bank, clock, standin):  # type: ignore[no-untyped-def]
    port = outbound.SlackPort(outbound.make_client(standin_module.BOT_TOKEN, standin.api_url))
    bot = await start_bot(settings, bank, clock)
    bot.core.rt.ports["slack"] = port
    return bot


def ok_posts(standin, *, thread: bool) -> list:  # type: ignore[no-untyped-def]
    return [c for c in standin.calls_to("chat.postMessage") if bool(c.args.get("thread_ts")) == thread]


async def test_429_and_5xx_for_a_while_then_each_post_reveal_and_digest_goes_out_once(
        world, settings, bank, store, standin):
    world.clock.set(utc(2026, 3, 1, 12, 0))  # Sunday
    bot = await slack_bot(settings, bank, world.clock, standin)
    for channel, topic in (("C0ONE", "serving"), ("C0TWO", "modeling")):
        await bot.command(f"subscribe {topic} at 09:00 days mon-fri window 1h",
                          channel=ChannelRef("slack", TEAM, channel))
    seed_last_week(store)
    # Monday 09:00: the API rate-limits, then fails with 5xx, each once more than slack-sdk retries.
    standin.rate_limit("chat.postMessage", retry_after=0, times=3)
    standin.server_error("chat.postMessage", status=503, times=3)
    standin.server_error("files.getUploadURLExternal", status=502, times=3)
    await bot.sim.run_until(utc(2026, 3, 2, 12, 0))

    failures = Counter(c.status for c in standin.calls if not c.ok)
    assert failures == {429: 3, 503: 3, 502: 3}
    top = Counter((c.args["channel"], "Daily question" in c.all_text, "Weekly digest" in c.all_text)
                  for c in ok_posts(standin, thread=False))
    assert top == {("C0ONE", True, False): 1, ("C0TWO", True, False): 1,
                   ("C0ONE", False, True): 1, ("C0TWO", False, True): 1}
    with store.session() as s:
        rows = [r for r in s.exec(select(PostRow)) if r.message_id is not None]  # not the seeded week
        assert {r.status for r in rows} == {"revealed"}
        assert {d.status for d in s.exec(select(DigestRow))} == {"posted"}
    reveals = Counter(c.args["thread_ts"] for c in ok_posts(standin, thread=True) if "Reveal" in c.all_text)
    assert reveals == Counter({r.message_id: 1 for r in rows})
    assert len(standin.calls_to("files.completeUploadExternal")) == 2  # one chart per digest
    await stop_bot(bot)


async def test_a_deleted_slack_channel_pauses_its_subscription_and_the_others_go_on(
        world, settings, bank, store, standin):
    world.clock.set(utc(2026, 3, 2, 8, 0))
    bot = await slack_bot(settings, bank, world.clock, standin)
    gone, alive = ChannelRef("slack", TEAM, "C0GONE"), ChannelRef("slack", TEAM, "C0ALIVE")
    await bot.command("subscribe serving at 09:00 days daily window 1h", channel=gone)
    await bot.command("subscribe modeling at 09:00 days daily window 1h", channel=alive)
    standin.delete_channel("C0GONE")
    await bot.sim.run_until(utc(2026, 3, 4, 12, 0))

    assert Counter(c.args["channel"] for c in ok_posts(standin, thread=False)) == {"C0ALIVE": 3}
    with store.session() as s:
        paused = s.exec(select(SubscriptionRow).where(SubscriptionRow.topic == "serving")).one()
    assert paused.paused_reason == "channel_not_found"
    assert "paused: channel_not_found" in await bot.command("schedule", channel=gone, user="UA")
    await stop_bot(bot)
