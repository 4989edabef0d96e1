"""Parsing and arithmetic of a subscription's schedule: time, zone, days, window.

Every parser raises ValueError with a message written for the person who typed
the value, because these messages go straight back to chat.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_WINDOW = timedelta(minutes=1)
MAX_WINDOW = timedelta(days=7)

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_WINDOW = re.compile(r"^(\d+)\s*(m|min|h|d)$")


def parse_time(text: str) -> time:
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a time: use 24-hour HH:MM, e.g. `at 09:00` or `at 17:30`")
    return time(int(match.group(1)), int(match.group(2)))


def parse_zone(text: str) -> ZoneInfo:
    """An IANA zone; a name that differs only in case (`europe/berlin`) is accepted as meant."""
    name = text.strip()
    if name.upper() == "UTC":
        return ZoneInfo("UTC")
    if "/" in name:
        exact = {z.lower(): z for z in available_timezones()}.get(name.lower())
        if exact:
            return ZoneInfo(exact)
    hint = _closest_zone(name)
    extra = f" Did you mean `{hint}`?" if hint else ""
    raise ValueError(
        f"unknown time zone '{text}': use an IANA name like `tz Europe/Berlin` or "
        f"`tz America/New_York`.{extra}"
    )


def _closest_zone(name: str) -> str | None:
    lowered = name.lower().replace(" ", "_")
    for zone in sorted(available_timezones()):
        if zone.lower().endswith("/" + lowered) or zone.lower() == lowered:
            return zone
    return None


def parse_days(text: str) -> tuple[str, ...]:
    """`mon-fri`, `daily`, `weekends`, `sat,sun`, `mon,wed-fri` -> ordered weekday names."""
    value = text.strip().lower()
    if value in ("daily", "every-day", "everyday", "all"):
        return WEEKDAYS
    if value in ("weekdays", "workdays"):
        return WEEKDAYS[:5]
    if value in ("weekends", "weekend"):
        return WEEKDAYS[5:]
    chosen: set[str] = set()
    for part in filter(None, (p.strip() for p in value.split(","))):
        if "-" in part:
            start, _, end = part.partition("-")
            if start[:3] not in WEEKDAYS or end[:3] not in WEEKDAYS:
                raise ValueError(_days_error(text))
            i, j = WEEKDAYS.index(start[:3]), WEEKDAYS.index(end[:3])
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            chosen.update(WEEKDAYS[k] for k in span)
        elif part[:3] in WEEKDAYS and WEEKDAYS[WEEKDAYS.index(part[:3])].startswith(part[:3]):
            chosen.add(part[:3])
        else:
            raise ValueError(_days_error(text))
    if not chosen:
        raise ValueError(_days_error(text))
    return tuple(d for d in WEEKDAYS if d in chosen)


def _days_error(text: str) -> str:
    return (
        f"'{text}' is not a set of days: use `days mon-fri`, `days daily`, "
        "`days sat,sun` or a list like `days mon,wed,fri`"
    )


def parse_window(text: str) -> timedelta:
    match = _WINDOW.match(text.strip().lower())
    if not match:
        raise ValueError(
            f"'{text}' is not a window: use minutes, hours or days like `90m`, `24h` or `2d`"
        )
    amount, unit = int(match.group(1)), match.group(2)
    delta = {
        "m": timedelta(minutes=amount),
        "min": timedelta(minutes=amount),
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
    }[unit]
    if not MIN_WINDOW <= delta <= MAX_WINDOW:
        raise ValueError(f"window {text} is out of range: it must be between 1m and 7d")
    return delta


def format_window(minutes: int) -> str:
    """Back in the form people type it: `90m`, `24h`, `2d` (a day reads better as 24h)."""
    if minutes % 1440 == 0 and minutes >= 2880:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def local_occurrence(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The aware moment `at` happens on local `day`.

    In a spring-forward gap (02:30 that does not exist) zoneinfo resolves the
    wall time with fold=0, i.e. the offset before the change, which lands an
    hour later on the wall clock: the post still happens that day, once.
    """
    return datetime.combine(day, at, tzinfo=zone)
