"""Acknowledgements before replies: Slack waits on an ack, nobody waits on a reply that way.

Slack shows the member an error when a slash command, button or form is not
acknowledged within 3 seconds, and redelivers events it did not get a 200
for. The reply to a command has no such deadline (its response_url stays
valid for 30 minutes). So under a burst the work after an ack waits its turn
while requests are still being acknowledged: a reply starts once no request
is in flight and none has arrived for `QUIET` seconds (the burst is over:
in a burst, the moments with nothing in flight are gaps of a fraction of a
millisecond between one request's response and the next request), or once it
has waited `MAX_WAIT` seconds, whichever comes first, so a reply is late by
at most that much plus its own queue. A reply that started in such a gap
would hold the loop (and the database thread) for milliseconds while the
burst's next acks queue behind it. At most
`REPLY_SLOTS` replies run at once, each asking for its turn again, so a flood
of finished-waiting replies can't crowd out the acks of the next burst.

Both sides are one process and one event loop, so this only reorders work
on that loop; it never drops any.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

MAX_WAIT = 3.0
QUIET = 0.02
REPLY_SLOTS = 4


class AckFirst:
    """Counts requests in flight; lets after-ack work run when they are done (or it waited long enough)."""

    def __init__(self, max_wait: float = MAX_WAIT, slots: int = REPLY_SLOTS, quiet: float = QUIET) -> None:
        self.max_wait = max_wait
        self.quiet = quiet
        self._slot_count = slots
        self._inflight = 0
        self._last_arrival = float("-inf")  # event-loop time of the latest request
        # Created lazily: they must belong to the running event loop, not the constructor's.
        self._quiet: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around one incoming request, from its arrival until its response is written."""
        quiet = self._quiet_event()
        self._last_arrival = asyncio.get_running_loop().time()
        self._inflight += 1
        quiet.clear()
        try:
            yield
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                quiet.set()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one reply slot, entered once requests have stopped for `quiet` s, or after `max_wait`."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._slot_count)
        async with self._slots:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.max_wait
            while (remaining := deadline - loop.time()) > 0:
                if self._inflight:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._quiet_event().wait(), remaining)
                    continue
                calm = loop.time() - self._last_arrival
                if calm >= self.quiet:
                    break
                await asyncio.sleep(min(self.quiet - calm, remaining))
            yield

    def _quiet_event(self) -> asyncio.Event:
        if self._quiet is None:
            self._quiet = asyncio.Event()
            self._quiet.set()
        return self._quiet
