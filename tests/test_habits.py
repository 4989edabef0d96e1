"""Habits: vacations freeze streaks, holidays post nothing, reminders, opt-ins, live board."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.command_parser import CommandError, parse
from bot.store.models import MemberPrefRow

GOOD = ("I would split the latency budget across the stages. I would cache the candidate lists ahead of time. "
        "When a call is slow I would fall back to popular items.")


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


async def test_a_deadline_reminder_names_only_the_time_left_and_comes_once(world):
    await world.admin("subscribe modeling at 09:00 window 3h")
    reply = await world.admin("reminder 1h")
    assert "reminder 1h before its deadline" in reply.message.plain()
    await world.tick(hours=1)  # 09:00 post, deadline 12:00
    post_id = (await world.core.timetable()).reminders[0][0]
    assert (await world.core.timetable()).reminders == ((post_id, world.clock.now().replace(hour=11)),)
    await world.tick(hours=1, minutes=59)  # 10:59: not yet
    assert [c for c in world.port.of("reply")] == []
    await world.tick(minutes=1)  # 11:00
    reminders = world.port.of("reply")
    assert len(reminders) == 1
    assert reminders[0].message.plain().startswith("⏰ 1 hour left to answer")
    assert "@" not in reminders[0].message.plain()  # pings nobody
    assert reminders[0].thread_id == world.thread()
    await world.tick(minutes=30)
    assert len(world.port.of("reply")) == 1
    assert (await world.core.timetable()).reminders == ()


async def test_reminders_are_off_by_default(world):
    await world.admin("subscribe modeling at 09:00 window 3h")
    await world.tick(hours=1)
    await world.tick(hours=2, minutes=30)
    assert world.port.of("reply") == []


async def test_admins_are_told_once_when_a_topic_runs_low(world):
    await world.admin("subscribe serving at 09:00 days daily window 1h")  # 3 serving questions
    await world.tick(hours=1)  # 2 left: at the threshold
    notices = [c for c in world.port.of("private") if "Heads-up" in c.message.plain()]
    assert len(notices) == 1 and notices[0].user_id == "UADMIN"
    assert "only 2 of the 3 Serving architecture questions" in notices[0].message.plain()
    await world.tick(hours=24)
    await world.tick(hours=24)
    assert len([c for c in world.port.of("private") if "Heads-up" in c.message.plain()]) == 1


async def test_the_live_board_is_edited_after_every_reveal(world):
    await world.admin("subscribe modeling at 09:00 days daily window 1h")
    await world.admin("live-board on")
    board_id = world.port.of("send")[-1].message_id
    for _ in range(2):
        await world.tick(hours=1 if len(world.port.of("send")) == 1 else 23)
        await world.reply("UA", GOOD)
        await world.tick(hours=1)
    updates = world.port.of("update")
    assert [u.message_id for u in updates] == [board_id, board_id]
    assert "@UA — 36 pts" in updates[-1].message.plain()
    boards = [c for c in world.port.of("send") if "updated after every reveal" in (c.message.title or "")]
    assert len(boards) == 1


async def test_weekly_summary_goes_privately_to_those_who_opted_in(world):
    from tests.test_digest_week import _week

    await world.command("UB", "remind on")
    await _week(world)
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    world.clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC))
    await world.tick()
    await world.tick(minutes=10)
    summaries = [c for c in world.port.of("private") if (c.message.title or "").startswith("Your week")]
    assert [(c.user_id, c.message.title) for c in summaries] == [
        ("UB", "Your week in practice (week of 02 Mar)")]
    assert summaries[0].message.image is not None
