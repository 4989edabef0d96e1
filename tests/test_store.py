"""The database layer: migrations match the models, SQLite runs in WAL mode, and
the uniqueness rules that carry exactly-once hold on every backend."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.store import schema
from bot.store.models import GroupRow, PostRow, SubscriptionRow
from tests.conftest import MONDAY_0800


def test_migrations_match_the_models(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == [], "models changed without an Alembic migration"


def test_upgrading_twice_is_harmless(settings):
    from bot.store.repo import Store

    Store.open(settings.database_url).close()
    Store.open(settings.database_url).close()


def test_sqlite_uses_wal(store):
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_one_post_per_subscription_and_local_date(store):
    with store.session() as s:
        group = GroupRow(platform="console", workspace="T", channel="C", created_at=MONDAY_0800)
        s.add(group)
        s.flush()
        sub = SubscriptionRow(group_id=group.id, topic="data", post_time="09:00", timezone="UTC",
                              days="mon", effective_from=MONDAY_0800, updated_at=MONDAY_0800)
        s.add(sub)
        s.flush()
        ids = (sub.id, group.id)

    def post() -> PostRow:
        return PostRow(subscription_id=ids[0], group_id=ids[1], topic="data", local_date=date(2026, 3, 2),
                       scheduled_for=MONDAY_0800, deadline=MONDAY_0800, claimed_at=MONDAY_0800)

    with store.session() as s:
        s.add(post())
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(post())


# ------------------------------------------------------------ database threads


def _add_group(s, channel: str) -> int:  # type: ignore[no-untyped-def]
    return s.execute(insert(schema.groups).returning(schema.groups.c.id), dict(
        platform="console", workspace="T", channel=channel, timezone="UTC", created_at=MONDAY_0800)).scalar_one()


def _fail(s) -> None:  # type: ignore[no-untyped-def]
    _add_group(s, "CFAIL")
    raise ValueError("this unit fails after writing")


async def test_units_run_together_each_commit_or_roll_back_alone(store):
    # Many units queued at once (as under a burst) run back to back on the database
    # thread; each is still its own transaction, and one failing spoils none of the others.
    units = [store.run(_add_group, f"C{i}") for i in range(30)]
    units.insert(10, store.run(_fail))
    outcomes = await asyncio.gather(*units, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert len(failures) == 1 and str(failures[0]) == "this unit fails after writing"
    ids = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(set(ids)) == 30
    with store.session() as s:
        channels = {g.channel for g in s.exec(select(GroupRow))}
    assert channels == {f"C{i}" for i in range(30)}  # the failed unit's write was rolled back


async def test_closing_the_store_finishes_the_units_already_asked_for(settings):
    from bot.store.repo import Store

    store = Store.open(settings.database_url)
    pending = [asyncio.ensure_future(store.run(_add_group, f"C{i}")) for i in range(5)]
    await asyncio.sleep(0)  # all five are queued
    store.close()
    assert len(set(await asyncio.gather(*pending))) == 5
    with pytest.raises(RuntimeError, match="closed"):
        await store.run(_add_group, "CLATE")
