"""The handle a unit of work hands to store functions: a SQLAlchemy Core `Connection`.

A use case that must make several store calls atomically (an event's "seen"
mark and its effect, say) writes a small function of a `Unit` that calls only
store functions, and runs it with `Store.run`: one transaction, on a database
thread. Every store function is SQLAlchemy Core on that connection; no ORM
session is involved at run time (see `bot.store.schema` for why). Importing the
name from here keeps the use-case modules free of any SQL library import.
"""

from sqlalchemy import Connection as Unit

__all__ = ["Unit"]
