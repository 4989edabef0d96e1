"""The one source of "now" in the bot.

Every use case asks a Clock instead of calling datetime.now(), so tests and the
demo can run a week in milliseconds and assert on exact deadlines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


class FileClock:
    """Test hook: "now" is the ISO-8601 timestamp held in a file, read on every call.

    `mlsd-bot` uses it when the environment variable MLSD_CLOCK_FILE names such a
    file, so a test can drive a real bot process through days in seconds (the
    kill test does). A timestamp without a zone is UTC. Write the file by
    replacing it (write elsewhere, then rename) so a reader never sees half of it.
    Never set in production.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._last: datetime | None = None

    def now(self) -> datetime:
        try:
            value = datetime.fromisoformat(self.path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            if self._last is None:
                raise
            return self._last  # mid-rewrite: the time has not moved
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        self._last = value.astimezone(UTC)
        return self._last
