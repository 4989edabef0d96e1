"""`/mlsd` on Discord: registration, every subcommand, defer-then-follow-up, admin checks."""

from __future__ import annotations

import pytest

from tests.discord.conftest import close_world, open_world
from tests.discord.standin import EPHEMERAL, LOADING, Interaction, custom_ids

DEFERRED = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE ("thinking...")


def _deferred_ephemeral(record: Interaction) -> bool:
    assert record.callback_types[0] == DEFERRED, record.callbacks
    return bool((record.callbacks[0].get("data") or {}).get("flags", 0) & EPHEMERAL)


def _answered(record: Interaction) -> None:
    """Acknowledged within Discord's 3 seconds, then the placeholder was replaced."""
    assert record.answered_in is not None and record.answered_in < 3.0
    assert record.replies, "the deferred interaction was never followed up"
    assert not any(m["flags"] & LOADING for m in record.replies)


async def test_commands_are_synced_to_the_configured_guild_as_one_group(world):
    standin = world.standin
    assert standin.calls_to("PUT", rf"/applications/{standin.app_id}/guilds/{standin.guild_id}/commands")
    assert not standin.calls_to("PUT", rf"/applications/{standin.app_id}/commands")
    (group,) = standin.commands[str(standin.guild_id)]
    assert group["name"] == "mlsd"
    assert group.get("default_member_permissions") is None  # open to all; admin checks at run time
    subs = {o["name"]: o for o in group["options"]}
    assert set(subs) == {"help", "quiz", "leaderboard", "stats", "topics", "schedule", "digest",
                         "subscribe", "unsubscribe", "post_now", "reveal_now", "away", "remind",
                         "reminder", "live_board"}
    assert all(o["type"] == 1 for o in subs.values())  # subcommands, no nested groups
    quiz_topics = {c["value"] for c in subs["quiz"]["options"][0]["choices"]}
    assert quiz_topics == {"formulation", "data", "modeling", "serving", "experimentation", "monitoring",
                           "readiness"}
    sub_opts = {o["name"]: o for o in subs["subscribe"]["options"]}
    assert {c["value"] for c in sub_opts["topic"]["choices"]} >= {"all", "serving"}
    assert sub_opts["topic"]["required"] is True
    assert sub_opts["tz"].get("autocomplete") is True
    assert sub_opts["blind"]["type"] == 5  # boolean
    windows = {c["value"] for c in subs["leaderboard"]["options"][0]["choices"]}
    assert windows == {"week", "month", "all"}


async def test_without_guild_ids_commands_are_synced_globally(standin, clock, tmp_path):
    w = await open_world(standin, clock, tmp_path / "g.db", discord_guild_ids=[])
    try:
        assert standin.calls_to("PUT", rf"/applications/{standin.app_id}/commands")
        assert not standin.calls_to("PUT", r"/applications/\d+/guilds/\d+/commands")
        assert standin.commands[None][0]["name"] == "mlsd"
        record = await w.command(w.alice, "topics")
        assert "`serving`" in record.text()
    finally:
        await close_world(w)


async def test_help_is_private_and_lists_the_commands(world):
    record = await world.command(world.alice, "help")
    assert _deferred_ephemeral(record)
    _answered(record)
    text = record.text()
    assert "/mlsd quiz" in text and "/mlsd subscribe" in text and "/mlsd reveal-now" in text


async def test_topics_lists_the_six_topics_with_counts(world):
    record = await world.command(world.alice, "topics")
    _answered(record)
    for slug in ("formulation", "data", "modeling", "serving", "experimentation", "monitoring"):
        assert f"`{slug}`" in record.text()


async def test_quiz_is_private_with_four_persistent_buttons(world):
    record = await world.command(world.alice, "quiz", topic="serving")
    assert _deferred_ephemeral(record)
    _answered(record)
    (message,) = record.replies
    ids = custom_ids(message)
    assert len(ids) == 4 and all(i.startswith("mlsd_quiz:") for i in ids)
    assert "Quiz · Serving architecture" in record.text()


async def test_quiz_readiness_is_a_topic_value(world):
    record = await world.command(world.alice, "quiz", topic="readiness")
    _answered(record)
    assert "1/6" in record.text()


async def test_leaderboard_is_public_and_takes_a_window(world):
    record = await world.command(world.alice, "leaderboard", window="month")
    assert not _deferred_ephemeral(record)
    _answered(record)
    assert "Leaderboard · this month" in record.text()


async def test_stats_is_private_with_its_chart_attached(world):
    record = await world.command(world.alice, "stats")
    assert _deferred_ephemeral(record)
    _answered(record)
    assert "Your stats" in record.text()
    (message,) = record.replies
    (attachment,) = message["attachments"]
    assert attachment["filename"].endswith(".png") and attachment["size"] > 1000
    assert message["embeds"][-1]["image"]["url"] == f"attachment://{attachment['filename']}"


async def test_digest_is_private_with_its_chart(world):
    record = await world.command(world.alice, "digest")
    assert _deferred_ephemeral(record)
    _answered(record)
    assert "Weekly digest" in record.text()
    assert record.replies[-1]["attachments"]


async def test_subscribe_builds_the_grammar_from_typed_options(world):
    record = await world.command(world.admin, "subscribe", topic="serving", at="07:30", tz="Europe/Berlin",
                                 days="mon,wed,fri", window="90m", blind=True)
    assert not _deferred_ephemeral(record)  # the channel sees it
    _answered(record)
    assert "Subscribed: Serving architecture at 07:30 Europe/Berlin" in record.text()
    (sub,) = world.subscriptions()
    assert (sub.topic, sub.post_time, sub.timezone, sub.days, sub.window_minutes, sub.blind) == (
        "serving", "07:30", "Europe/Berlin", "mon,wed,fri", 90, True)
    command = world.events[-1]
    assert command.text == "subscribe serving at 07:30 tz Europe/Berlin days mon,wed,fri window 90m blind"
    assert command.channel.platform == "discord"
    assert command.channel.workspace == str(world.standin.guild_id)
    assert command.channel.channel == str(world.channel)


async def test_bad_option_gets_the_cores_explanation_privately(world):
    record = await world.command(world.admin, "subscribe", topic="serving", at="9am")
    _answered(record)
    # Deferred in public (a subscription is announced), but an error is only for the caller.
    assert not _deferred_ephemeral(record)
    assert record.original_deleted
    (reply,) = record.replies
    assert reply["flags"] & EPHEMERAL
    assert "HH:MM" in record.text()
    assert world.subscriptions() == []


async def test_a_member_without_manage_server_is_refused(world):
    record = await world.command(world.alice, "subscribe", topic="all")
    _answered(record)
    (reply,) = record.replies
    assert reply["flags"] & EPHEMERAL
    assert "Only admins can subscribe a channel" in record.text()
    assert world.subscriptions() == []
    for sub in ("post_now", "reveal_now"):
        refused = await world.command(world.bob, sub)
        assert "Only admins can" in refused.text()
    refused = await world.command(world.bob, "unsubscribe", topic="all")
    assert "Only admins can" in refused.text()


async def test_mlsd_admins_count_as_admins_without_discord_permissions(world):
    record = await world.command(world.config_admin, "subscribe", topic="data")
    assert "Subscribed" in record.text()
    assert world.events[-1].is_platform_admin is False


async def test_schedule_unsubscribe_post_now_and_reveal_now(world):
    empty = await world.command(world.alice, "schedule")
    assert "no subscriptions" in empty.text()
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    schedule = await world.command(world.alice, "schedule")
    assert "serving at 09:00 UTC" in schedule.text() and "active" in schedule.text()

    posted = await world.command(world.admin, "post_now")
    assert _deferred_ephemeral(posted)
    assert "posted today's question" in posted.text()
    (post,) = world.standin.bot_messages_in(world.channel)
    assert post["embeds"][0]["title"].startswith("Daily question")
    assert len(world.standin.threads()) == 1

    again = await world.command(world.admin, "post_now", topic="serving")
    assert "already posted" in again.text()
    assert "https://discord.com/channels/" in again.text()  # a link to the post, nothing fetched

    revealed = await world.command(world.admin, "reveal_now")
    assert "Revealed 1 question" in revealed.text()
    thread = world.standin.threads()[0]["id"]
    assert any(m["embeds"][0]["title"].startswith("Reveal") for m in world.standin.bot_messages_in(thread))

    gone = await world.command(world.admin, "unsubscribe", topic="serving")
    assert not _deferred_ephemeral(gone)
    assert "Unsubscribed from serving" in gone.text()
    assert "stopped" in (await world.command(world.alice, "schedule")).text()


@pytest.mark.parametrize(("typed", "expected"), [("berl", "Europe/Berlin"), ("new_y", "America/New_York"),
                                                 ("", "UTC")])
async def test_time_zone_autocomplete(world, typed, expected):
    record = await world.standin.autocomplete(world.admin, "subscribe", "tz", typed, topic="serving")
    await world.standin.wait_for(lambda: record.callbacks, what="autocomplete")
    (callback,) = record.callbacks
    assert callback["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    values = [c["value"] for c in callback["data"]["choices"]]
    assert expected in values and len(values) <= 25


async def test_a_command_in_a_thread_counts_for_its_channel(world):
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    await world.command(world.admin, "post_now")
    thread = world.standin.threads()[0]["id"]
    record = await world.standin.slash(world.alice, "leaderboard", channel_id=thread)
    await world.standin.wait_for(lambda: record.callbacks)
    await world.settle()
    assert world.events[-1].channel.channel == str(world.channel)


async def test_habit_commands_and_subscribe_options_reach_the_core(world):
    record = await world.command(world.admin, "subscribe", topic="data", skip="2026-12-24,2026-12-25",
                                 digest="fri 16:00")
    _answered(record)
    assert world.events[-1].text == "subscribe data skip 2026-12-24,2026-12-25 digest 'fri 16:00'"
    assert "no posts on 2026-12-24, 2026-12-25; weekly digest on fri at 16:00" in record.text()
    away = await world.command(world.alice, "away", days=5)
    assert world.events[-1].text == "away 5" and "Your streak is frozen until" in away.text()
    assert _deferred_ephemeral(away)
    back = await world.command(world.alice, "away", days=0)
    assert world.events[-1].text == "away off" and "Welcome back" in back.text()
    remind = await world.command(world.alice, "remind", state="on")
    assert "private summary" in remind.text()
    refused = await world.command(world.alice, "reminder", before="1h")
    assert "Only admins can set deadline reminders" in refused.text()
    reminder = await world.command(world.admin, "reminder", before="1h")
    assert "reminder 1h before its deadline" in reminder.text()
    board = await world.command(world.admin, "live_board", state="on")
    assert world.events[-1].text == "live-board on" and "Live standings are on" in board.text()
