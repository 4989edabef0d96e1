"""The handle a unit of work hands to store functions, named for the use cases.

A use case that must make several store calls atomically (an event's "seen"
mark and its effect, say) writes a small function of this handle that calls
only store functions, and runs it with `Store.run`. Importing the name from
here keeps the use-case modules free of any SQL library import.
"""

from sqlmodel import Session as Unit

__all__ = ["Unit"]
