"""The Store: units of work, run off the event loop.

Writes that must happen once rely on the tables' unique constraints: the store
modules insert with ON CONFLICT DO NOTHING (`bot.store.conflicts`) and read the
winner's row, instead of letting check-then-insert races through.

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
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine

from bot.store.db import make_engine, upgrade
from bot.store.unit import Unit
from bot.store.workers import DatabaseThreads

if TYPE_CHECKING:
    from sqlmodel import Session

P = ParamSpec("P")
T = TypeVar("T")

POSTGRES_WORKERS = 4



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
