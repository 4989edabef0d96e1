"""The real Bolt app and the real core against the Slack stand-in, over loopback HTTP.

`slack` is a `SlackWorld`: it sends what Slack would send (signed slash
commands, events, button presses, modal submissions) to the adapter's own
aiohttp endpoint, waits until the adapter's listeners are done, and lets a test
read what reached the stand-in's Web API.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.app import SlackAdapter, create_adapter
from bot.clock import FakeClock
from bot.config import Settings
from bot.content import load_bank
from bot.core import Core
from bot.runtime import Runtime
from bot.store.repo import Store
from tests.slack.standin import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, Call, SlackStandIn

PACK = Path(__file__).parents[1] / "fixtures" / "pack.yaml"
CHANNEL = "C0PRACTICE"
ADMIN = "UADMIN"  # in MLSD_ADMINS
OWNER = "UOWNER"  # a workspace admin according to users.info


def slack_settings(standin: SlackStandIn, db: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{db}", "admins": [ADMIN], "content_packs": [str(PACK)],
        "slack_bot_token": BOT_TOKEN, "slack_signing_secret": SIGNING_SECRET, "slack_api_url": standin.api_url,
    }
    return Settings(**{**values, **extra})


def build_core(settings: Settings, clock: FakeClock) -> Core:
    bank, problems = load_bank([PACK], include_builtin=False)
    assert problems == []
    return Core(Runtime(settings=settings, store=Store.open(settings.database_url), bank=bank, clock=clock))


@dataclass
class SlackWorld:
    standin: SlackStandIn
    adapter: SlackAdapter
    core: Core
    clock: FakeClock
    channel: str = CHANNEL
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.http_port}/slack/events"

    @property
    def team(self) -> str:
        return self.standin.team_id

    def mark(self) -> int:
        """A bookmark in the stand-in's call log; `since(mark)` returns what came after."""
        return len(self.standin.calls)

    def since(self, mark: int, *methods: str) -> list[Call]:
        calls = self.standin.calls[mark:]
        return [c for c in calls if not methods or c.method in methods]

    async def settle(self) -> None:
        assert await self.adapter.idle(timeout=15), "a Slack listener is still running"

    async def command(self, user: str, text: str, *, channel: str | None = None) -> list[Call]:
        """`/mlsd <text>`: returns the calls it caused (ephemeral/response_url/postMessage ...)."""
        mark = self.mark()
        status, body = await self.standin.post_command(self.url, text, user=user, channel=channel or self.channel)
        assert status == 200, body
        await self.settle()
        return self.since(mark)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None,
                    retry_num: int | None = None) -> list[Call]:
        mark = self.mark()
        status, body = await self.standin.post_event(self.url, event, event_id=event_id, retry_num=retry_num)
        assert status == 200, body
        await self.settle()
        return self.since(mark)

    async def interact(self, payload: dict[str, Any]) -> tuple[str, list[Call]]:
        mark = self.mark()
        status, body = await self.standin.post_interaction(self.url, payload)
        assert status == 200, body
        await self.settle()
        return body, self.since(mark)

    def ts(self) -> str:
        n = next(self._ids)
        return f"1772500000.{n:06d}"

    async def say(self, user: str, text: str, *, thread_ts: str, ts: str | None = None,
                  event_id: str | None = None, retry_num: int | None = None) -> tuple[str, list[Call]]:
        """A member writes in a thread."""
        ts = ts or self.ts()
        calls = await self.event({"type": "message", "channel": self.channel, "user": user, "text": text,
                                  "ts": ts, "thread_ts": thread_ts, "channel_type": "channel"},
                                 event_id=event_id, retry_num=retry_num)
        return ts, calls

    async def edit(self, user: str, ts: str, thread_ts: str, old: str, new: str) -> list[Call]:
        return await self.event({
            "type": "message", "subtype": "message_changed", "channel": self.channel, "hidden": True,
            "ts": self.ts(),
            "message": {"type": "message", "user": user, "text": new, "ts": ts, "thread_ts": thread_ts,
                        "edited": {"user": user, "ts": self.ts()}},
            "previous_message": {"type": "message", "user": user, "text": old, "ts": ts, "thread_ts": thread_ts},
        })

    async def delete(self, user: str, ts: str, thread_ts: str, old: str) -> list[Call]:
        return await self.event({
            "type": "message", "subtype": "message_deleted", "channel": self.channel, "hidden": True,
            "ts": self.ts(), "deleted_ts": ts,
            "previous_message": {"type": "message", "user": user, "text": old, "ts": ts, "thread_ts": thread_ts},
        })

    async def react(self, user: str, ts: str, reaction: str = "+1", *, item_user: str | None = None,
                    removed: bool = False) -> list[Call]:
        event = {"type": "reaction_removed" if removed else "reaction_added", "user": user, "reaction": reaction,
                 "item": {"type": "message", "channel": self.channel, "ts": ts}, "event_ts": self.ts()}
        if item_user:
            event["item_user"] = item_user
        return await self.event(event)

    async def press(self, user: str, button: dict[str, Any], *, message: dict[str, Any] | None = None,
                    ephemeral: bool = False) -> list[Call]:
        payload = self.standin.action_payload(user=user, channel=self.channel, action_id=button["action_id"],
                                              value=button.get("value", ""), message=message, ephemeral=ephemeral)
        _, calls = await self.interact(payload)
        return calls

    async def tick(self, **advance: float) -> list[Call]:
        mark = self.mark()
        if advance:
            self.clock.advance(**advance)
        await self.core.run_due()
        return self.since(mark)


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(admins=[OWNER]) as s:
        yield s


@pytest.fixture
async def slack(standin: SlackStandIn, tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    settings = slack_settings(standin, tmp_path / "mlsd.db")
    core = build_core(settings, clock)
    adapter = create_adapter(settings, core, http_port=0, http_host="127.0.0.1")
    core.rt.ports["slack"] = adapter.port
    await adapter.start()
    try:
        yield SlackWorld(standin, adapter, core, clock)
    finally:
        await adapter.stop()
        core.rt.store.close()


__all__ = ["ADMIN", "APP_TOKEN", "CHANNEL", "OWNER", "SlackWorld", "build_core", "slack_settings"]
