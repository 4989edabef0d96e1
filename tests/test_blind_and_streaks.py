"""Blind mode answers and streaks, the two rules that change how a team practises."""

from __future__ import annotations

from bot.domain import MessageKind, PrivateAnswer
from bot.render import ANSWER_PRIVATELY_ACTION

GOOD = ("I would split the latency budget across the stages. I would cache the candidate lists ahead of time. "
        "When a call is slow I would fall back to popular items.")


async def _private(world, user, text, post_id, event_id=None):
    outcome = await world.core.handle(PrivateAnswer(world.channel, post_id, user, text,
                                                    event_id or world.event_id()))
    return outcome.reply.message.plain()


async def test_blind_answers_are_private_until_the_reveal_shows_them_all(world):
    await world.admin("subscribe modeling at 09:00 window 2h blind")
    await world.tick(hours=1)
    post = world.port.of("send")[-1].message
    button = post.buttons[0]
    assert button.action_id == ANSWER_PRIVATELY_ACTION and button.label == "Answer privately"
    post_id = int(button.value)
    first_go = "My first go: I would cache the candidates somewhere."
    assert "Your answer is recorded" in await _private(world, "UA", first_go, post_id)
    assert "Your answer is updated" in await _private(world, "UA", GOOD, post_id)
    assert "too short" in await _private(world, "UB", "cache it", post_id)
    assert world.port.of("reply") == []  # nothing visible before the reveal
    await world.tick(hours=2)
    reveal = next(c for c in world.port.of("reply") if c.message.kind == MessageKind.REVEAL).message.plain()
    assert "@UA covered 3/4 key points" in reveal
    assert "Everyone's answers, as submitted" in reveal and GOOD in reveal
    assert "My first go" not in reveal  # the resubmission replaced it
    late = await _private(world, "UC", GOOD, post_id)
    assert "deadline has passed" in late


async def test_a_blind_answer_for_another_channel_is_refused(world):
    from bot.domain import ChannelRef

    await world.admin("subscribe modeling at 09:00 blind")
    await world.tick(hours=1)
    post_id = int(world.port.of("send")[-1].message.buttons[0].value)
    outcome = await world.core.handle(PrivateAnswer(ChannelRef("console", "T1", "C9"), post_id, "UA",
                                                    GOOD, "ev-x"))
    assert "not open in this channel" in outcome.reply.message.plain()


async def test_streak_counts_consecutive_answered_posts_and_an_open_post_does_not_break_it(world):
    await world.admin("subscribe modeling at 09:00 days daily window 2h")
    for day in range(3):
        await world.tick(hours=1 if day == 0 else 22)
        await world.reply("UA", GOOD)
        await world.tick(hours=2)
    await world.tick(hours=22)  # day 4 is posted, still open, not answered yet
    assert "Streak: 3 (best 3)" in (await world.command("UA", "stats")).message.plain()
    await world.tick(hours=2)  # day 4 closes unanswered: the streak breaks
    assert "Streak: 0 (best 3)" in (await world.command("UA", "stats")).message.plain()


async def test_a_late_answer_does_not_extend_a_streak(world):
    await world.admin("subscribe modeling at 09:00 days daily window 1h")
    await world.tick(hours=1)
    world.clock.advance(hours=1, minutes=5)
    await world.reply("UA", GOOD)
    await world.tick()
    assert "Streak: 0 (best 0)" in (await world.command("UA", "stats")).message.plain()
