"""An in-memory ChatPort: a real implementation of the protocol without a network.

Tests assert on what it recorded; the demo prints it as a transcript. Faults
can be injected per channel to exercise the core's pause and retry paths.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.domain import ChannelRef, Message, Posted
from bot.ports import ChannelUnavailable, TransientPlatformError


@dataclass
class Sent:
    """One call the core made, in order."""

    call: str  # "send" | "reply" | "private" | "react" | "update" | "upload"
    channel: ChannelRef
    message: Message | None = None
    message_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    reaction: str | None = None
    filename: str | None = None


@dataclass
class MemoryPort:
    platform: str = "console"
    calls: list[Sent] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # channel id -> reason
    transient_failures: int = 0  # the next N calls fail with a retryable error
    on_call: Callable[[Sent], None] | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def _next_id(self) -> str:
        return f"m{next(self._ids)}"

    def _check(self, channel: ChannelRef) -> None:
        if channel.channel in self.unavailable:
            raise ChannelUnavailable(self.unavailable[channel.channel])
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientPlatformError("simulated 503", retry_after=1)

    def _record(self, sent: Sent) -> None:
        self.calls.append(sent)
        if self.on_call:
            self.on_call(sent)

    async def send(self, channel: ChannelRef, message: Message) -> Posted:
        self._check(channel)
        mid = self._next_id()
        self._record(Sent("send", channel, message, message_id=mid, thread_id=mid))
        return Posted(mid, mid)

    async def reply(self, channel: ChannelRef, thread_id: str, message: Message) -> str:
        self._check(channel)
        mid = self._next_id()
        self._record(Sent("reply", channel, message, message_id=mid, thread_id=thread_id))
        return mid

    async def send_private(self, channel: ChannelRef, user_id: str, message: Message) -> None:
        self._check(channel)
        self._record(Sent("private", channel, message, user_id=user_id))

    async def react(self, channel: ChannelRef, message_id: str, reaction: str) -> None:
        self._check(channel)
        self._record(Sent("react", channel, message_id=message_id, reaction=reaction))

    async def update(self, channel: ChannelRef, message_id: str, message: Message) -> None:
        self._check(channel)
        self._record(Sent("update", channel, message, message_id=message_id))

    async def upload_image(
        self, channel: ChannelRef, thread_id: str | None, png: bytes, filename: str, title: str
    ) -> None:
        self._check(channel)
        self._record(Sent("upload", channel, thread_id=thread_id, filename=filename))

    # ------------------------------------------------------------ test helpers

    def of(self, call: str) -> list[Sent]:
        return [c for c in self.calls if c.call == call]

    def clear(self) -> None:
        self.calls.clear()
