"""The ChatPort on Discord: Messages -> REST calls through discord.py.

A daily post is an embed in the channel plus a public thread started from it;
Discord gives that thread the post's own id, so `Posted.thread_id` is the same
either way. When the bot may not create threads it falls back to replies to
the post (a `reply` to a thread id that is not a channel becomes a message
referencing the post) and tells the channel's admins once.

Errors: discord.py waits out 429s itself; `Forbidden`/`NotFound` on a channel
become `ChannelUnavailable` (the core pauses the subscription), 5xx and network
trouble `TransientPlatformError`, anything else `PlatformError`.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator

import aiohttp
import discord

from adapters.discord.inbound import PLATFORM, emoji_for
from adapters.discord.render import ALLOWED_MENTIONS, Part, render, thread_name
from bot.domain import ChannelRef, Image, Message, MessageKind, Posted, Section, Text
from bot.ports import ChannelUnavailable, PlatformError, TransientPlatformError

log = logging.getLogger(__name__)

# Discord JSON error codes worth a name.
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
MISSING_ACCESS = 50001
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
THREAD_ARCHIVED = 50083
FORBIDDEN_REASONS = {MISSING_ACCESS: "missing_access", MISSING_PERMISSIONS: "missing_permissions"}

# A thread stays open a week without activity (the longest answer window); after the
# reveal it is archived after `archive_after_reveal` minutes of quiet (None: leave it).
OPEN_THREAD_MINUTES = 10080
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)

FALLBACK_NOTICE = (
    "Admins: I could not start a thread for this question (Discord said: {reason}). "
    "Answers are counted as *replies* to the question message instead. To use threads, give me "
    "**Create Public Threads** and **Send Messages in Threads** in this channel."
)


def _reason(exc: discord.HTTPException) -> str:
    if isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_CHANNEL:
        return "unknown_channel"
    return FORBIDDEN_REASONS.get(exc.code, "forbidden" if isinstance(exc, discord.Forbidden) else "not_found")


@contextlib.contextmanager
def platform_errors(what: str) -> Iterator[None]:
    """Translate discord.py / network errors into the core's PlatformError family."""
    try:
        yield
    except (discord.Forbidden, discord.NotFound) as exc:
        if exc.code in (UNKNOWN_MESSAGE, CANNOT_DM):
            raise PlatformError(f"{what}: {exc.text or exc.status} ({exc.code})") from exc
        raise ChannelUnavailable(_reason(exc)) from exc
    except discord.RateLimited as exc:
        raise TransientPlatformError(f"{what}: rate limited", retry_after=exc.retry_after) from exc
    except discord.DiscordServerError as exc:
        raise TransientPlatformError(f"{what}: Discord {exc.status}") from exc
    except discord.HTTPException as exc:
        raise PlatformError(f"{what}: Discord {exc.status} {exc.code}: {exc.text}") from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise TransientPlatformError(f"{what}: {exc.__class__.__name__}: {exc}") from exc


class DiscordPort:
    """ChatPort over a discord.py Client (only its REST side is used here)."""

    platform = PLATFORM

    def __init__(self, client: discord.Client, *, archive_after_reveal: int | None = 1440,
                 remember: int = 20000) -> None:
        self.client = client
        self.archive_after_reveal = archive_after_reveal
        # message id -> the channel or thread it lives in, so `react`/`update`, which the
        # core calls with the parent channel only, reach messages inside threads.
        self._located: OrderedDict[str, int] = OrderedDict()
        self._remember = remember
        self._fallback: set[str] = set()  # daily posts whose "thread" is replies to the post
        self._told_admins: set[str] = set()  # channels already told about missing thread permission

    # -------------------------------------------------------------- bookkeeping

    def locate(self, message_id: str, channel_id: int) -> None:
        self._located[message_id] = channel_id
        self._located.move_to_end(message_id)
        while len(self._located) > self._remember:
            self._located.popitem(last=False)

    def is_fallback(self, post_id: str) -> bool:
        """True when this post's answers come as replies to it (no thread could be started)."""
        return post_id in self._fallback

    def _messageable(self, channel_id: int, ref: ChannelRef) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id, guild_id=int(ref.workspace))

    async def _post(self, channel_id: int, ref: ChannelRef, part: Part,
                    reference: discord.MessageReference | None = None, content: str | None = None
                    ) -> discord.Message:
        kwargs = part.send_kwargs()
        if reference is not None:
            kwargs["reference"] = reference
        if content is not None:
            kwargs["content"] = content
        sent = await self._messageable(channel_id, ref).send(**kwargs)
        self.locate(str(sent.id), channel_id)
        return sent

    # ------------------------------------------------------------------ ChatPort

    async def send(self, channel: ChannelRef, message: Message) -> Posted:
        parts = render(message, channel)
        opens_thread = message.kind == MessageKind.DAILY_POST or message.thread_name is not None
        if opens_thread and len(parts) > 1:
            # The buttons (e.g. "Answer privately") belong on the post itself.
            parts[0].buttons, parts[-1].buttons = parts[-1].buttons, ()
        with platform_errors(f"post in {channel.channel}"):
            first = await self._post(int(channel.channel), channel, parts[0])
        post_id = str(first.id)
        thread_id = post_id
        if opens_thread:
            thread_id = await self._open_thread(channel, first, message)
        for part in parts[1:]:
            await self._post_in_thread(channel, thread_id, part)
        return Posted(message_id=post_id, thread_id=thread_id)

    async def _open_thread(self, channel: ChannelRef, post: discord.Message, message: Message) -> str:
        try:
            thread = await post.create_thread(name=thread_name(message),
                                              auto_archive_duration=OPEN_THREAD_MINUTES)  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            log.warning("no thread for post %s in %s (%s %s): answers go as replies to the post",
                        post.id, channel.channel, exc.status, exc.text)
            self._fallback.add(str(post.id))
            await self._tell_admins_once(channel, str(post.id), exc)
            return str(post.id)
        return str(thread.id)

    async def _tell_admins_once(self, channel: ChannelRef, post_id: str, exc: discord.HTTPException) -> None:
        if channel.channel in self._told_admins:
            return
        self._told_admins.add(channel.channel)
        notice = Message(title=None, sections=(Section(Text.of(
            FALLBACK_NOTICE.format(reason=exc.text or _reason(exc)))),), kind=MessageKind.NOTICE)
        try:
            await self._reply_to_post(channel, post_id, render(notice, channel)[0])
        except (discord.HTTPException, aiohttp.ClientError, OSError) as err:
            log.warning("could not tell admins about the thread fallback in %s: %s", channel.channel, err)

    async def _reply_to_post(self, channel: ChannelRef, post_id: str, part: Part) -> discord.Message:
        reference = discord.MessageReference(message_id=int(post_id), channel_id=int(channel.channel),
                                             guild_id=int(channel.workspace), fail_if_not_exists=False)
        return await self._post(int(channel.channel), channel, part, reference=reference)

    async def reply_to_message(self, channel: ChannelRef, where: int, message_id: str, message: Message,
                               mention: str | None = None) -> None:
        """Answer a message with a reply quoting it, in the thread or channel `where` it lives
        (e.g. to tell a member their answer was not recorded). `mention` pings that user: a
        mention inside an embed notifies nobody, so it goes in the message's own text."""
        reference = discord.MessageReference(message_id=int(message_id), channel_id=where,
                                             guild_id=int(channel.workspace), fail_if_not_exists=False)
        parts = render(message, channel)
        with platform_errors(f"reply to {message_id} in {where}"):
            await self._post(where, channel, parts[0], reference=reference,
                             content=f"<@{int(mention)}>" if mention else None)
            for part in parts[1:]:
                await self._post(where, channel, part)

    async def _post_in_thread(self, channel: ChannelRef, thread_id: str, part: Part) -> discord.Message:
        """Into the thread; if it is not a thread (fallback, or the thread is gone or closed
        to the bot), as a reply to the post in the channel."""
        if thread_id not in self._fallback and thread_id != channel.channel:
            try:
                with platform_errors(f"post in thread {thread_id}"):
                    return await self._post(int(thread_id), channel, part)
            except ChannelUnavailable as exc:
                log.info("thread %s unavailable (%s): replying to the post in the channel", thread_id, exc.reason)
                self._fallback.add(thread_id)
        with platform_errors(f"reply in {channel.channel}"):
            return await self._reply_to_post(channel, thread_id, part)

    async def reply(self, channel: ChannelRef, thread_id: str, message: Message) -> str:
        parts = render(message, channel)
        first = await self._post_in_thread(channel, thread_id, parts[0])
        for part in parts[1:]:
            await self._post_in_thread(channel, thread_id, part)
        if message.kind == MessageKind.REVEAL and thread_id not in self._fallback:
            await self._archive_later(thread_id)
        return str(first.id)

    async def _archive_later(self, thread_id: str) -> None:
        minutes = self.archive_after_reveal
        if minutes is None:
            return
        try:
            if minutes <= 0:
                await self.client.http.edit_channel(int(thread_id), archived=True)
            else:
                duration = min(ARCHIVE_DURATIONS, key=lambda d: (abs(d - minutes), d))
                await self.client.http.edit_channel(int(thread_id), auto_archive_duration=duration)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            # Cosmetic: the thread stays open until Discord's own inactivity timer.
            log.info("could not set archiving on thread %s: %s", thread_id, exc)

    async def send_private(self, channel: ChannelRef, user_id: str, message: Message) -> None:
        """Outside an interaction Discord has no ephemeral message: a DM it is."""
        with platform_errors(f"DM to {user_id}"):
            dm = await self.client.create_dm(discord.Object(id=int(user_id)))
            for part in render(message, channel):
                await dm.send(**part.send_kwargs())

    async def react(self, channel: ChannelRef, message_id: str, reaction: str) -> None:
        where = self._located.get(message_id, int(channel.channel))
        with platform_errors(f"react in {where}"):
            await self._messageable(where, channel).get_partial_message(int(message_id)).add_reaction(
                emoji_for(reaction))

    async def update(self, channel: ChannelRef, message_id: str, message: Message) -> None:
        where = self._located.get(message_id, int(channel.channel))
        parts = render(message, channel)
        with platform_errors(f"edit in {where}"):
            await self._messageable(where, channel).get_partial_message(int(message_id)).edit(
                **parts[0].edit_kwargs())
            for part in parts[1:]:
                await self._post(where, channel, part)

    async def upload_image(
        self, channel: ChannelRef, thread_id: str | None, png: bytes, filename: str, title: str
    ) -> None:
        message = Message(title=title, image=Image(png, filename, title), kind=MessageKind.DIGEST)
        if thread_id:
            await self.reply(channel, thread_id, message)
        else:
            with platform_errors(f"upload in {channel.channel}"):
                for part in render(message, channel):
                    await self._post(int(channel.channel), channel, part)


__all__ = ["ALLOWED_MENTIONS", "DiscordPort", "platform_errors"]
