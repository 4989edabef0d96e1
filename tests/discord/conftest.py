"""The real discord.py client and the real core against the Discord stand-in, over loopback.

`world` is a `DiscordWorld`: one guild, one practice channel, an admin with
Manage Server, an admin by MLSD_ADMINS, three members, a FakeClock and the
adapter started the way `mlsd-bot run discord` starts it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from adapters.discord.client import DiscordAdapter, create_adapter
from bot.clock import FakeClock
from bot.config import Settings
from bot.content import load_bank
from bot.core import Core
from bot.domain import InboundEvent, Outcome
from bot.practice import DueReport
from bot.runtime import Runtime
from bot.store.models import SubscriptionRow
from bot.store.repo import Store
from tests.conftest import MONDAY_0800
from tests.discord.standin import DiscordStandIn, Interaction, User

PACK = Path(__file__).parents[1] / "fixtures" / "pack.yaml"
TOKEN = "test-token"

GOOD = ("I would split the latency budget across retrieval and ranking, cache the candidate "
        "lists, and fall back to popular items when the ranker is slow.")
FAIR = "Keep a cache of candidate lists in front of the ranker so most requests skip the heavy work."
WEAK = "I would make the model faster somehow and hope that it all works out in the end."


def discord_settings(standin: DiscordStandIn, db: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=f"sqlite:///{db}", content_packs=[str(PACK)], discord_token=TOKEN,
        discord_api_url=standin.api_url, discord_gateway_url=standin.gateway_url,
        discord_guild_ids=[standin.guild_id],
    )
    values.update(extra)
    return Settings(**values)


def build_core(settings: Settings, clock: FakeClock, pack: Path = PACK) -> Core:
    bank, problems = load_bank([pack], include_builtin=False)
    assert problems == []
    return Core(Runtime(settings=settings, store=Store.open(settings.database_url), bank=bank, clock=clock))


@dataclass
class DiscordWorld:
    standin: DiscordStandIn
    core: Core
    clock: FakeClock
    settings: Settings
    admin: User  # Manage Server
    config_admin: User  # listed in MLSD_ADMINS only
    alice: User
    bob: User
    carol: User
    adapter: DiscordAdapter | None = None
    handled: dict[str, Outcome] = field(default_factory=dict)
    events: list[InboundEvent] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def channel(self) -> int:
        return self.standin.channel_id

    def _record(self, event: InboundEvent, outcome: Outcome) -> None:
        self.events.append(event)
        self.outcomes.append(outcome)
        self.handled[event.event_id] = outcome
        self.standin.touch()

    async def start(self, **options: Any) -> DiscordAdapter:
        options.setdefault("guild_ready_timeout", 0.05)
        self.adapter = create_adapter(self.settings, self.core, on_event=self._record, **options)
        self.core.rt.ports["discord"] = self.adapter.port
        await self.adapter.start()
        return self.adapter

    async def stop(self) -> None:
        if self.adapter is not None:
            await self.adapter.stop()
            self.adapter = None

    async def restart(self) -> DiscordAdapter:
        await self.stop()
        return await self.start()

    async def settle(self) -> None:
        assert self.adapter is not None
        assert await self.adapter.idle(timeout=10), "a Discord handler is still running"

    async def command(self, user: User, sub: str, **options: Any) -> Interaction:
        """`/mlsd <sub> option=value ...`, answered: returns the interaction record."""
        record = await self.standin.slash(user, sub, **options)
        await self.standin.wait_for(lambda: record.callbacks, what=f"/mlsd {sub} to be acknowledged")
        await self.settle()
        return record

    async def press(self, user: User, message: dict[str, Any], custom_id: str) -> Interaction:
        record = await self.standin.press(user, message, custom_id)
        await self.standin.wait_for(lambda: record.callbacks, what=f"button {custom_id} to be acknowledged")
        await self.settle()
        return record

    async def handled_event(self, event_id: str) -> Outcome:
        await self.standin.wait_for(lambda: event_id in self.handled, what=f"event {event_id}")
        await self.settle()
        return self.handled[event_id]

    async def say(self, user: User, channel_id: int | str, text: str, reply_to: Any = None) -> dict[str, Any]:
        """A member posts; returns the message once the bot has handled it."""
        message = await self.standin.post(user, channel_id, text, reply_to=reply_to)
        await self.handled_event(f"message:{message['id']}")
        return message

    async def tick(self, **advance: float) -> DueReport:
        if advance:
            self.clock.advance(**advance)
        report = await self.core.run_due()
        await self.settle()
        return report

    def subscriptions(self) -> list[SubscriptionRow]:
        with self.core.rt.store.session() as s:
            return list(s.exec(select(SubscriptionRow)))


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    server = await DiscordStandIn().start()
    yield server
    await server.close()
    assert server.violations == [], "the bot sent what Discord would refuse"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_0800)


async def open_world(standin: DiscordStandIn, clock: FakeClock, db: Path, pack: Path = PACK,
                     **settings: Any) -> DiscordWorld:
    """A started world; close it with `close_world`."""
    config_admin = standin.add_user("cora-config-admin")
    settings.setdefault("admins", [str(config_admin.id)])
    values = discord_settings(standin, db, **settings)
    w = DiscordWorld(
        standin=standin, core=build_core(values, clock, pack), clock=clock, settings=values,
        admin=standin.add_user("ada-admin", manage_guild=True), config_admin=config_admin,
        alice=standin.add_user("alice"), bob=standin.add_user("bob"), carol=standin.add_user("carol"),
    )
    await w.start()
    return w


async def close_world(w: DiscordWorld) -> None:
    await w.stop()
    w.core.rt.store.close()


@pytest.fixture
async def world(standin: DiscordStandIn, clock: FakeClock, tmp_path: Path) -> AsyncIterator[DiscordWorld]:
    w = await open_world(standin, clock, tmp_path / "mlsd.db")
    yield w
    await close_world(w)
