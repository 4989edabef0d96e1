"""The weekly digest against a week worked out by hand.

Channel in America/New_York, one daily question at 09:00 with a 2 h window,
the week of Monday 2026-03-02, which contains the spring DST change (Sunday
2026-03-08 02:00). What happens:

    Mon  UA good, UB weak                       (2 on time)
    Tue  holiday (skip date): nothing posted
    Wed  UA good, UC late                       (1 on time)
    Thu  UA good, UB good, UB votes for UA      (2 on time)   UC goes away for 4 days
    Fri  UA good                                (1 on time)
    Sat  UA good                                (1 on time)
    Sun  UA good, after the DST change          (1 on time)

Posts: 6. On-time answers: 8. Active members: UA, UB, UC (UC answered late).
Participation 8 / (6 x 3) = 44%. Points: a good answer covers 3 of 4 key
points = 10 + 8 = 18; a weak one 10. UA 6 x 18 + 1 vote = 109; UB 10 + 18 = 28.
Coverage: (6 x 0.75 + 0 + 0.75) / 8 = 66%.
Streaks at the week's end: UA 6 (every post), UB 0, UC 0 but frozen while away.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image as PILImage

from bot import charts
from bot.domain import MessageKind, Topic

NY = ZoneInfo("America/New_York")
GOOD = ("I would split the latency budget across the stages. I would cache the candidate lists ahead of time. "
        "When a call is slow I would fall back to popular items.")
WEAK = "I would make it faster by adding more machines and hoping that is enough for everyone."


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Wall-clock time in New York on Monday 2026-03-02 + `day` days."""
    local_day = date(2026, 3, 2) + timedelta(days=day)
    return datetime(local_day.year, local_day.month, local_day.day, hour, minute, tzinfo=NY).astimezone(UTC)


async def _week(world):
    world.clock.set(at(-3, 12))  # the Friday before
    await world.admin("subscribe modeling at 09:00 tz America/New_York days daily window 2h skip 2026-03-03")
    plan = {
        0: [("UA", GOOD), ("UB", WEAK)],
        2: [("UA", GOOD)],
        3: [("UA", GOOD), ("UB", GOOD)],
        4: [("UA", GOOD)],
        5: [("UA", GOOD)],
        6: [("UA", GOOD)],
    }
    for day in range(7):
        world.clock.set(at(day, 9))
        await world.tick()
        if day not in plan:
            continue
        thread = world.thread()
        world.clock.set(at(day, 9, 30))
        ids = {}
        for user, text in plan[day]:
            ids[user], _ = await world.reply(user, text, thread=thread)
        if day == 3:
            await world.react("UB", ids["UA"])
            await world.command("UC", "away 4")
        world.clock.set(at(day, 11, 0) + timedelta(seconds=30))
        if day == 2:
            await world.reply("UC", GOOD, thread=thread)  # late: after the 11:00 deadline
        await world.tick()


async def test_digest_figures_match_the_hand_computed_week(world):
    await _week(world)
    sends = [c for c in world.port.of("send") if c.message.kind == MessageKind.DAILY_POST]
    assert len(sends) == 6  # the holiday posted nothing
    assert {c.message.footer.plain() for c in sends} == {"Question t-modeling-one"}
    # Sunday's post went out at 09:00 New York time after the DST change (13:00 UTC, not 14:00).
    assert (await world.core.standings.digest(world.channel, date(2026, 3, 2))).posts == 6
    data = await world.core.standings.digest(world.channel, date(2026, 3, 2))
    assert data.answers == 8
    assert round(data.participation, 4) == round(8 / 18, 4)
    assert [(s.user_id, s.points) for s in data.top] == [("UA", 109), ("UB", 28)]
    assert dict(data.streak_leaders) == {"UA": 6}
    assert round(data.coverage_by_topic[Topic.MODELING], 4) == round(5.25 / 8, 4)
    assert data.weakest_topic == Topic.MODELING
    assert data.answers_by_day == (2, 0, 1, 2, 1, 1, 1)
    assert data.most_missed[0].text == "Rolls out behind a canary"
    assert (data.most_missed[0].missed, data.most_missed[0].answers) == (8, 8)


async def test_the_scheduled_digest_posts_these_figures_once_on_monday(world):
    await _week(world)
    world.clock.set(at(7, 9))  # Monday 09:00 New York: the default digest slot
    await world.tick()
    await world.tick(minutes=5)
    digests = [c for c in world.port.of("send") if c.message.kind == MessageKind.DIGEST]
    assert len(digests) == 1
    text = digests[0].message.plain()
    assert "Week of 02 Mar 2026" in text
    assert "Questions: 6" in text and "Answers: 8" in text and "Participation: 44%" in text
    assert "1. @UA — 109 pts" in text and "2. @UB — 28 pts" in text
    assert "@UA 🔥 6" in text
    assert "Rolls out behind a canary — missed in 8 of 8 answers" in text
    uploads = world.port.of("upload")
    assert len(uploads) == 1 and uploads[0].filename == "digest-2026-03-02.png"


async def test_away_and_holiday_keep_streaks(world):
    await _week(world)
    world.clock.set(at(7, 8))
    stats = (await world.command("UC", "stats")).message.plain()
    assert "Streak: 0 (best 0)" in stats  # late on Wednesday is not a streak
    ua = (await world.command("UA", "stats")).message.plain()
    assert "Streak: 6 (best 6)" in ua  # the Tuesday holiday did not break it


def _png_size(png: bytes) -> tuple[int, int]:
    with PILImage.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        return img.size


async def test_the_digest_chart_is_a_readable_png_that_follows_the_data(world):
    await _week(world)
    data = await world.core.standings.digest(world.channel, date(2026, 3, 2))
    chart = await charts.digest_chart(data)
    width, height = _png_size(chart.png)
    assert 600 <= width <= 2000 and 250 <= height <= 1200  # legible on a phone, not a poster
    assert 10_000 < len(chart.png) < 500_000
    quieter = await world.core.standings.digest(world.channel, date(2026, 2, 23))  # the week before: nothing
    assert (await charts.digest_chart(quieter)).png != chart.png


async def test_a_channel_can_move_its_digest_to_friday_afternoon(world):
    world.clock.set(at(-3, 12))
    reply = await world.admin("subscribe modeling at 09:00 tz America/New_York days daily window 2h "
                              "digest fri 16:00")
    assert "weekly digest on fri at 16:00" in reply.message.plain()
    assert "Weekly digest: fri at 16:00 America/New_York" in (await world.command("UA", "schedule")).message.plain()
    for day in range(5):
        world.clock.set(at(day, 9))
        await world.tick()
        world.clock.set(at(day, 9, 30))
        await world.reply("UA", GOOD, thread=world.thread())
        world.clock.set(at(day, 11, 1))
        await world.tick()
    world.clock.set(at(4, 16))
    await world.tick()
    digests = [c for c in world.port.of("send") if c.message.kind == MessageKind.DIGEST]
    assert len(digests) == 1
    assert "Week of 02 Mar 2026" in digests[0].message.plain() and "Questions: 5" in digests[0].message.plain()
    world.clock.set(at(7, 9))  # the old Monday slot posts nothing more
    await world.tick()
    assert len([c for c in world.port.of("send") if c.message.kind == MessageKind.DIGEST]) == 1
