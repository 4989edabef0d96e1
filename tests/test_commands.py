"""`/mlsd` as members type it: every subcommand, every kind of bad input, permissions."""

from __future__ import annotations

import msgspec
import pytest
from sqlmodel import select

from bot.command_parser import CommandError, parse
from bot.domain import MessageKind
from bot.store.models import PostRow, SubscriptionRow

# Makes three of t-modeling-one's four key points, one sentence each.
THREE_POINTS = ("I would split the latency budget across the stages. I would cache the candidate lists ahead of time. "
                "When a call is slow I would fall back to popular items.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subscribe servng", "Unknown topic 'servng'. Topics: `formulation`, `data`"),
        ("quiz astrology", "Unknown topic 'astrology'"),
        ("subscribe serving at 25:00", "'25:00' is not a time: use 24-hour HH:MM"),
        ("subscribe serving at 9am", "'9am' is not a time"),
        ("subscribe serving tz Mars/Olympus", "Unknown time zone 'Mars/Olympus'"),
        ("subscribe serving tz Berlin", "Did you mean `Europe/Berlin`?"),
        ("subscribe serving days someday", "'someday' is not a set of days"),
        ("subscribe serving window 9d", "Window 9d is out of range: it must be between 1m and 7d"),
        ("subscribe serving window soon", "'soon' is not a window: use minutes, hours or days"),
        ("subscribe serving at", "`at` needs a value, e.g. `at 09:00`"),
        ("subscribe serving at 09:00 at 10:00", "`at` is given twice"),
        ("subscribe serving loudly", "I don't understand 'loudly'"),
        ("subscribe", "Use `/mlsd subscribe <topic|all>"),
        ("leaderboard year", "Unknown window 'year'. Use `/mlsd leaderboard week`, `month` or `all`."),
        ("dance", "Unknown command 'dance'. Type `/mlsd help`"),
        ("stats now", "`/mlsd stats` takes no options"),
        ("unsubscribe", "Use `/mlsd unsubscribe <topic>`"),
    ],
)
def test_bad_input_gets_a_specific_message(text, expected):
    with pytest.raises(CommandError) as err:
        parse(text)
    assert expected in str(err.value)


def test_the_grammar_parses_every_option():
    cmd = parse("subscribe all at 7:30 tz America/New_York days mon,wed-fri window 90m blind")
    assert (cmd.topic, cmd.at, cmd.timezone, cmd.days, cmd.blind) == (
        "all", "07:30", "America/New_York", ("mon", "wed", "thu", "fri"), True)
    assert cmd.window_length.total_seconds() == 90 * 60
    assert parse("days daily" and "subscribe data days daily").days == (
        "mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert parse("subscribe data days sat,sun").days == ("sat", "sun")
    assert parse("post_now serving").name == "post-now"
    assert parse("quiz readiness").topic == "readiness"
    assert parse("").name == "help"


async def test_empty_command_and_help_list_every_command(world):
    text = (await world.command("UA", "")).message.plain()
    for word in ("quiz", "leaderboard", "stats", "topics", "schedule", "digest", "subscribe",
                 "unsubscribe", "post-now", "reveal-now"):
        assert f"/mlsd {word}" in text


async def test_bad_input_changes_nothing(world, store):
    reply = await world.admin("subscribe serving at 25:00")
    assert reply.message.kind == MessageKind.ERROR and reply.private
    with store.session() as s:
        assert s.exec(select(SubscriptionRow)).all() == []


@pytest.mark.parametrize("text", ["subscribe serving", "unsubscribe all", "post-now", "reveal-now"])
async def test_admin_commands_are_refused_to_members(world, store, text):
    reply = await world.command("UMEMBER", text)
    assert reply.message.plain().startswith("Only admins can")
    assert "MLSD_ADMINS" in reply.message.plain()
    with store.session() as s:
        assert s.exec(select(SubscriptionRow)).all() == []
        assert s.exec(select(PostRow)).all() == []


async def test_platform_admins_and_configured_admins_are_both_admins(world):
    assert "Subscribed" in (await world.command("UOWNER", "subscribe data", admin=True)).message.plain()
    assert "Updated" in (await world.command("UADMIN", "subscribe data at 10:00")).message.plain()


async def test_resubscribing_keeps_what_the_command_does_not_change(world):
    await world.admin("subscribe data at 08:30 tz Europe/Berlin days mon,wed window 2h blind")
    updated = (await world.admin("subscribe data at 10:00")).message.plain()
    assert "Updated: " in updated and "at 10:00 Europe/Berlin, mon,wed; answers close after 2h" in updated
    assert "blind" not in updated  # blind only while asked for
    await world.admin("unsubscribe data")
    resumed = (await world.admin("subscribe data days daily")).message.plain()
    assert "Resumed: " in resumed and "at 10:00 Europe/Berlin, mon,tue,wed,thu,fri,sat,sun" in resumed
    assert "data at 10:00 Europe/Berlin, daily, window 2h" in (await world.command("UA", "schedule")).message.plain()


async def test_schedule_topics_and_unsubscribe(world):
    assert "no subscriptions" in (await world.command("UA", "schedule")).message.plain()
    await world.admin("subscribe all at 08:30 tz Europe/Berlin days daily window 2h")
    schedule = (await world.command("UA", "schedule")).message.plain()
    assert "all at 08:30 Europe/Berlin, daily, window 2h" in schedule
    assert "active · next post" in schedule
    topics = (await world.command("UA", "topics")).message.plain()
    assert "`serving` — Serving architecture: 3 questions, 2 quiz items" in topics
    assert "Unsubscribed from all" in (await world.admin("unsubscribe all")).message.plain()
    assert "stopped (unsubscribed)" in (await world.command("UA", "schedule")).message.plain()
    again = await world.admin("unsubscribe serving")
    assert "not subscribed to `serving`" in again.message.plain()


async def test_all_rotates_through_topics_one_a_day(world):
    await world.admin("subscribe all at 09:00 days daily")
    titles = []
    for _ in range(7):
        await world.tick(hours=24 if titles else 1)
        titles.append(world.port.of("send")[-1].message.title)
    assert len(world.port.of("send")) == 7
    assert len(set(titles[:6])) == 6  # six topics, then round again
    assert titles[6] == titles[0]


async def test_post_now_without_a_subscription_says_how_to_subscribe(world):
    reply = await world.admin("post-now serving")
    assert "not subscribed to `serving`: subscribe first, e.g. `/mlsd subscribe serving`" in (
        reply.message.plain())


async def test_reveal_now_reveals_every_open_question_in_this_channel(world):
    await world.admin("subscribe serving at 09:00")
    await world.admin("subscribe data at 09:00")
    await world.tick(hours=1)
    reply = await world.admin("reveal-now")
    assert reply.message.plain() == "Revealed 2 questions in their threads."
    assert len([c for c in world.port.of("reply") if c.message.kind == MessageKind.REVEAL]) == 2


async def test_leaderboard_windows_and_callers_rank(world):
    await world.admin("subscribe modeling at 09:00 window 1h")
    await world.tick(hours=1)
    await world.reply("UA", THREE_POINTS)
    await world.reply("UB", "A long enough answer that mentions nothing from the key points at all.")
    await world.tick(hours=1)
    board = await world.command("UB", "leaderboard")
    text = board.message.plain()
    assert text.index("@UA") < text.index("@UB")
    assert "@UA — 18 pts" in text and "@UB — 10 pts" in text
    assert "You are #2 with 10 pts." in text
    assert not board.private
    # A month later the week is empty but all-time remembers.
    world.clock.advance(days=40)
    assert "No points this week yet" in (await world.command("UA", "leaderboard week")).message.plain()
    assert "@UA — 18 pts" in (await world.command("UA", "leaderboard all")).message.plain()
    nobody = await world.command("UZ", "leaderboard all")
    assert "You have no points in this window yet." in nobody.message.plain()


async def test_leaderboards_belong_to_their_channel(world):
    from bot.domain import ChannelRef

    other = ChannelRef("console", "T1", "C-other")
    await world.admin("subscribe modeling at 09:00 window 1h")
    await world.tick(hours=1)
    await world.reply("UA", THREE_POINTS)
    await world.tick(hours=1)
    text = (await world.command("UA", "leaderboard all", channel=other)).message.plain()
    assert "No points all time yet" in text


async def test_stats_and_digest_reply_privately_with_a_chart(world):
    await world.admin("subscribe modeling at 09:00 window 1h")
    await world.tick(hours=1)
    await world.reply("UA", THREE_POINTS)
    await world.tick(hours=1)
    stats = await world.command("UA", "stats")
    assert stats.private and stats.message.image is not None
    assert stats.message.image.png.startswith(b"\x89PNG")
    text = stats.message.plain()
    assert "modeling         answers  1 · coverage  75%" in text
    assert "Streak: 1 (best 1)" in text and "Rank here: #1 of 1 (18 pts)" in text
    digest = await world.command("UA", "digest")
    assert digest.private and digest.message.image.png.startswith(b"\x89PNG")
    assert "Questions: 1" in digest.message.plain()


def test_inputs_typed_loosely_still_mean_what_they_say():
    assert parse("SUBSCRIBE Serving AT 9:05 tz europe/berlin").timezone == "Europe/Berlin"
    assert parse('subscribe serving tz "America/New_York').timezone == "America/New_York"  # stray quote
    assert parse("subscribe serving days Monday,Friday").days == ("mon", "fri")


async def test_a_one_day_window_reads_as_24h(world):
    reply = await world.admin("subscribe serving")
    assert "answers close after 24h" in reply.message.plain()
    assert "answers close after 2d" in (await world.admin("subscribe data window 48h")).message.plain()


async def test_help_and_schedule_say_where_answers_are_graded(world):
    help_text = (await world.command("UA", "help")).message.plain()
    assert "the built-in grader judges key points on this bot's server" in help_text
    await world.admin("subscribe serving")
    schedule = (await world.command("UA", "schedule")).message.plain()
    assert "answers are not sent anywhere" in schedule
    world.core.rt.settings = msgspec.structs.replace(
        world.core.rt.settings, grader="llm", llm_base_url="http://127.0.0.1:11434/v1", llm_model="llama3")
    help_text = (await world.command("UA", "help")).message.plain()
    assert "answers are sent to a model endpoint (127.0.0.1, model llama3)" in help_text
    assert "answers are sent to a model endpoint" in (await world.command("UA", "schedule")).message.plain()
