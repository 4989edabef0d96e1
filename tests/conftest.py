"""Shared fixtures: a real database (SQLite, and PostgreSQL when configured), a
controlled clock, and a `World` that drives the real core through the
in-memory ChatPort, so each behaviour test reads like a chat transcript.
"""

from __future__ import annotations

import itertools
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from adapters.console.port import MemoryPort
from bot.clock import FakeClock
from bot.config import Settings
from bot.content import load_bank
from bot.core import Core
from bot.domain import (
    ButtonPressed,
    ChannelRef,
    MessageKind,
    Outcome,
    ReactionAdded,
    ReactionRemoved,
    Reply,
    ReplyDeleted,
    ReplyEdited,
    SlashCommand,
    ThreadReply,
)
from bot.practice import DueReport
from bot.runtime import Runtime
from bot.store.repo import Store

FIXTURES = Path(__file__).parent / "fixtures"
PACK = FIXTURES / "pack.yaml"
POSTGRES_URL = os.environ.get("MLSD_TEST_POSTGRES_URL")

# Monday 2026-03-02 08:00 UTC: a plain week with no DST change in UTC.
MONDAY_0800 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to reach a host other than this machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _ensure_postgres_db(url: str) -> None:
    base, _, name = url.rpartition("/")
    engine = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        assert POSTGRES_URL
        _ensure_postgres_db(POSTGRES_URL)
        _reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return f"sqlite:///{tmp_path / 'mlsd.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_0800)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, admins=["UADMIN"], content_packs=[str(PACK)])


@pytest.fixture
def store(settings: Settings):  # type: ignore[no-untyped-def]
    s = Store.open(settings.database_url)
    yield s
    s.close()


@pytest.fixture
def bank():  # type: ignore[no-untyped-def]
    loaded, problems = load_bank([PACK], include_builtin=False)
    assert problems == []
    return loaded


@dataclass
class World:
    """One channel, a clock and the real core: what a test needs to tell a story."""

    core: Core
    port: MemoryPort
    clock: FakeClock
    channel: ChannelRef
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def event_id(self) -> str:
        return f"Ev{next(self._ids)}"

    async def command(self, user: str, text: str, admin: bool = False,
                      channel: ChannelRef | None = None) -> Reply:
        outcome = await self.core.handle(SlashCommand(
            channel or self.channel, user, text, self.event_id(), is_platform_admin=admin))
        assert outcome.reply is not None
        return outcome.reply

    async def admin(self, text: str) -> Reply:
        return await self.command("UADMIN", text)

    def thread(self, index: int = -1) -> str:
        """The thread of the latest (or `index`-th) daily question in this channel."""
        posts = [c for c in self.port.of("send") if c.channel == self.channel
                 and c.message is not None and c.message.kind == MessageKind.DAILY_POST]
        assert posts, "no question has been posted"
        return posts[index].thread_id or ""

    async def reply(self, user: str, text: str, *, thread: str | None = None,
                    message_id: str | None = None, event_id: str | None = None,
                    from_bot: bool = False) -> tuple[str, Outcome]:
        mid = message_id or f"r{next(self._ids)}"
        outcome = await self.core.handle(ThreadReply(
            self.channel, thread or self.thread(), mid, user, text,
            event_id or self.event_id(), from_bot=from_bot))
        return mid, outcome

    async def edit(self, user: str, message_id: str, text: str, event_id: str | None = None) -> Outcome:
        return await self.core.handle(ReplyEdited(self.channel, message_id, user, text,
                                                  event_id or self.event_id()))

    async def delete(self, message_id: str, event_id: str | None = None) -> Outcome:
        return await self.core.handle(ReplyDeleted(self.channel, message_id, event_id or self.event_id()))

    async def react(self, user: str, message_id: str, reaction: str = "+1",
                    event_id: str | None = None) -> Outcome:
        return await self.core.handle(ReactionAdded(self.channel, message_id, user, reaction,
                                                    event_id or self.event_id()))

    async def unreact(self, user: str, message_id: str, reaction: str = "+1") -> Outcome:
        return await self.core.handle(ReactionRemoved(self.channel, message_id, user, reaction,
                                                      self.event_id()))

    async def press(self, user: str, action_id: str, value: str) -> Reply | None:
        outcome = await self.core.handle(ButtonPressed(self.channel, user, action_id, value,
                                                       self.event_id()))
        return outcome.reply

    async def tick(self, **advance: float) -> DueReport:
        if advance:
            self.clock.advance(**advance)
        return await self.core.run_due()


@pytest.fixture
def world(settings: Settings, store: Store, bank, clock: FakeClock) -> World:  # type: ignore[no-untyped-def]
    port = MemoryPort(platform="console")
    core = Core(Runtime(settings=settings, store=store, bank=bank, clock=clock,
                        ports={"console": port}))
    return World(core, port, clock, ChannelRef("console", "T1", "C1"))
