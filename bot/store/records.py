"""Rows the store hands to the use cases, as plain records.

A record type is made from its table's columns (`bot.store.schema`), so it can
never drift from the schema, and it carries no ORM state: it is only the values
a unit of work read (or, for a claim that failed before writing, would have
written). Attribute access matches the columns: `post.thread_id`, `sub.days`.
A use case may update its copy to match a write it made through the store
(a post it just confirmed); assigning to a record never writes anything.
"""

from __future__ import annotations

from dataclasses import field, make_dataclass
from typing import Any

from sqlalchemy import Row, Table

from bot.store import schema


def _record_type(name: str, table: Table, doc: str) -> type:
    # eq=False: compared and hashed by identity, as the ORM rows they replace were.
    cls = make_dataclass(name, [(c.name, Any, field(default=None)) for c in table.c],
                         eq=False, slots=True)
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


Group: Any = _record_type("Group", schema.groups, "One channel on one workspace/guild.")
Subscription: Any = _record_type("Subscription", schema.subscriptions,
                                 "One topic's daily posts in one channel.")
Post: Any = _record_type("Post", schema.posts, "One daily question in one channel.")
Digest: Any = _record_type("Digest", schema.digests, "One weekly digest of one channel.")


def record(kind: Any, row: Row[Any]) -> Any:
    """The record of `kind` holding what `row` (a SELECT of the whole table) read."""
    return kind(**row._mapping)


def records(kind: Any, rows: Any) -> list[Any]:
    return [kind(**row._mapping) for row in rows]
