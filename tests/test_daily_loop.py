"""The daily loop as a channel experiences it: post once, collect answers, reveal once."""

from __future__ import annotations

from sqlmodel import select

from bot.domain import MessageKind
from bot.store.models import LedgerRow, PostRow, ReplyRow

GOOD = ("I would split the latency budget across retrieval and ranking, cache the candidate "
        "lists, and fall back to popular items when the ranker is slow.")
WEAK = "I would make the model faster somehow and hope it all works out fine."


async def test_subscribing_posts_nothing_until_the_scheduled_time(world):
    reply = await world.admin("subscribe serving at 09:00")
    assert "Subscribed" in reply.message.plain()
    assert not reply.private
    await world.tick()  # 08:00
    assert world.port.of("send") == []
    await world.tick(minutes=60)  # 09:00
    posts = world.port.of("send")
    assert len(posts) == 1
    assert posts[0].message.kind == MessageKind.DAILY_POST
    assert "Daily question" in posts[0].message.title


async def test_subscribing_after_todays_time_does_not_post_the_missed_slot(world):
    world.clock.advance(hours=3)  # 11:00, past 09:00
    await world.admin("subscribe serving at 09:00")
    await world.tick()
    assert world.port.of("send") == []


async def test_asking_twice_posts_once(world):
    await world.admin("subscribe serving at 09:00")
    await world.tick(hours=1)
    await world.tick()
    await world.tick(minutes=5)
    assert len(world.port.of("send")) == 1


async def test_post_now_posts_today_and_the_schedule_does_not_repeat_it(world):
    await world.admin("subscribe serving at 09:00")
    reply = await world.admin("post-now")
    assert "posted today's question" in reply.message.plain()
    assert len(world.port.of("send")) == 1
    await world.tick(hours=1)  # the 09:00 slot arrives
    assert len(world.port.of("send")) == 1
    again = await world.admin("post-now serving")
    assert "already posted" in again.message.plain()
    assert len(world.port.of("send")) == 1


async def test_post_now_deadline_counts_from_the_scheduled_time(world, store):
    await world.admin("subscribe modeling at 09:00 window 2h")
    await world.admin("post-now")  # at 08:00, before the slot
    with store.session() as s:
        post = s.exec(select(PostRow)).one()
    assert post.deadline.hour == 11


async def test_answers_are_acknowledged_and_discussion_is_not(world):
    await world.admin("subscribe serving at 09:00")
    await world.tick(hours=1)
    mid, _ = await world.reply("UA", GOOD)
    short, _ = await world.reply("UB", "nice question!")
    reactions = world.port.of("react")
    assert [(r.message_id, r.reaction) for r in reactions] == [(mid, "white_check_mark")]
    assert short not in {r.message_id for r in reactions}


async def test_a_duplicate_event_changes_nothing_and_calls_no_platform(world, store):
    await world.admin("subscribe serving at 09:00")
    await world.tick(hours=1)
    mid, first = await world.reply("UA", GOOD, event_id="Ev-dup")
    calls = len(world.port.calls)
    _, second = await world.reply("UA", GOOD, message_id=mid, event_id="Ev-dup")
    assert second.duplicate and not first.duplicate
    assert len(world.port.calls) == calls
    with store.session() as s:
        assert len(s.exec(select(ReplyRow)).all()) == 1


async def test_bot_messages_and_untracked_threads_are_ignored(world, store):
    await world.admin("subscribe serving at 09:00")
    await world.tick(hours=1)
    await world.reply("UBOT", GOOD, from_bot=True)
    await world.reply("UA", GOOD, thread="not-a-question-thread")
    with store.session() as s:
        assert s.exec(select(ReplyRow)).all() == []
    assert world.port.of("react") == []


async def test_reveal_scores_coverage_votes_and_late_answers_once(world, store):
    await world.admin("subscribe modeling at 09:00 window 2h")
    await world.tick(hours=1)
    good, _ = await world.reply("UA", GOOD)
    weak, _ = await world.reply("UB", WEAK)
    await world.react("UB", good)        # a peer vote for UA
    await world.react("UA", good)        # a self-vote: ignored
    await world.react("UC", good)        # another peer vote
    await world.react("UC", weak, "heart")
    await world.unreact("UC", weak, "heart")  # taken back
    world.clock.advance(hours=2, minutes=1)  # past the 11:00 deadline
    _late, _ = await world.reply("UC", GOOD)
    assert world.port.of("react")[-1].reaction == "hourglass"
    report = await world.tick()
    assert len(report.revealed) == 1
    reveals = [c for c in world.port.of("reply") if c.message.kind == MessageKind.REVEAL]
    assert len(reveals) == 1
    text = reveals[0].message.plain()
    assert "@UA covered 3/4 key points (#1, #2, #3) · 20 pts · 2 votes" in text
    assert "@UB covered 0/4" in text
    assert "@UC covered 3/4 key points (#1, #2, #3) · late, not scored" in text
    assert "Sample answer" in text
    # A second reveal (scheduler retry, reveal-now) does nothing.
    assert (await world.tick()).revealed == []
    assert (await world.admin("reveal-now")).message.plain().startswith("There is no open question")
    with store.session() as s:
        ledger = {(r.member_id, r.reason): r.points for r in s.exec(select(LedgerRow))}
    assert sorted(ledger.values()) == [2, 8, 10, 10]  # UA: 10+8+2 ; UB: 10


async def test_several_replies_join_and_an_edit_replaces_and_a_delete_removes(world):
    await world.admin("subscribe modeling at 09:00 window 2h")
    await world.tick(hours=1)
    _first, _ = await world.reply("UA", "First I would split the latency budget per stage carefully.")
    await world.reply("UA", "Then I would cache candidate lists so the ranker has less to do.")
    typo, _ = await world.reply("UB", "I would make it faster by using bigger machines everywhere.")
    await world.edit("UB", typo, "If the ranker is slow I would fall back to popular items. "
                                 "I would release every change to a small canary slice first.")
    gone, _ = await world.reply("UC", "I would cache everything and put a fallback in front of it.")
    await world.delete(gone)
    await world.tick(hours=2, minutes=1)
    text = next(c for c in world.port.of("reply") if c.message.kind == MessageKind.REVEAL).message.plain()
    assert "@UA covered 2/4 key points (#1, #2)" in text
    assert "@UB covered 2/4 key points (#3, #4)" in text
    assert "@UC" not in text


async def test_edit_after_the_deadline_does_not_rescore(world):
    await world.admin("subscribe modeling at 09:00 window 1h")
    await world.tick(hours=1)
    mid, _ = await world.reply("UA", "My plan: I would put everything behind a big cache layer.")
    world.clock.advance(hours=1, minutes=1)
    outcome = await world.edit("UA", mid, GOOD)
    assert outcome.notes == ["closed"]
    await world.tick()
    text = next(c for c in world.port.of("reply") if c.message.kind == MessageKind.REVEAL).message.plain()
    assert "@UA covered 1/4" in text


async def test_a_channel_that_is_gone_pauses_its_subscription_and_others_go_on(world):
    from bot.domain import ChannelRef

    other = ChannelRef("console", "T1", "C2")
    await world.admin("subscribe serving at 09:00")
    await world.command("UADMIN", "subscribe modeling at 09:00", channel=other)
    world.port.unavailable["C1"] = "channel_not_found"
    await world.tick(hours=1)
    sent = world.port.of("send")
    assert [c.channel.channel for c in sent] == ["C2"]
    schedule = (await world.command("UA", "schedule")).message.plain()
    assert "paused: channel_not_found" in schedule
    # Subscribing again resumes it (from the next slot on).
    del world.port.unavailable["C1"]
    assert "Resumed" in (await world.admin("subscribe serving")).message.plain()
    await world.tick(days=1)
    assert [c.channel.channel for c in world.port.of("send")].count("C1") == 1


async def test_transient_failure_is_retried_and_posts_once(world):
    await world.admin("subscribe serving at 09:00")
    world.port.transient_failures = 1
    report = await world.tick(hours=1)
    assert report.failed and world.port.of("send") == []
    await world.tick(seconds=10)  # the first backoff (15s) has not passed: no retry yet
    assert world.port.of("send") == []
    await world.tick(seconds=10)
    assert len(world.port.of("send")) == 1
    await world.tick(minutes=5)
    assert len(world.port.of("send")) == 1


async def test_no_repeat_until_the_bank_is_exhausted_then_worst_covered_first(world, store):
    await world.admin("subscribe serving at 09:00 days daily window 1h")
    seen = []
    for day in range(3):
        await world.tick(hours=1 if day == 0 else 24)
        post = world.port.of("send")[-1]
        seen.append(post.message.footer.plain())
        if day == 1:  # the second question gets a strong answer, the others none
            await world.reply("UA", GOOD)
        await world.tick(hours=1, minutes=1)
        world.clock.advance(hours=-1, minutes=-1)  # back to 09:00
    assert len(set(seen)) == 3
    await world.tick(hours=24)
    fourth = world.port.of("send")[-1].message.footer.plain()
    assert fourth != seen[1]  # the well-answered one does not come back first
    assert fourth != seen[2]  # nor the one just posted
