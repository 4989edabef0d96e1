"""The handles a unit of work hands to store functions, named for the use cases.

A use case that must make several store calls atomically (an event's "seen"
mark and its effect, say) writes a small function of one of these handles that
calls only store functions, and runs it with `Store.run` (a `Unit`: an ORM
session) or `Store.run_sql` (a `Sql`: a bare connection in a transaction).
Store functions written in SQLAlchemy Core accept either (`sql_of`); the bare
connection costs about 0.1 ms less per unit, which counts on the busiest paths
(every answer in every thread). Importing the names from here keeps the
use-case modules free of any SQL library import.
"""

from sqlalchemy import Connection as Sql
from sqlmodel import Session as Unit

__all__ = ["Sql", "Unit", "sql_of"]


def sql_of(unit: Unit | Sql) -> Sql:
    """The connection a Core statement runs on, in the unit's transaction."""
    return unit.connection() if isinstance(unit, Unit) else unit
