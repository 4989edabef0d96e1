"""Slack payloads -> the core's inbound events, or None for anything the core doesn't need.

Pure functions of the payload (plus the bot's own user id), so each mapping is
testable without Bolt or a network.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from adapters.slack.blocks import unescape
from adapters.slack.outbound import ANSWER_BLOCK, ANSWER_INPUT
from bot.domain import (
    ButtonPressed,
    ChannelRef,
    PrivateAnswer,
    ReactionAdded,
    ReactionRemoved,
    ReplyDeleted,
    ReplyEdited,
    SlashCommand,
    ThreadReply,
)

PLATFORM = "slack"
# Message subtypes that are still a person writing in a thread.
REPLY_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}

Payload = Mapping[str, Any]


def team_id(body: Payload) -> str:
    team = body.get("team")
    return str(
        body.get("team_id")
        or (team.get("id") if isinstance(team, Mapping) else None)
        or (body.get("user") or {}).get("team_id")
        or ""
    )


def _ref(body: Payload, channel: str) -> ChannelRef:
    return ChannelRef(PLATFORM, team_id(body), channel)


def _event_id(body: Payload, event: Payload) -> str:
    return str(body.get("event_id") or f"{event.get('channel', '')}:{event.get('event_ts') or event.get('ts')}")


def is_from_bot(message: Payload, bot_user_id: str | None) -> bool:
    return bool(
        message.get("bot_id")
        or message.get("subtype") == "bot_message"
        or (bot_user_id and message.get("user") == bot_user_id)
    )


def retry_num(headers: Mapping[str, Any]) -> int:
    """X-Slack-Retry-Num as an int (0 for a first delivery). Bolt gives header values as lists."""
    value = headers.get("x-slack-retry-num")
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def message_event(body: Payload, bot_user_id: str | None) -> ThreadReply | ReplyEdited | ReplyDeleted | None:
    event = body.get("event") or {}
    if event.get("type") != "message" or not event.get("channel"):
        return None
    ref = _ref(body, str(event["channel"]))
    event_id = _event_id(body, event)
    subtype = event.get("subtype")

    if subtype == "message_changed":
        msg = event.get("message") or {}
        before = event.get("previous_message") or {}
        thread, ts = msg.get("thread_ts"), msg.get("ts")
        if is_from_bot(msg, bot_user_id) or not msg.get("user") or not ts:
            return None
        if not thread or thread == ts:
            return None  # a top-level message is never an answer
        if before and before.get("text") == msg.get("text"):
            return None  # an unfurl or a metadata change, not an edit
        return ReplyEdited(ref, message_id=str(ts), user_id=str(msg["user"]),
                           text=unescape(msg.get("text") or ""), event_id=event_id, thread_id=str(thread))

    if subtype == "message_deleted":
        before = event.get("previous_message") or {}
        ts = event.get("deleted_ts") or before.get("ts")
        if not ts or (before and is_from_bot(before, bot_user_id)):
            return None
        thread = before.get("thread_ts")
        if before and (not thread or thread == ts):
            return None
        return ReplyDeleted(ref, message_id=str(ts), event_id=event_id,
                            thread_id=str(thread) if thread else None)

    if subtype not in REPLY_SUBTYPES or is_from_bot(event, bot_user_id):
        return None
    ts, thread, user = event.get("ts"), event.get("thread_ts"), event.get("user")
    if not ts or not thread or thread == ts or not user:
        return None
    return ThreadReply(ref, thread_id=str(thread), message_id=str(ts), user_id=str(user),
                       text=unescape(event.get("text") or ""), event_id=event_id)


def reaction_event(body: Payload, bot_user_id: str | None) -> ReactionAdded | ReactionRemoved | None:
    event = body.get("event") or {}
    kind = event.get("type")
    item = event.get("item") or {}
    if kind not in ("reaction_added", "reaction_removed") or item.get("type") != "message":
        return None
    user, reaction = event.get("user"), str(event.get("reaction") or "")
    if not user or not reaction or not item.get("channel") or not item.get("ts"):
        return None
    cls = ReactionAdded if kind == "reaction_added" else ReactionRemoved
    return cls(
        _ref(body, str(item["channel"])), message_id=str(item["ts"]), user_id=str(user),
        reaction=reaction.split("::", 1)[0],  # "+1::skin-tone-3" is the same vote as "+1"
        event_id=_event_id(body, event), from_bot=bool(bot_user_id and user == bot_user_id),
    )


def slash_command(body: Payload, is_platform_admin: bool) -> SlashCommand:
    return SlashCommand(
        _ref(body, str(body.get("channel_id") or "")),
        user_id=str(body.get("user_id") or ""),
        text=unescape(str(body.get("text") or "")),
        event_id=f"command:{body.get('trigger_id') or uuid.uuid4().hex}",
        user_name=str(body.get("user_name") or ""),
        is_platform_admin=is_platform_admin,
    )


def base_action_id(action_id: str) -> str:
    """Buttons sharing an action id are sent as `id:N` (Slack wants them unique)."""
    return action_id.split(":", 1)[0]


def action_channel(body: Payload) -> str:
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    return str(channel.get("id") or container.get("channel_id") or "")


def button_pressed(body: Payload) -> ButtonPressed | None:
    actions = body.get("actions") or []
    if body.get("type") != "block_actions" or not actions:
        return None
    action = actions[0]
    user = body.get("user") or {}
    container = body.get("container") or {}
    return ButtonPressed(
        _ref(body, action_channel(body)),
        user_id=str(user.get("id") or ""),
        action_id=base_action_id(str(action.get("action_id") or "")),
        value=str(action.get("value") or ""),
        event_id=f"action:{body.get('trigger_id') or action.get('action_ts') or uuid.uuid4().hex}",
        message_id=container.get("message_ts") or (body.get("message") or {}).get("ts"),
        user_name=str(user.get("username") or user.get("name") or ""),
    )


def prompt_of(body: Payload) -> str | None:
    """The first section of the message a button sits on (the question, on a daily post)."""
    for block in (body.get("message") or {}).get("blocks") or []:
        text = (block.get("text") or {}).get("text") if block.get("type") == "section" else None
        if text:
            return str(text)
    return None


def private_answer(body: Payload) -> PrivateAnswer | None:
    view = body.get("view") or {}
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        post_id = int(meta["post_id"])
    except (ValueError, KeyError, TypeError):
        return None
    values = (view.get("state") or {}).get("values") or {}
    text = ((values.get(ANSWER_BLOCK) or {}).get(ANSWER_INPUT) or {}).get("value") or ""
    user = body.get("user") or {}
    channel = ChannelRef(PLATFORM, str(meta.get("team") or team_id(body)), str(meta.get("channel") or ""))
    # Each submission is its own event: submitting again replaces the answer.
    submission = body.get("trigger_id") or f"{view.get('id')}:{view.get('hash')}:{uuid.uuid4().hex}"
    return PrivateAnswer(channel, post_id=post_id, user_id=str(user.get("id") or ""), text=str(text),
                         event_id=f"view:{submission}",
                         user_name=str(user.get("username") or user.get("name") or ""))
