"""Messages -> Block Kit within Slack's limits, and Slack payloads -> domain events."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from adapters.slack import inbound
from adapters.slack.blocks import MAX_BLOCKS, MAX_SECTION_CHARS, BlockKit, escape, split_text
from adapters.slack.outbound import SlackPort, api_base_url, make_client
from bot import render
from bot.domain import (
    Bold,
    Button,
    ChannelMention,
    ChannelRef,
    Code,
    Difficulty,
    Field,
    Image,
    KeyPoint,
    Mention,
    Message,
    MessageLink,
    Question,
    ReactionAdded,
    ReactionRemoved,
    ReplyDeleted,
    ReplyEdited,
    Section,
    Text,
    ThreadReply,
    Timestamp,
    Topic,
    UserText,
)
from bot.grading.verdict import Grading
from bot.ports import ChannelUnavailable, PlatformError, TransientPlatformError
from tests.slack.standin import BOT_TOKEN, BOT_USER_ID, SlackStandIn

CHANNEL = ChannelRef("slack", "T0STANDIN", "C0PRACTICE")


def long_answer(chars: int = 7000) -> str:
    """Paragraphs of ordinary prose with a few characters Slack must have escaped."""
    sentence = ("The ranker budget & the <p99> tail: cache candidates, fall back to popular items, "
                "shard by region and watch the dashboards.")
    words = sentence.split(" ")
    paragraphs, words_out, n = [], [], 0
    while sum(len(p) + 2 for p in paragraphs) < chars:
        words_out.append(words[n % len(words)])
        n += 1
        if len(words_out) == 60:
            paragraphs.append(" ".join(words_out))
            words_out = []
    return "\n\n".join(paragraphs)[:chars].rsplit(" ", 1)[0]


def question(sample: str) -> Question:
    return Question(
        id="t-long", topic=Topic.SERVING, difficulty=Difficulty.HARD, companies=("Acme",),
        prompt="Design a very long answer.", sample_answer=sample,
        key_points=(KeyPoint("Caches", ("cache",)), KeyPoint("Falls back", ("fall back",))),
    )


def texts_of(blocks: list[dict]) -> list[str]:
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        out.extend(f["text"] for f in b.get("fields") or [])
    return out


# ------------------------------------------------------------------- spans


def test_user_text_is_escaped_and_can_never_ping():
    kit = BlockKit()
    out = kit.mrkdwn(Text.of(UserText("<!channel> <!here> @everyone @Here & <@U123> <https://x.io|go>")))
    assert "<" not in out and ">" not in out
    assert "&lt;!channel&gt;" in out and "&amp;" in out
    assert "@everyone" not in out and "@\u200beveryone" in out and "@\u200bHere" in out


def test_spans_render_as_slack_mrkdwn():
    kit = BlockKit(permalink_base="https://acme.slack.com/")
    at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    out = kit.mrkdwn(Text.of(
        "a < b & c ", Bold("big win"), " ", Mention("U1"), " ", ChannelMention("C9"), " ",
        Timestamp(at, "datetime"), " ", Timestamp(at), " ", Code("x<y"), " ",
        MessageLink("C9", "1772400002.000002", "the thread"),
    )).replace("\x00", " ")
    assert out.startswith("a &lt; b &amp; c *big win* <@U1> <#C9> ")
    unix = int(at.timestamp())
    assert f"<!date^{unix}^{{date_long}} at {{time}}|2026-03-03 09:00 UTC>" in out
    assert f"<!date^{unix}^{{date_short_pretty}} at {{time}}|2026-03-03 09:00 UTC>" in out
    assert "`x&lt;y`" in out
    assert "<https://acme.slack.com/archives/C9/p1772400002000002|the thread>" in out


def test_a_message_link_without_a_workspace_url_is_its_label():
    assert BlockKit().mrkdwn(Text.of(MessageLink("C9", "1.2", "here"))) == "here"


def test_bold_hugs_the_words_on_each_line():
    assert BlockKit().mrkdwn(Text.of(Bold(" Right: B \nwhy"))).replace("\x00", " ") == " *Right: B* \n*why*"


# ---------------------------------------------------------------- splitting


def test_split_text_prefers_paragraphs_then_lines_then_words_and_loses_nothing():
    text = "alpha beta\n\n" + ("word " * 900) + "\nlast line"
    chunks = split_text(text, 3000)
    assert all(0 < len(c) <= 3000 for c in chunks)
    assert chunks[0] == "alpha beta" or chunks[0].startswith("alpha beta")
    assert " ".join(chunks).split() == text.split()


def test_split_text_never_breaks_inside_a_protected_token():
    kit = BlockKit()
    at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    text = kit.mrkdwn(Text.of(*(["x " * 40, Timestamp(at, "datetime"), " "] * 60)))
    for chunk in split_text(text, 500):
        assert chunk.count("<!date^") == chunk.count("UTC>")


def test_a_giant_word_is_broken_rather_than_dropped():
    word = "a" * 7000
    chunks = split_text(word, 3000)
    assert [len(c) for c in chunks] == [3000, 3000, 1000] and "".join(chunks) == word


def test_a_7000_character_sample_answer_fits_slacks_limits_and_keeps_every_word():
    sample = long_answer(7000)
    assert len(sample) >= 6900
    message = render.reveal(question(sample), [])
    parts = BlockKit().messages(message)
    blocks = [b for p in parts for b in p.blocks]
    assert all(len(p.blocks) <= MAX_BLOCKS for p in parts)
    sections = [t for t in texts_of(blocks)]
    assert all(len(t) <= MAX_SECTION_CHARS for t in sections)
    answer_sections = [t for t in sections if "ranker budget" in t]
    assert len(answer_sections) >= 3  # split, not cut
    joined = " ".join(answer_sections).removeprefix("*Sample answer*")
    assert joined.split() == escape(sample).split()


def test_more_than_fifty_blocks_become_follow_on_messages():
    message = Message(title="Reveal", sections=tuple(Section(Text.of(f"member {i}")) for i in range(120)),
                      buttons=(Button("Go", "act", "1"),), footer=Text.of("end"))
    parts = BlockKit().messages(message)
    assert [len(p.blocks) for p in parts] == [50, 50, 23]
    flat = [b for p in parts for b in p.blocks]
    assert [t for t in texts_of(flat) if t.startswith("member")] == [f"member {i}" for i in range(120)]
    assert flat[-2]["type"] == "actions" and flat[-1]["type"] == "context"
    assert parts[1].text == "Reveal (continued)"


def test_fields_long_titles_and_many_buttons_stay_within_limits():
    message = Message(
        title="T" * 200,
        sections=(Section(Text.of("body"), fields=(*(Field(f"f{i}", Text.of("v")) for i in range(12)),
                                                   Field("huge", Text.of("z " * 1500)))),),
        buttons=tuple(Button("L" * 100, "same", str(i)) for i in range(30)),
    )
    blocks = [b for p in BlockKit().messages(message) for b in p.blocks]
    assert blocks[0]["type"] == "section"  # a title over 150 characters is not a header
    assert all(len(b.get("fields") or []) <= 10 for b in blocks)
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    ids = [e["action_id"] for a in actions for e in a["elements"]]
    assert len(set(ids)) == 30 and all(len(e["text"]["text"]) <= 75 for a in actions for e in a["elements"])
    assert any("z z z" in t for t in texts_of(blocks))


def test_the_fallback_text_is_escaped_short_and_names_people():
    message = Message(title="Leaderboard", sections=(Section(Text.of(Mention("U1"), " ", UserText("<!channel>")
                                                                     ), ),
                                                      Section(Text.of("word " * 2000))))
    text = BlockKit().messages(message)[0].text
    assert text.startswith("Leaderboard\n<@U1> &lt;!channel&gt;")
    assert len(text) <= 3000 and text.endswith("…")


async def test_a_long_reveal_reaches_slack_in_order_within_its_limits():
    """The same through the real Web API client: the stand-in refuses what Slack would refuse."""
    async with SlackStandIn() as slack:
        port = SlackPort(make_client(BOT_TOKEN, slack.api_url))
        flags = Grading.from_flags((True, False))
        results = [render.MemberResult(f"U{i:03d}", flags, False, 0, 12, "x") for i in range(60)]
        message = render.reveal(question(long_answer(7000)), results)
        first = await port.reply(CHANNEL, "1772400001.000001", message)
        posts = slack.calls_to("chat.postMessage", ok=None)
        assert all(c.ok for c in posts), [c.response for c in posts]
        assert len(posts) >= 2 and first == posts[0].ts
        assert all(c.args["thread_ts"] == "1772400001.000001" for c in posts)
        text = "\n".join(t for c in posts for t in c.texts())
        assert [int(n) for n in re.findall(r"<@U(\d{3})>", text)] == list(range(60))


# ------------------------------------------------------------------ inbound


def body(event: dict, event_id: str = "Ev1") -> dict:
    return {"team_id": "T1", "type": "event_callback", "event_id": event_id, "event": event}


def test_a_thread_reply_becomes_a_thread_reply():
    ev = inbound.message_event(body({"type": "message", "channel": "C1", "user": "U1", "text": "a &amp; b &lt;3",
                                     "ts": "2.0", "thread_ts": "1.0"}), BOT_USER_ID)
    assert ev == ThreadReply(ChannelRef("slack", "T1", "C1"), "1.0", "2.0", "U1", "a & b <3", "Ev1")


@pytest.mark.parametrize("event", [
    {"type": "message", "channel": "C1", "user": "U1", "text": "top level", "ts": "1.0"},
    {"type": "message", "channel": "C1", "user": "U1", "text": "parent", "ts": "1.0", "thread_ts": "1.0"},
    {"type": "message", "channel": "C1", "bot_id": "B1", "text": "a bot", "ts": "2.0", "thread_ts": "1.0"},
    {"type": "message", "channel": "C1", "user": BOT_USER_ID, "text": "me", "ts": "2.0", "thread_ts": "1.0"},
    {"type": "message", "subtype": "channel_join", "channel": "C1", "user": "U1", "ts": "2.0"},
    {"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "3.0",
     "message": {"user": "U1", "text": "same", "ts": "2.0", "thread_ts": "1.0"},
     "previous_message": {"user": "U1", "text": "same", "ts": "2.0", "thread_ts": "1.0"}},
])
def test_what_the_core_does_not_need_maps_to_none(event):
    assert inbound.message_event(body(event), BOT_USER_ID) is None


def test_edits_and_deletes_of_thread_replies():
    edit = inbound.message_event(body({
        "type": "message", "subtype": "message_changed", "channel": "C1", "ts": "3.0",
        "message": {"user": "U1", "text": "new", "ts": "2.0", "thread_ts": "1.0"},
        "previous_message": {"user": "U1", "text": "old", "ts": "2.0", "thread_ts": "1.0"}}), BOT_USER_ID)
    assert edit == ReplyEdited(ChannelRef("slack", "T1", "C1"), "2.0", "U1", "new", "Ev1", "1.0")
    gone = inbound.message_event(body({
        "type": "message", "subtype": "message_deleted", "channel": "C1", "ts": "4.0", "deleted_ts": "2.0",
        "previous_message": {"user": "U1", "text": "old", "ts": "2.0", "thread_ts": "1.0"}}), BOT_USER_ID)
    assert gone == ReplyDeleted(ChannelRef("slack", "T1", "C1"), "2.0", "Ev1", "1.0")


def test_reactions_map_with_skin_tones_folded_and_the_bot_flagged():
    event = {"type": "reaction_added", "user": "U2", "reaction": "+1::skin-tone-4",
             "item": {"type": "message", "channel": "C1", "ts": "2.0"}}
    assert inbound.reaction_event(body(event), BOT_USER_ID) == ReactionAdded(
        ChannelRef("slack", "T1", "C1"), "2.0", "U2", "+1", "Ev1")
    mine = inbound.reaction_event(body({**event, "type": "reaction_removed", "user": BOT_USER_ID}), BOT_USER_ID)
    assert isinstance(mine, ReactionRemoved) and mine.from_bot
    assert inbound.reaction_event(body({**event, "item": {"type": "file", "file": "F1"}}), BOT_USER_ID) is None


def test_buttons_lose_their_uniqueness_suffix():
    payload = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1", "username": "u"},
               "channel": {"id": "C1"}, "container": {"message_ts": "5.0"}, "trigger_id": "tr1",
               "actions": [{"action_id": "mlsd_quiz:2", "value": "7:q:2", "action_ts": "6.0"}]}
    ev = inbound.button_pressed(payload)
    assert ev is not None and (ev.action_id, ev.value, ev.message_id) == ("mlsd_quiz", "7:q:2", "5.0")


def test_the_api_base_url_gets_its_trailing_slash():
    assert api_base_url("http://127.0.0.1:9/api") == "http://127.0.0.1:9/api/"
    assert api_base_url(None) == "https://slack.com/api/"


# ---------------------------------------------------------- the port's errors


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"])
async def test_a_lost_channel_is_channel_unavailable_with_slacks_reason(code):
    async with SlackStandIn() as slack:
        port = SlackPort(make_client(BOT_TOKEN, slack.api_url))
        slack.fail("chat.postMessage", code)
        with pytest.raises(ChannelUnavailable) as caught:
            await port.send(CHANNEL, Message(title="Hi"))
        assert caught.value.reason == code


async def test_other_errors_are_platform_errors_and_persistent_rate_limits_are_transient():
    async with SlackStandIn() as slack:
        port = SlackPort(make_client(BOT_TOKEN, slack.api_url))
        slack.fail("chat.postMessage", "msg_too_long")
        with pytest.raises(PlatformError) as caught:
            await port.send(CHANNEL, Message(title="Hi"))
        assert not isinstance(caught.value, ChannelUnavailable | TransientPlatformError)
        slack.rate_limit("reactions.add", retry_after=0, times=3)
        with pytest.raises(TransientPlatformError) as slow:
            await port.react(CHANNEL, "1.2", "white_check_mark")
        assert slow.value.retry_after == 0
        assert len(slack.calls_to("reactions.add", ok=False)) == 3  # first try + two retries
        await port.react(CHANNEL, "1.2", "hourglass")
        await port.react(CHANNEL, "1.2", "hourglass")  # already_reacted is not an error
        assert [c.args["name"] for c in slack.calls_to("reactions.add", ok=None)][-2:] == [
            "hourglass_flowing_sand", "hourglass_flowing_sand"]


async def test_a_digest_with_its_chart_goes_to_the_channel():
    async with SlackStandIn() as slack:
        port = SlackPort(make_client(BOT_TOKEN, slack.api_url))
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
        posted = await port.send(CHANNEL, Message(title="Weekly digest", image=Image(png, "digest.png", "chart")))
        assert posted.message_id == posted.thread_id == slack.calls_to("chat.postMessage")[0].ts
        await port.upload_image(CHANNEL, posted.thread_id, png, "again.png", "Again")
        completes = slack.calls_to("files.completeUploadExternal")
        assert [(c.args["channel_id"], c.args.get("thread_ts")) for c in completes] == [
            ("C0PRACTICE", None), ("C0PRACTICE", posted.thread_id)]
        assert list(slack.uploads.values()) == [png, png]
