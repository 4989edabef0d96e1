"""Keep the bot's REST calls under Discord's global rate limit, before Discord has to say so.

Discord allows a bot 50 requests per second in total (the global limit), on top
of the per-route buckets. discord.py tracks the per-route buckets from response
headers, but for the global limit it only reacts: it waits after a 429 with
`global: true` (http.py, `_global_over`). When 1,000 channels are due the same
minute, the core sends concurrently and that would be a storm of 429s (and
Discord bans an IP that keeps hitting them).

`Pace` spaces the *start* of each REST request `1 / PACE_PER_SECOND` seconds
apart on a schedule; a request that starts late (the event loop was busy) lets
the next few catch up, but never more than `PACE_PER_SECOND` starts fall in any
one-second window (a sliding window over the actual start times). A plain token
bucket that allows a burst would let burst + rate through in one second, and
bursts arrive at Discord bunched by network jitter. It hooks into aiohttp's
request-start trace, i.e. every attempt discord.py makes (its retries after a
429 included), after discord.py's own per-route bucket wait.

Interaction callbacks and follow-ups (`/interactions/...`, `/webhooks/...`) are
not bound by the global limit, and a member waits on them (Discord allows 3 s
to acknowledge), so they are never held back. The gateway connection is not a
REST call either.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import SimpleNamespace

import aiohttp
import discord

DISCORD_GLOBAL_PER_SECOND = 50  # Discord's global limit per bot
# Ours: 10% under Discord's, for the jitter between a request's start here and its arrival there.
PACE_PER_SECOND = 45
PACE_WINDOW = 1.0  # seconds
CATCH_UP = 0.1  # seconds of lateness the schedule may win back (a few requests closer together)
UNPACED_PATHS = ("/interactions/", "/webhooks/")  # not counted in the global limit


class Pace:
    """At most `per_second` request starts in any one-second window, first come first served."""

    def __init__(self, per_second: int = PACE_PER_SECOND) -> None:
        self.interval = PACE_WINDOW / per_second
        self._next = float("-inf")  # the scheduled start of the next request (loop time)
        self._starts: deque[float] = deque(maxlen=per_second)  # the last starts, oldest first
        self._lock = asyncio.Lock()
        self.paced = 0  # requests that went through the limiter (for logs and tests)

    async def wait(self) -> None:
        """Return when the caller may start its request."""
        async with self._lock:  # FIFO: waiters start in the order they asked
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                start = self._next
                if len(self._starts) == self._starts.maxlen:
                    start = max(start, self._starts[0] + PACE_WINDOW)
                if start <= now:
                    break
                await asyncio.sleep(start - now)
            self._starts.append(now)
            self._next = max(self._next, now - CATCH_UP) + self.interval
            self.paced += 1

    def applies_to(self, url: str) -> bool:
        """A REST call made with the bot token (read at request time: tests move Route.BASE)."""
        base = discord.http.Route.BASE
        return url.startswith(base) and not url[len(base):].startswith(UNPACED_PATHS)

    def trace_config(self) -> aiohttp.TraceConfig:
        """For `discord.Client(http_trace=...)`: every request the client's session starts waits here."""

        async def on_request_start(session: aiohttp.ClientSession, context: SimpleNamespace,
                                   params: aiohttp.TraceRequestStartParams) -> None:
            if self.applies_to(str(params.url)):
                await self.wait()

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_request_start)
        return trace


__all__ = ["DISCORD_GLOBAL_PER_SECOND", "PACE_PER_SECOND", "PACE_WINDOW", "Pace"]
