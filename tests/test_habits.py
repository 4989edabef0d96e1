"""Habits: vacations freeze streaks, holidays post nothing, reminders, opt-ins, live board."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.command_parser import CommandError, parse
from bot.store.habits import MemberPrefRow

GOOD = "I would split the latency budget, cache the candidates and keep a fallback path."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("away 15", "You can be away for 1 to 14 days at a time (asked for 15)."),
        ("away soon", "'soon' is not a number of days"),
        ("remind maybe", "Use `/mlsd remind on` or `/mlsd remind off`."),
        ("live-board", "Use `/mlsd live-board on` or `/mlsd live-board off`."),
        ("reminder tomorrow", "'tomorrow' is not a window"),
        ("subscribe data skip 2026-13-01", "'2026-13-01' is not a date: use YYYY-MM-DD"),
    ],
)
def test_bad_habit_input_gets_a_specific_message(text, expected):
    with pytest.raises(CommandError) as err:
        parse(text)
    assert expected in str(err.value)


async def test_away_freezes_a_streak_and_off_ends_it(world):
    await world.admin("subscribe modeling at 09:00 days daily window 2h")
    for _ in range(2):  # two answered days
        await world.tick(hours=1 if not world.port.of("send") else 22)
        await world.reply("UA", GOOD)
        await world.tick(hours=2)
    reply = await world.command("UA", "away 3")
    assert "Your streak is frozen until" in reply.message.plain()
    for _ in range(3):  # three days away, nothing answered
        await world.tick(hours=22)
        await world.tick(hours=2)
    assert "Streak: 2 (best 2)" in (await world.command("UA", "stats")).message.plain()
    await world.tick(hours=22)  # back: the next missed day breaks it
    await world.tick(hours=2)
    assert "Streak: 0 (best 2)" in (await world.command("UA", "stats")).message.plain()


async def test_away_off_ends_the_freeze_early(world):
    await world.command("UA", "away 5")
    assert "Welcome back" in (await world.command("UA", "away off")).message.plain()


async def test_remind_on_and_off_is_remembered(world, store):
    assert "private summary" in (await world.command("UA", "remind on")).message.plain()
    with store.session() as s:
        assert [p.weekly_summary for p in s.exec(select(MemberPrefRow))] == [True]
    await world.command("UA", "remind off")
    with store.session() as s:
        assert [p.weekly_summary for p in s.exec(select(MemberPrefRow))] == [False]


@pytest.mark.parametrize("text", ["live-board on", "reminder 1h"])
async def test_channel_habits_are_admin_only(world, text):
    assert (await world.command("UA", text)).message.plain().startswith("Only admins can")


async def test_live_board_posts_one_standings_message(world):
    reply = await world.admin("live-board on")
    assert "Live standings are on" in reply.message.plain()
    boards = [c for c in world.port.of("send") if "updated after every reveal" in (c.message.title or "")]
    assert len(boards) == 1
