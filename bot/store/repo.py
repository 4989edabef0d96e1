"""The Store: units of work, run off the event loop, plus the lookups every use case needs.

Writes that must happen once rely on the tables' unique constraints: the
helpers here insert with ON CONFLICT DO NOTHING (`bot.store.conflicts`) and read
the winner's row, instead of letting check-then-insert races through.

Why worker threads and not SQLAlchemy's async engine: the store's functions
stay plain synchronous SQLAlchemy Core code (easy to read, test and reuse from the
CLI), and aiosqlite would hop to a thread per statement where we hop once
per unit (bot.store.workers, which also batches the hops under load). SQLite
gets exactly one worker thread: its writers serialise anyway, and one thread
means no busy-wait sleeps between our own writers and no "database is
locked" when a read transaction upgrades to a write (what aiosqlite does
too, one thread per connection). PostgreSQL gets a few workers, matching
the connection pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, bindparam, select, update

from bot.domain import ChannelRef
from bot.store import conflicts
from bot.store.db import make_engine, upgrade
from bot.store.records import Group, Member, record
from bot.store.schema import groups, members
from bot.store.unit import Unit
from bot.store.workers import DatabaseThreads

if TYPE_CHECKING:
    from sqlmodel import Session

P = ParamSpec("P")
T = TypeVar("T")

POSTGRES_WORKERS = 4

_GROUP = select(groups).where(groups.c.platform == bindparam("platform"),
                              groups.c.workspace == bindparam("workspace"),
                              groups.c.channel == bindparam("channel"))
_MEMBER = select(members).where(members.c.platform == bindparam("platform"),
                                members.c.workspace == bindparam("workspace"),
                                members.c.user_id == bindparam("user_id"))


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        sqlite = engine.dialect.name == "sqlite"
        self._threads = DatabaseThreads(1 if sqlite else POSTGRES_WORKERS, drain=sqlite)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self._threads.close()
        self.engine.dispose()

    async def run(self, work: Callable[Concatenate[Unit, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(connection, ...)` as one unit of work on a database thread, never on the event loop.

        The unit is one transaction: it commits when `work` returns and rolls back
        when it raises. Nothing in `work` may await.
        """
        result: T = await self._threads.submit(functools.partial(self.unit, work, *args, **kwargs))
        return result

    def unit(self, work: Callable[Concatenate[Unit, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`run`'s synchronous twin, for the CLI and for code already on a database thread."""
        with self.engine.begin() as connection:
            return work(connection, *args, **kwargs)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session over the same database, for tests and scripts that read or seed rows as
        `bot.store.models` objects: committed on success, rolled back on any exception.

        The bot itself never opens one; the ORM is imported on first use only.
        """
        from sqlmodel import Session

        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    # ------------------------------------------------------------------ groups

    @staticmethod
    def find_group(s: Unit, ref: ChannelRef) -> Group | None:
        row = s.execute(_GROUP, {"platform": ref.platform, "workspace": ref.workspace,
                                         "channel": ref.channel}).first()
        return record(Group, row) if row else None

    def group(self, s: Unit, ref: ChannelRef, now: datetime) -> Group:
        """The channel's group, created on first sight (a concurrent creator's row is reused)."""
        found = self.find_group(s, ref)
        if found:
            return found
        conflicts.inserted(s, groups, dict(platform=ref.platform, workspace=ref.workspace,
                                           channel=ref.channel, timezone="UTC", created_at=now))
        found = self.find_group(s, ref)
        assert found is not None
        return found

    @staticmethod
    def channel_of(group: Group) -> ChannelRef:
        return ChannelRef(group.platform, group.workspace, group.channel)

    # ----------------------------------------------------------------- members

    @staticmethod
    def find_member(s: Unit, platform: str, workspace: str, user_id: str) -> Member | None:
        row = s.execute(_MEMBER, {"platform": platform, "workspace": workspace,
                                          "user_id": user_id}).first()
        return record(Member, row) if row else None

    def member(self, s: Unit, ref: ChannelRef, user_id: str, name: str = "") -> Member:
        """The member, created on first sight; a new non-empty `name` replaces the stored one."""
        found = self.find_member(s, ref.platform, ref.workspace, user_id)
        if found is None:
            conflicts.inserted(s, members, dict(platform=ref.platform, workspace=ref.workspace,
                                                user_id=user_id, display_name=name))
            found = self.find_member(s, ref.platform, ref.workspace, user_id)
            assert found is not None
        if name and found.display_name != name:
            s.execute(update(members).where(members.c.id == found.id).values(display_name=name))
            found = replace(found, display_name=name)
        return found
