"""The ChatPort calls the core makes, one by one, against the stand-in."""

from __future__ import annotations

import pytest

from bot.domain import Button, ChannelRef, Message, MessageKind, Section, Text
from bot.ports import ChannelUnavailable, PlatformError, TransientPlatformError
from tests.discord.standin import custom_ids, embed_text

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _ref(world) -> ChannelRef:
    return ChannelRef("discord", str(world.standin.guild_id), str(world.channel))


def _notice(text: str, kind: MessageKind = MessageKind.NOTICE, **extra) -> Message:
    return Message(title="Note", sections=(Section(Text.of(text)),), kind=kind, **extra)


async def test_a_plain_message_opens_no_thread(world):
    posted = await world.adapter.port.send(_ref(world), _notice("hello"))
    assert posted.thread_id == posted.message_id
    assert world.standin.threads() == []


async def test_a_long_daily_post_keeps_its_button_on_the_post_and_continues_in_the_thread(world):
    message = Message(title="Daily question · Serving", sections=(Section(Text.of("word " * 3000)),),
                      buttons=(Button("Answer privately", "mlsd_answer_privately", "9", "primary"),),
                      kind=MessageKind.DAILY_POST, thread_name="serving: a long one")
    posted = await world.adapter.port.send(_ref(world), message)
    (post,) = world.standin.bot_messages_in(world.channel)
    assert post["id"] == posted.message_id == posted.thread_id
    assert custom_ids(post) == ["mlsd_answer_privately:9"]
    rest = world.standin.bot_messages_in(posted.thread_id)
    assert rest and all(custom_ids(m) == [] for m in rest)
    shown = "".join(embed_text(m) for m in [post, *rest])
    assert shown.count("word") == 3000


async def test_reply_and_immediate_archiving_when_configured(world):
    port = world.adapter.port
    posted = await port.send(_ref(world), _notice("question", MessageKind.DAILY_POST, thread_name="q"))
    port.archive_after_reveal = 0
    reply_id = await port.reply(_ref(world), posted.thread_id, _notice("the reveal", MessageKind.REVEAL))
    (reply,) = world.standin.bot_messages_in(posted.thread_id)
    assert reply["id"] == reply_id
    (archive,) = world.standin.calls_to("PATCH", rf"/channels/{posted.thread_id}")
    assert archive.json == {"archived": True}


async def test_upload_image_in_the_channel_and_in_a_thread(world):
    port = world.adapter.port
    await port.upload_image(_ref(world), None, PNG, "digest week 10.png", "Weekly digest")
    (message,) = world.standin.bot_messages_in(world.channel)
    assert message["attachments"][0]["filename"] == "digest_week_10.png"
    assert message["embeds"][0]["image"]["url"] == "attachment://digest_week_10.png"
    assert message["embeds"][0]["title"] == "Weekly digest"
    posted = await port.send(_ref(world), _notice("question", MessageKind.DAILY_POST, thread_name="q"))
    await port.upload_image(_ref(world), posted.thread_id, PNG, "c.png", "Chart")
    assert world.standin.bot_messages_in(posted.thread_id)[0]["attachments"]


async def test_send_private_is_a_direct_message(world):
    await world.adapter.port.send_private(_ref(world), str(world.alice.id), _notice("just for you"))
    (dm,) = world.standin.calls_to("POST", r"/users/@me/channels")
    assert dm.json == {"recipient_id": world.alice.id}
    (sent,) = [c for c in world.standin.calls_to("POST", r"/channels/\d+/messages")]
    assert "just for you" in sent.json["embeds"][0]["description"]


async def test_update_edits_the_message_where_it_lives(world):
    port = world.adapter.port
    posted = await port.send(_ref(world), _notice("question", MessageKind.DAILY_POST, thread_name="q"))
    in_thread = await port.reply(_ref(world), posted.thread_id, _notice("first"))
    await port.update(_ref(world), in_thread, _notice("second"))
    (edit,) = world.standin.calls_to("PATCH", rf"/channels/{posted.thread_id}/messages/{in_thread}")
    assert "second" in edit.json["embeds"][0]["description"]


async def test_errors_are_translated_for_the_core(world):
    port = world.adapter.port
    posted = await port.send(_ref(world), _notice("x"))
    with pytest.raises(PlatformError) as unknown:
        await port.react(_ref(world), "12345", "white_check_mark")  # a message that is gone
    assert not isinstance(unknown.value, ChannelUnavailable)
    world.standin.fail("PUT", rf"/channels/{world.channel}/messages/\d+/reactions/.+", 403, 50001, "Missing Access")
    with pytest.raises(ChannelUnavailable, match="missing_access"):
        await port.react(_ref(world), posted.message_id, "white_check_mark")
    world.standin.fail("POST", rf"/channels/{world.channel}/messages", 503, 0, "upstream")
    with pytest.raises(TransientPlatformError):
        await port.send(_ref(world), _notice("y"))


async def test_a_server_error_is_retried_by_the_core_later(world):
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    world.standin.fail("POST", rf"/channels/{world.channel}/messages", 503, 0, "upstream connect error")
    report = await world.tick(hours=1)
    assert report.posted == [] and report.failed
    assert world.subscriptions()[0].paused_reason is None  # not a channel problem: no pause
    report = await world.tick(minutes=30)
    assert len(report.posted) == 1
    assert len(world.standin.bot_messages_in(world.channel)) == 1
