"""The one interface through which the core talks to a chat platform.

Kept deliberately small: every adapter implements these six calls and nothing
else, so the core stays testable with an in-memory port and an adapter stays a
thin translation layer.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.domain import ChannelRef, Message, Posted


class PlatformError(Exception):
    """Base for errors an adapter raises so the core can decide what to do."""


class ChannelUnavailable(PlatformError):
    """The channel is gone, archived, or the bot lost access: pause, don't retry.

    `reason` is shown to admins in `/mlsd schedule` (e.g. "channel_not_found").
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientPlatformError(PlatformError):
    """Worth retrying later (rate limit, 5xx, connection). `retry_after` in seconds."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class AdapterError(Exception):
    """An adapter could not start (rejected token, missing intent, port in use ...).

    The message names the setting to fix; `mlsd-bot run` prints it and exits 2.
    """


ACK_REACTION = "white_check_mark"


@runtime_checkable
class ChatPort(Protocol):
    platform: str

    async def send(self, channel: ChannelRef, message: Message) -> Posted:
        """Post a top-level message. A platform that opens a thread per post does it
        here (named after `message.thread_name`) and returns the thread's id."""
        ...

    async def reply(self, channel: ChannelRef, thread_id: str, message: Message) -> str:
        """Post in a thread; returns the new message's id."""
        ...

    async def send_private(self, channel: ChannelRef, user_id: str, message: Message) -> None:
        """Show a message to one user only (ephemeral on Slack, DM/ephemeral on Discord)."""
        ...

    async def react(self, channel: ChannelRef, message_id: str, reaction: str) -> None:
        """Add a reaction (a neutral name like "white_check_mark") to a message."""
        ...

    async def update(self, channel: ChannelRef, message_id: str, message: Message) -> None:
        """Replace a message the bot sent earlier."""
        ...

    async def upload_image(
        self, channel: ChannelRef, thread_id: str | None, png: bytes, filename: str, title: str
    ) -> None:
        """Upload a PNG into a channel (or a thread)."""
        ...


@runtime_checkable
class PlatformAdapter(Protocol):
    """What the composition root needs from a running platform connection."""

    port: ChatPort

    async def start(self) -> None:
        """Connect and begin delivering events to the core; returns once running."""
        ...

    async def stop(self) -> None:
        """Stop taking events and let in-flight handlers finish."""
        ...
