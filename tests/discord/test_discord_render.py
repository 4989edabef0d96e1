"""Message -> embeds: Discord's limits, splitting without loss, escaping, native mentions/timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import discord
import pytest

from adapters.discord import inbound
from adapters.discord.render import (
    ALLOWED_MENTIONS,
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    EMBEDS_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    build_view,
    custom_id,
    markdown,
    render,
    split_point,
    thread_name,
)
from bot.domain import (
    Bold,
    Button,
    ChannelMention,
    ChannelRef,
    Code,
    Field,
    Image,
    Mention,
    Message,
    MessageKind,
    MessageLink,
    Section,
    Text,
    Timestamp,
    UserText,
)

REF = ChannelRef("discord", "111111111111111111", "222222222222222222")
USER = "333333333333333333"


def _limits_hold(parts) -> None:
    for part in parts:
        assert 1 <= len(part.embeds) <= EMBEDS_MAX
        assert sum(len(e) for e in part.embeds) <= EMBED_TOTAL_MAX
        for e in part.embeds:
            assert len(e.title or "") <= 256 and len(e.description or "") <= DESCRIPTION_MAX
            assert len(e.fields) <= FIELDS_MAX
            assert all(0 < len(f.value or "") <= FIELD_VALUE_MAX and len(f.name or "") <= 256 for f in e.fields)


def _shown(parts) -> str:
    return "".join((e.description or "") + "".join(f.value or "" for f in e.fields)
                   for p in parts for e in p.embeds)


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("size", [10, 4000, 4096, 4097, 5999, 7000, 13000, 61000])
@pytest.mark.parametrize("spaced", [True, False])
async def test_long_text_is_split_within_every_limit_and_nothing_is_lost(size, spaced):
    unit = "lorem ipsum dolor sit amet\n" if spaced else "x" * 27
    body = (unit * (size // len(unit) + 1))[:size]
    message = Message(title="Reveal · Serving", sections=(
        Section(Text.of(body), heading="Sample answer"), Section(Text.of("tail end"))),
        footer=Text.of("Question q1"), kind=MessageKind.REVEAL)
    parts = render(message, REF)
    _limits_hold(parts)
    assert _squash(_shown(parts)) == _squash("**Sample answer**" + body + "tail end")
    assert parts[0].embeds[0].title == "Reveal · Serving"
    assert parts[-1].embeds[-1].footer.text == "Question q1"
    if size > 12000:
        assert len(parts) >= 2  # past 6,000 characters of embed text: more messages


async def test_many_and_long_fields_are_spread_not_cut():
    fields = (*(Field(f"f{i}", Text.of(f"value {i}")) for i in range(40)), Field("long", Text.of("word " * 700)))
    parts = render(Message(title="Stats", sections=(Section(Text.of("intro"), fields=fields),)), REF)
    _limits_hold(parts)
    shown = _shown(parts)
    assert all(f"value {i}" in shown for i in range(40))
    assert _squash("word " * 700) in _squash(shown)


async def test_a_long_title_moves_into_the_text():
    parts = render(Message(title="T" * 300, sections=(Section(Text.of("x")),)), REF)
    assert parts[0].embeds[0].title is None
    assert "T" * 300 in parts[0].embeds[0].description


async def test_user_text_cannot_ping_or_inject_markdown():
    text = Text.of("Answer: ", UserText(f"@everyone @here <@{USER}> <@&{USER}> **bold** `x`\n# head"))
    out = markdown(text, REF)
    assert "@everyone" not in out and "@here" not in out
    assert f"<@{USER}>" not in out and f"<@&{USER}>" not in out
    assert "\\*\\*bold\\*\\*" in out and "\\`x\\`" in out and "\\# head" in out
    assert ALLOWED_MENTIONS.everyone is False and ALLOWED_MENTIONS.roles is False
    assert ALLOWED_MENTIONS.to_dict()["parse"] == ["users"]


async def test_native_mentions_timestamps_channels_links_and_code():
    at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    unix = int(at.timestamp())
    text = Text.of(Mention(USER), " ", Timestamp(at), " ", Timestamp(at, "datetime"), " ",
                   ChannelMention("444"), " ", MessageLink("555", "666", "the post"), " ",
                   MessageLink("555", "", "not posted"), " ", Code("a`b"), " ", Bold("done"))
    out = markdown(text, REF)
    assert f"<@{USER}>" in out
    assert f"<t:{unix}:R>" in out and f"<t:{unix}:f>" in out
    naive = markdown(Text.of(Timestamp(at.replace(tzinfo=None))), REF)  # as read back from SQLite
    assert naive == f"<t:{unix}:R>"
    assert "<#444>" in out
    assert f"[the post](https://discord.com/channels/{REF.workspace}/555/666)" in out
    assert "not posted" in out and "(https://discord.com/channels/" + REF.workspace + "/555/)" not in out
    assert "`` a`b ``" in out and "**done**" in out


async def test_buttons_carry_stable_ids_and_are_not_kept_in_memory():
    buttons = (Button("A", "mlsd_quiz", "7:item-1:0"), Button("Answer privately", "mlsd_answer_privately", "3",
                                                              "primary"))
    view = build_view(buttons)
    assert view is not None and view.is_finished()  # never stored in discord.py's view store
    ids = [c.custom_id for c in view.children]  # type: ignore[attr-defined]
    assert ids == ["mlsd_quiz:7:item-1:0", "mlsd_answer_privately:3"]
    assert view.children[1].style == discord.ButtonStyle.primary  # type: ignore[attr-defined]
    assert inbound.split_custom_id(ids[0]) == ("mlsd_quiz", "7:item-1:0")
    assert inbound.split_custom_id("other:1") is None
    with pytest.raises(ValueError, match="100"):
        custom_id("mlsd_quiz", "x" * 100)


async def test_buttons_and_image_ride_on_the_last_part():
    message = Message(title="Digest", sections=(Section(Text.of("word " * 3000)),),
                      buttons=(Button("A", "mlsd_quiz", "1:i:0"),),
                      image=Image(b"\x89PNG....", "weekly digest.png", "chart"), kind=MessageKind.DIGEST)
    parts = render(message, REF)
    assert len(parts) >= 2
    assert all(not p.buttons and p.image is None for p in parts[:-1])
    last = parts[-1]
    (file,) = last.files()
    assert file.filename == "weekly_digest.png"
    assert last.embeds[-1].image.url == "attachment://weekly_digest.png"
    assert last.send_kwargs()["allowed_mentions"] is ALLOWED_MENTIONS


def test_split_point_prefers_boundaries_and_never_breaks_escapes_or_tokens():
    assert split_point("aaaaaaaa\n\nbb cc dd", 12) == ("aaaaaaaa", "bb cc dd")
    assert split_point("aa\n\nbbbbbb cccc", 12) == ("aa\n\nbbbbbb", "cccc")  # not a tiny head
    head, tail = split_point("x" * 9 + "\\*" + "y" * 10, 10)
    assert not head.endswith("\\") and head + tail == "x" * 9 + "\\*" + "y" * 10
    head, tail = split_point("x" * 8 + "<t:1772442000:R>" + "y" * 10, 12)
    assert head == "x" * 8 and tail.startswith("<t:")


def test_thread_names_fit_discords_100_characters():
    assert len(thread_name(Message(title="t", thread_name="q" * 150))) == 100
    assert thread_name(Message(title="Daily", thread_name=None)) == "Daily"


def test_command_text_quotes_what_members_typed():
    assert inbound.command_text("subscribe", "serving", at="09:00", tz=None, days="mon,wed", window=None,
                                blind=True) == "subscribe serving at 09:00 days mon,wed blind"
    assert inbound.command_text("post_now", None) == "post-now"
    assert inbound.command_text("subscribe", "all", at="9 am") == "subscribe all at '9 am'"


def test_reaction_names_are_neutral():
    assert inbound.reaction_name(discord.PartialEmoji(name="👍")) == "+1"
    assert inbound.reaction_name(discord.PartialEmoji(name="✅")) == "white_check_mark"
    assert inbound.reaction_name(discord.PartialEmoji(name="party", id=42)) == "party"
    assert inbound.emoji_for("hourglass") == "⏳" and inbound.emoji_for("white_check_mark") == "✅"
