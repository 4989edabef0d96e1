"""Discord payloads -> domain events (or None to skip them).

Pure translation: the client resolves where a message lives (`Where`: the parent
channel, and the thread if any) and hands it in. Event ids are stable across
a gateway RESUME replay, so the core's dedupe sees a replay as the same event:
message id for posts and deletes, message id + edit timestamp for edits, and
for reactions user + emoji + the gateway session and sequence number.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import discord

from bot.domain import (
    ButtonPressed,
    ChannelRef,
    Platform,
    PrivateAnswer,
    ReactionAdded,
    ReactionRemoved,
    ReplyDeleted,
    ReplyEdited,
    SlashCommand,
    ThreadReply,
)
from bot.render import ANSWER_PRIVATELY_ACTION, QUIZ_ACTION

PLATFORM = Platform.DISCORD.value
BUTTON_ACTIONS = (QUIZ_ACTION, ANSWER_PRIVATELY_ACTION)
ANSWER_INPUT_ID = "answer"

# Neutral reaction names the core uses <-> the emoji Discord shows.
EMOJI = {"white_check_mark": "✅", "hourglass": "⏳", "+1": "👍", "thumbsup": "👍", "heart": "❤️",
         "fire": "🔥", "tada": "🎉", "eyes": "👀", "100": "💯", "clap": "👏"}
EMOJI_NAMES = {v: k for k, v in reversed(EMOJI.items())}

USER_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


@dataclass(frozen=True)
class Where:
    """Where a Discord channel id sits: its guild, parent text channel, and thread (if any)."""

    guild_id: int
    channel_id: int  # the parent channel (the unit a leaderboard belongs to)
    thread_id: int | None = None

    @property
    def ref(self) -> ChannelRef:
        return channel_ref(self.guild_id, self.channel_id)


def channel_ref(guild_id: int, channel_id: int) -> ChannelRef:
    return ChannelRef(PLATFORM, str(guild_id), str(channel_id))


def emoji_for(name: str) -> str:
    return EMOJI.get(name, name)


def reaction_name(emoji: discord.PartialEmoji) -> str:
    if emoji.is_custom_emoji():
        return emoji.name or str(emoji.id)
    name = emoji.name or ""
    return EMOJI_NAMES.get(name, EMOJI_NAMES.get(name.replace("\ufe0f", ""), name))


# ------------------------------------------------------------------- messages


def _thread_of(where: Where, reference: discord.MessageReference | None) -> str | None:
    """The daily thread a message belongs to: the Discord thread, or (when threads were
    not allowed) the post it replies to in the channel."""
    if where.thread_id is not None:
        return str(where.thread_id)
    if reference is not None and reference.message_id and reference.channel_id in (None, where.channel_id):
        return str(reference.message_id)
    return None


def thread_reply(message: discord.Message, where: Where) -> ThreadReply | None:
    if message.guild is None or message.type not in USER_MESSAGE_TYPES:
        return None
    thread = _thread_of(where, message.reference)
    if thread is None:
        return None
    return ThreadReply(
        channel=where.ref, thread_id=thread, message_id=str(message.id), user_id=str(message.author.id),
        text=message.content, event_id=f"message:{message.id}",
        user_name=message.author.display_name, from_bot=message.author.bot,
    )


def reply_edited(payload: discord.RawMessageUpdateEvent, where: Where) -> ReplyEdited | None:
    data: Mapping[str, Any] = payload.data
    author = data.get("author") or {}
    edited = data.get("edited_timestamp")
    # Embed unfurls also arrive as MESSAGE_UPDATE: only a real edit has a timestamp.
    if "content" not in data or not edited or not author or author.get("bot"):
        return None
    ref = data.get("message_reference") or {}
    reference = None
    if ref.get("message_id"):
        reference = discord.MessageReference(message_id=int(ref["message_id"]),
                                             channel_id=int(ref.get("channel_id") or where.channel_id))
    return ReplyEdited(
        channel=where.ref, message_id=str(payload.message_id), user_id=str(author["id"]),
        text=data["content"], event_id=f"edit:{payload.message_id}:{edited}",
        thread_id=_thread_of(where, reference),
    )


def reply_deleted(payload: discord.RawMessageDeleteEvent, where: Where) -> ReplyDeleted:
    return ReplyDeleted(
        channel=where.ref, message_id=str(payload.message_id), event_id=f"delete:{payload.message_id}",
        thread_id=str(where.thread_id) if where.thread_id else None,
    )


def reaction(
    payload: discord.RawReactionActionEvent, where: Where, bot_user_id: int | None, delivery: str
) -> ReactionAdded | ReactionRemoved:
    """`delivery` is the gateway session + sequence number: the same on a RESUME replay,
    different when a member takes a reaction back and gives it again."""
    name = reaction_name(payload.emoji)
    added = payload.event_type == "REACTION_ADD"
    from_bot = payload.user_id == bot_user_id or bool(payload.member and payload.member.bot)
    kind = "reaction_add" if added else "reaction_remove"
    event_id = f"{kind}:{payload.message_id}:{payload.user_id}:{name}:{delivery}"
    cls = ReactionAdded if added else ReactionRemoved
    return cls(channel=where.ref, message_id=str(payload.message_id), user_id=str(payload.user_id),
               reaction=name, event_id=event_id, from_bot=from_bot)


# --------------------------------------------------------------- interactions


def command_text(name: str, *positional: str | None, **options: str | bool | None) -> str:
    """Options of a Discord subcommand -> the `/mlsd` text the core parses, e.g.
    `subscribe serving at 09:00 tz Europe/Berlin blind`. Values are quoted, so what a
    member typed reaches the core's parser (and its error messages) unchanged."""
    words = [name.replace("_", "-")]
    words += [shlex.quote(p) for p in positional if p]
    for key, value in options.items():
        if value is True:
            words.append(key)
        elif isinstance(value, str) and value.strip():
            words += [key, shlex.quote(value.strip())]
    return " ".join(words)


def is_platform_admin(interaction: discord.Interaction) -> bool:
    """Manage Server (or Administrator) in this guild, as Discord resolved it for the interaction."""
    perms = interaction.permissions
    return bool(perms.manage_guild or perms.administrator)


def slash_command(interaction: discord.Interaction, text: str, where: Where) -> SlashCommand:
    return SlashCommand(
        channel=where.ref, user_id=str(interaction.user.id), text=text, event_id=f"interaction:{interaction.id}",
        user_name=interaction.user.display_name, is_platform_admin=is_platform_admin(interaction),
    )


def split_custom_id(custom_id: str) -> tuple[str, str] | None:
    action, sep, value = custom_id.partition(":")
    if not sep or action not in BUTTON_ACTIONS:
        return None
    return action, value


def button_pressed(interaction: discord.Interaction, where: Where) -> ButtonPressed | None:
    data = interaction.data or {}
    parsed = split_custom_id(str(data.get("custom_id", "")))
    if parsed is None:
        return None
    action, value = parsed
    return ButtonPressed(
        channel=where.ref, user_id=str(interaction.user.id), action_id=action, value=value,
        event_id=f"interaction:{interaction.id}",
        message_id=str(interaction.message.id) if interaction.message else None,
        user_name=interaction.user.display_name, is_platform_admin=is_platform_admin(interaction),
    )


def _inputs(components: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for c in components:
        if c.get("type") == 1:  # action row
            yield from _inputs(c.get("components", []))
        elif c.get("type") == 18 and c.get("component"):  # label
            yield from _inputs([c["component"]])
        else:
            yield c


def private_answer(interaction: discord.Interaction, where: Where) -> PrivateAnswer | None:
    data = interaction.data or {}
    parsed = split_custom_id(str(data.get("custom_id", "")))
    if parsed is None or parsed[0] != ANSWER_PRIVATELY_ACTION or not parsed[1].isdigit():
        return None
    text = next((str(c.get("value") or "") for c in _inputs(data.get("components", []))  # type: ignore[arg-type]
                 if c.get("custom_id") == ANSWER_INPUT_ID), None)
    if text is None:
        return None
    return PrivateAnswer(
        channel=where.ref, post_id=int(parsed[1]), user_id=str(interaction.user.id), text=text,
        event_id=f"interaction:{interaction.id}", user_name=interaction.user.display_name,
    )
