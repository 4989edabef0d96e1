"""INSERTs that a unique constraint turns into a no-op instead of an error.

Claims and "seen once" marks rest on unique constraints; `ON CONFLICT DO
NOTHING` lets the loser of a race learn it lost from the row count, without a
savepoint or a check-then-insert. The syntax lives in each dialect's module;
only the dialect in use is imported (PostgreSQL's costs memory a SQLite bot
never needs), and each statement is built once per dialect and table.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import Column, Table, insert

from bot.store.unit import Unit

_BUILT: dict[tuple[str, str, str | None], Any] = {}


def insert_ignoring_conflicts(dialect: str, table: Table, returning: Column[Any] | None = None) -> Any:
    key = (dialect, table.name, returning.name if returning is not None else None)
    stmt = _BUILT.get(key)
    if stmt is None:
        if dialect in ("sqlite", "postgresql"):
            module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
            stmt = module.insert(table).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            stmt = insert(table)
        if returning is not None:
            stmt = stmt.returning(returning)
        _BUILT[key] = stmt
    return stmt


def insert_new(s: Unit, table: Table, returning: Column[Any] | None = None) -> Any:
    """The statement for this unit's database."""
    return insert_ignoring_conflicts(s.dialect.name, table, returning)


def inserted(s: Unit, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless a unique constraint holds the row's twin; True when this call inserted it.

    Asks for the new row back (RETURNING) rather than trusting the row count, which
    psycopg reports as -1 for `ON CONFLICT DO NOTHING`.
    """
    key = next(iter(table.primary_key.columns))
    return s.execute(insert_new(s, table, returning=key), values).first() is not None
