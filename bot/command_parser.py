"""Parse `/mlsd ...` text into a command. Shared by every platform.

Each failure raises CommandError with a message for the person who typed it:
what was wrong and what would work.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.domain import TOPIC_SLUGS
from bot.schedule_spec import WEEKDAYS as WEEKDAYS_SHORT
from bot.schedule_spec import parse_days, parse_time, parse_window, parse_zone

WINDOWS = ("week", "month", "all")
TOPIC_HINT = "Topics: " + ", ".join(f"`{t}`" for t in TOPIC_SLUGS)


class CommandError(ValueError):
    """Bad command input; str(error) is the reply."""


@dataclass(frozen=True)
class Command:
    name: str
    topic: str | None = None  # a slug, "all", "readiness" or None
    window: str = "week"
    at: str | None = None
    timezone: str | None = None
    days: tuple[str, ...] | None = None
    window_length: timedelta | None = None
    blind: bool = False
    skip_dates: tuple[date, ...] = ()
    switch: bool | None = None  # on/off commands
    days_away: int | None = None
    reminder: timedelta | None = None
    digest_weekday: int | None = None
    digest_time: str | None = None
    options: dict[str, str] = field(default_factory=dict)


HELP_ALIASES = {"", "help", "-h", "--help", "?"}
SIMPLE = {"stats", "topics", "schedule", "digest", "reveal-now"}
ADMIN_COMMANDS = {"subscribe", "unsubscribe", "post-now", "reveal-now", "live-board", "reminder"}
MAX_AWAY_DAYS = 14
ALIASES = {"post_now": "post-now", "postnow": "post-now", "reveal_now": "reveal-now",
           "revealnow": "reveal-now", "lb": "leaderboard", "board": "leaderboard",
           "unsub": "unsubscribe", "sub": "subscribe", "live_board": "live-board",
           "liveboard": "live-board", "vacation": "away"}


def _topic(word: str, *, allow_all: bool = False, allow_readiness: bool = False) -> str:
    value = word.lower()
    if value in TOPIC_SLUGS or (allow_all and value == "all") or (
        allow_readiness and value == "readiness"
    ):
        return value
    extra = ", or `all`" if allow_all else (", or `readiness`" if allow_readiness else "")
    raise CommandError(f"Unknown topic '{word}'. {TOPIC_HINT}{extra}.")


def parse(text: str) -> Command:
    try:
        words = shlex.split(text.strip())
    except ValueError:  # an unbalanced quote: take the words as typed, without stray quotes
        words = [w.strip("\"'“”‘’") for w in text.strip().split()]
        words = [w for w in words if w]
    if not words or words[0].lower() in HELP_ALIASES:
        return Command("help")
    name = ALIASES.get(words[0].lower(), words[0].lower())
    args = words[1:]
    if name in SIMPLE:
        if args:
            raise CommandError(f"`/mlsd {name}` takes no options (got '{' '.join(args)}').")
        return Command(name)
    if name == "quiz":
        if len(args) > 1:
            raise CommandError("Use `/mlsd quiz`, `/mlsd quiz <topic>` or `/mlsd quiz readiness`.")
        return Command("quiz", topic=_topic(args[0], allow_readiness=True) if args else None)
    if name == "leaderboard":
        if len(args) > 1 or (args and args[0].lower() not in WINDOWS):
            raise CommandError(
                f"Unknown window '{' '.join(args)}'. Use `/mlsd leaderboard week`, `month` or `all`."
            )
        return Command("leaderboard", window=args[0].lower() if args else "week")
    if name == "unsubscribe":
        if len(args) != 1:
            raise CommandError("Use `/mlsd unsubscribe <topic>` or `/mlsd unsubscribe all`.")
        return Command("unsubscribe", topic=_topic(args[0], allow_all=True))
    if name == "post-now":
        if len(args) > 1:
            raise CommandError("Use `/mlsd post-now` or `/mlsd post-now <topic>`.")
        return Command("post-now", topic=_topic(args[0], allow_all=True) if args else None)
    if name == "subscribe":
        return _parse_subscribe(args)
    if name in ("remind", "live-board"):
        if len(args) != 1 or args[0].lower() not in ("on", "off"):
            raise CommandError(f"Use `/mlsd {name} on` or `/mlsd {name} off`.")
        return Command(name, switch=args[0].lower() == "on")
    if name == "away":
        return _parse_away(args)
    if name == "reminder":
        if len(args) != 1:
            raise CommandError("Use `/mlsd reminder 1h` (before each deadline) or `/mlsd reminder off`.")
        if args[0].lower() == "off":
            return Command("reminder", switch=False)
        try:
            return Command("reminder", switch=True, reminder=parse_window(args[0]))
        except ValueError as exc:
            raise CommandError(str(exc)[0].upper() + str(exc)[1:]) from None
    raise CommandError(f"Unknown command '{words[0]}'. Type `/mlsd help` to see what I can do.")


def _parse_away(args: list[str]) -> Command:
    usage = f"Use `/mlsd away <days>` (1 to {MAX_AWAY_DAYS}) or `/mlsd away off`."
    if len(args) != 1:
        raise CommandError(usage)
    if args[0].lower() in ("off", "back", "0"):
        return Command("away", days_away=0)
    try:
        days = int(args[0].lower().removesuffix("d"))
    except ValueError:
        raise CommandError(f"'{args[0]}' is not a number of days. {usage}") from None
    if not 1 <= days <= MAX_AWAY_DAYS:
        raise CommandError(f"You can be away for 1 to {MAX_AWAY_DAYS} days at a time (asked for {days}).")
    return Command("away", days_away=days)


def parse_dates(text: str) -> tuple[date, ...]:
    """`2026-12-24,2026-12-25` -> dates; a message naming the bad one otherwise."""
    out: list[date] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            out.append(date.fromisoformat(part))
        except ValueError:
            raise CommandError(
                f"'{part}' is not a date: use YYYY-MM-DD, e.g. `skip 2026-12-24,2026-12-25`."
            ) from None
    if not out:
        raise CommandError("`skip` needs dates, e.g. `skip 2026-12-24,2026-12-25`.")
    return tuple(sorted(set(out)))


def _parse_subscribe(args: list[str]) -> Command:
    if not args:
        raise CommandError(
            "Use `/mlsd subscribe <topic|all> [at HH:MM] [tz Area/City] [days mon-fri] "
            f"[window 24h] [skip YYYY-MM-DD,...] [digest <day> [HH:MM]] [blind]`. {TOPIC_HINT}."
        )
    topic = _topic(args[0], allow_all=True)
    values: dict[str, str] = {}
    blind = False
    rest = args[1:]
    i = 0
    while i < len(rest):
        key = rest[i].lower()
        if key == "blind":
            blind = True
            i += 1
            continue
        if key == "digest":
            if "digest" in values:
                raise CommandError("`digest` is given twice.")
            if i + 1 >= len(rest):
                raise CommandError("`digest` needs a day and optionally a time, e.g. `digest fri 16:00`.")
            day, _, when = rest[i + 1].partition(" ")  # "fri 16:00" may arrive as one quoted word
            values["digest"] = day
            i += 2
            if when.strip():
                values["digest_time"] = when.strip()
            elif i < len(rest) and ":" in rest[i]:
                values["digest_time"] = rest[i]
                i += 1
            continue
        if key in ("at", "tz", "days", "window", "skip"):
            if i + 1 >= len(rest):
                raise CommandError(f"`{key}` needs a value, e.g. {_EXAMPLES[key]}.")
            if key in values:
                raise CommandError(f"`{key}` is given twice.")
            values[key] = rest[i + 1]
            i += 2
            continue
        raise CommandError(
            f"I don't understand '{rest[i]}'. Options are `at HH:MM`, `tz Area/City`, "
            "`days mon-fri`, `window 24h`, `skip 2026-12-24`, `digest fri 16:00` and `blind`."
        )
    try:
        at = parse_time(values["at"]).strftime("%H:%M") if "at" in values else None
        zone = parse_zone(values["tz"]).key if "tz" in values else None
        days = parse_days(values["days"]) if "days" in values else None
        window = parse_window(values["window"]) if "window" in values else None
        digest_time = parse_time(values["digest_time"]).strftime("%H:%M") if "digest_time" in values else None
    except CommandError:
        raise
    except ValueError as exc:
        message = str(exc)
        raise CommandError(message[0].upper() + message[1:]) from None
    skip = parse_dates(values["skip"]) if "skip" in values else ()
    digest_day = None
    if "digest" in values:
        day = values["digest"].lower()[:3]
        if day not in WEEKDAYS_SHORT:
            raise CommandError(f"'{values['digest']}' is not a day: use e.g. `digest mon` or `digest fri 16:00`.")
        digest_day = WEEKDAYS_SHORT.index(day)
    return Command("subscribe", topic=topic, at=at, timezone=zone, days=days,
                   window_length=window, blind=blind, skip_dates=skip,
                   digest_weekday=digest_day, digest_time=digest_time)


_EXAMPLES = {"at": "`at 09:00`", "tz": "`tz Europe/Berlin`", "days": "`days mon-fri`",
             "window": "`window 24h`", "skip": "`skip 2026-12-24,2026-12-25`"}
