"""Slack's redeliveries, answered at once: an event this process already took is acknowledged again.

Slack redelivers an event it thinks we missed (X-Slack-Retry-Num). One this
process already took is answered 200 without running a listener; the core's
own event-id ledger covers deliveries after a restart. A Bolt middleware
class rather than a decorated function: Bolt calls a class's `async_process`
directly, where a function middleware pays for argument injection on every
request, commands included.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from adapters.slack import inbound

log = logging.getLogger(__name__)

SEEN_EVENTS = 5000


class SkipRepeats(AsyncMiddleware):
    def __init__(self, remember: int = SEEN_EVENTS) -> None:
        self.remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()

    def forget(self, event_id: str) -> None:
        """The event was not handled after all: its redelivery must run."""
        self._seen.pop(event_id, None)

    def clear(self) -> None:
        self._seen.clear()

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse | None:
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            if event_id in self._seen:
                log.info("skipping repeated delivery of %s (retry %s)", event_id, inbound.retry_num(req.headers))
                return BoltResponse(status=200, body="")
            self._seen[event_id] = None
            while len(self._seen) > self.remember:
                self._seen.popitem(last=False)
        return await next()
