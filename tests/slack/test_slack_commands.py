"""Every `/mlsd` subcommand through the real Bolt app: signed slash commands in,
ephemeral answers through the response_url, public ones in the channel."""

from __future__ import annotations

import asyncio

import pytest

from tests.slack.conftest import ADMIN, CHANNEL, OWNER, SlackWorld

MEMBER = "UMEMBER1"


def ephemeral(calls):
    return [c for c in calls if c.method == "response_url" and c.args.get("response_type") == "ephemeral"]


def public(calls):
    return [c for c in calls if c.method == "chat.postMessage"]


@pytest.mark.parametrize(("text", "expected"), [
    ("", "/mlsd subscribe"),
    ("help", "/mlsd quiz [topic|readiness]"),
    ("topics", "`serving` — Serving architecture"),
    ("schedule", "This channel has no subscriptions"),
    ("quiz serving", "serving quiz 1?"),
    ("quiz readiness", "1/6"),
    ("frobnicate", "help"),
    ("quiz cooking", "Unknown topic 'cooking'"),
    ("away 3", "Your streak is frozen until"),
    ("away 30", "You can be away for 1 to 14 days"),
    ("remind on", "private summary of your week"),
    ("reminder 1h", "Only admins can set deadline reminders"),
    ("live-board on", "Only admins can turn the live standings message on or off"),
])
async def test_private_answers_are_ephemeral(slack: SlackWorld, text, expected):
    calls = await slack.command(MEMBER, text)
    answers = ephemeral(calls)
    assert len(answers) == 1, [c.method for c in calls]
    assert expected in answers[0].all_text
    assert public(calls) == []


async def test_help_renders_as_block_kit_with_escaped_placeholders(slack: SlackWorld):
    [answer] = ephemeral(await slack.command(MEMBER, "help"))
    blocks = answer.blocks
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "mlsd-bot: daily ML system design practice"
    body = answer.texts()[1]
    # "<topic|all>" would be a Slack link if it were not escaped
    assert "subscribe &lt;topic|all&gt;" in body and "<topic|all>" not in body
    assert blocks[-1]["type"] == "context" and "Topics:" in blocks[-1]["elements"][0]["text"]
    assert answer.args["text"]  # a plain fallback on every message


async def test_quiz_buttons_have_unique_action_ids(slack: SlackWorld):
    [answer] = ephemeral(await slack.command(MEMBER, "quiz"))
    buttons = answer.buttons()
    assert [b["text"]["text"] for b in buttons] == ["A", "B", "C", "D"]
    assert [b["action_id"] for b in buttons] == [f"mlsd_quiz:{i}" for i in range(4)]


@pytest.mark.parametrize("window", ["", "week", "month", "all"])
async def test_leaderboard_is_posted_in_the_channel(slack: SlackWorld, window):
    calls = await slack.command(MEMBER, f"leaderboard {window}".strip())
    [post] = public(calls)
    assert post.args["channel"] == CHANNEL and "thread_ts" not in post.args
    assert "Leaderboard" in post.all_text and "No points" in post.all_text
    assert ephemeral(calls) == []


@pytest.mark.parametrize(("text", "title"), [("stats", "Your stats"), ("digest", "Weekly digest")])
async def test_stats_and_digest_are_private_with_the_chart_in_a_dm(slack: SlackWorld, text, title):
    calls = await slack.command(MEMBER, text)
    [answer] = ephemeral(calls)
    assert title in answer.all_text
    assert "direct messages" in answer.all_text
    methods = [c.method for c in calls]
    assert methods.index("conversations.open") < methods.index("files.getUploadURLExternal")
    assert "upload" in methods
    [done] = [c for c in calls if c.method == "files.completeUploadExternal"]
    assert done.args["channel_id"] == f"D{MEMBER}"
    upload = next(c for c in calls if c.method == "upload")
    assert slack.standin.uploads[upload.args["file_id"]].startswith(b"\x89PNG")
    assert public(calls) == []


async def test_admin_from_mlsd_admins_subscribes_and_the_channel_sees_it(slack: SlackWorld):
    calls = await slack.command(ADMIN, "subscribe serving at 09:00 tz Europe/Berlin")
    [post] = public(calls)
    assert post.args["channel"] == CHANNEL
    assert "Subscribed: Serving architecture at 09:00 Europe/Berlin" in post.all_text
    assert "<!date^" in post.all_text  # the first question, in each reader's zone
    assert [c.args["user"] for c in calls if c.method == "users.info"] == [ADMIN]


async def test_a_workspace_admin_per_users_info_counts_as_admin(slack: SlackWorld):
    calls = await slack.command(OWNER, "subscribe data")
    assert "Subscribed" in public(calls)[0].all_text


async def test_a_non_admin_is_refused_and_nothing_changes(slack: SlackWorld):
    calls = await slack.command(MEMBER, "subscribe serving")
    [answer] = ephemeral(calls)
    assert "Only admins can subscribe a channel" in answer.all_text
    assert public(calls) == []
    calls = await slack.command(MEMBER, "schedule")
    assert "no subscriptions" in ephemeral(calls)[0].all_text
    for text, words in (("unsubscribe serving", "unsubscribe"), ("post-now", "post a question early"),
                        ("reveal-now", "reveal answers early")):
        [answer] = ephemeral(await slack.command(MEMBER, text))
        assert f"Only admins can {words}" in answer.all_text


async def test_users_info_is_asked_only_for_admin_commands_and_cached(slack: SlackWorld):
    await slack.command(MEMBER, "help")
    await slack.command(MEMBER, "leaderboard")
    assert slack.standin.calls_to("users.info") == []
    await slack.command(MEMBER, "subscribe serving")
    await slack.command(MEMBER, "unsubscribe serving")
    assert len(slack.standin.calls_to("users.info")) == 1


async def test_unsubscribe_post_now_and_reveal_now(slack: SlackWorld):
    await slack.command(ADMIN, "subscribe serving at 09:00")
    calls = await slack.command(ADMIN, "post-now")
    [daily] = public(calls)
    assert "Daily question · Serving architecture" in daily.all_text and "thread_ts" not in daily.args
    assert "posted today's question" in ephemeral(calls)[0].all_text

    calls = await slack.command(ADMIN, "schedule")
    assert "active" in ephemeral(calls)[0].all_text

    calls = await slack.command(ADMIN, "reveal-now")
    [reveal] = public(calls)
    assert reveal.args["thread_ts"] == daily.ts
    assert "Reveal · Serving architecture" in reveal.all_text
    assert "Revealed 1 question" in ephemeral(calls)[0].all_text

    calls = await slack.command(ADMIN, "unsubscribe serving")
    assert "Unsubscribed from serving" in public(calls)[0].all_text


async def test_the_command_is_acknowledged_before_the_work_is_done(slack: SlackWorld, monkeypatch):
    """Slack needs its answer within 3 s: the HTTP response comes back while the core is still busy."""
    release = asyncio.Event()
    real = slack.core.handle

    async def slow(event):
        await release.wait()
        return await real(event)

    monkeypatch.setattr(slack.core, "handle", slow)
    status, body = await asyncio.wait_for(
        slack.standin.post_command(slack.url, "help", user=MEMBER, channel=CHANNEL), timeout=3)
    assert status == 200 and body == ""
    assert slack.standin.calls_to("response_url") == []
    release.set()
    await slack.settle()
    assert len(slack.standin.calls_to("response_url")) == 1


async def test_a_failing_handler_is_logged_with_context_and_answered_politely(slack: SlackWorld, monkeypatch,
                                                                             caplog):
    async def broken(event):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(slack.core, "handle", broken)
    calls = await slack.command(MEMBER, "stats")
    [answer] = ephemeral(calls)
    assert "Sorry, something went wrong" in answer.all_text
    record = next(r for r in caplog.records if "Slack /mlsd failed" in r.getMessage())
    assert MEMBER in record.getMessage() and CHANNEL in record.getMessage()
    assert record.exc_info is not None


async def test_a_public_answer_where_the_bot_is_not_a_member_still_shows_and_says_why(slack: SlackWorld):
    slack.standin.delete_channel(CHANNEL, "not_in_channel")
    calls = await slack.command(MEMBER, "leaderboard")
    shown = [c for c in calls if c.method == "response_url"]
    assert shown[0].args["response_type"] == "in_channel" and "Leaderboard" in shown[0].all_text
    assert shown[1].args["response_type"] == "ephemeral" and "/invite" in shown[1].all_text
