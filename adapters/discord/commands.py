"""The `/mlsd` slash command group: typed Discord options -> the core's command text.

One top-level group so default member permissions (which Discord applies only
to top-level commands) never hide it; admin subcommands are checked by the core
at run time. Each subcommand only builds the text of the grammar in DESIGN.md
(e.g. `subscribe serving at 09:00 tz Europe/Berlin`) and hands it to `run`.
"""

# No `from __future__ import annotations`: app_commands reads the parameter annotations at runtime.

import zoneinfo
from collections.abc import Awaitable, Callable
from functools import lru_cache

import discord
from discord import app_commands

from adapters.discord.inbound import command_text
from bot.domain import Topic

Run = Callable[[discord.Interaction, str], Awaitable[None]]
Choice = app_commands.Choice

SUBCOMMANDS = ("help", "quiz", "leaderboard", "stats", "topics", "schedule", "digest",
               "subscribe", "unsubscribe", "post_now", "reveal_now", "away", "remind", "reminder",
               "live_board")

POPULAR_ZONES = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York",
                 "America/Chicago", "America/Los_Angeles", "Asia/Kolkata", "Asia/Singapore",
                 "Asia/Tokyo", "Australia/Sydney")
DAYS_SUGGESTIONS = ("mon-fri", "daily", "mon,wed,fri", "tue,thu", "sat,sun")
WINDOW_SUGGESTIONS = ("24h", "12h", "48h", "90m", "2d", "7d")
REMINDER_SUGGESTIONS = ("1h", "30m", "2h", "3h", "off")
ON_OFF = [Choice(name="on", value="on"), Choice(name="off", value="off")]


def _topics(*extra: tuple[str, str]) -> list[Choice[str]]:
    choices = [Choice(name=f"{t.value} — {t.title}", value=t.value) for t in Topic]
    return choices + [Choice(name=name, value=value) for value, name in extra]


ALL = ("all", "all — rotate through the six topics")
READINESS = ("readiness", "readiness — six questions, one per topic")
WINDOWS = [Choice(name="this week", value="week"), Choice(name="this month", value="month"),
           Choice(name="all time", value="all")]


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def zone_choices(current: str) -> list[Choice[str]]:
    query = current.strip().lower().replace(" ", "_")
    if not query:
        found: list[str] = list(POPULAR_ZONES)
    else:
        zones = _zones()
        found = [z for z in zones if z.lower().startswith(query)]
        found += [z for z in zones if query in z.lower() and z not in found]
    return [Choice(name=z, value=z) for z in found[:25]]


def _suggest(options: tuple[str, ...], current: str) -> list[Choice[str]]:
    query = current.strip().lower()
    picked = [o for o in options if o.startswith(query)] or list(options)
    if query and query not in picked:
        picked.insert(0, query)
    return [Choice(name=o, value=o) for o in picked[:25]]


async def tz_autocomplete(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
    return zone_choices(current)


async def days_autocomplete(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
    return _suggest(DAYS_SUGGESTIONS, current)


async def window_autocomplete(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
    return _suggest(WINDOW_SUGGESTIONS, current)


async def reminder_autocomplete(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
    return _suggest(REMINDER_SUGGESTIONS, current)


def _value(choice: Choice[str] | None) -> str | None:
    return choice.value if choice is not None else None


def build_group(run: Run) -> app_commands.Group:
    group = app_commands.Group(
        name="mlsd", description="Daily ML system design practice", guild_only=True,
    )

    @group.command(name="help", description="List the commands")
    async def help_(interaction: discord.Interaction) -> None:
        await run(interaction, command_text("help"))

    @group.command(name="quiz", description="A multiple-choice question, just for you")
    @app_commands.describe(topic="A topic, or readiness for one question per topic (default: your weakest)")
    @app_commands.choices(topic=_topics(READINESS))
    async def quiz(interaction: discord.Interaction, topic: Choice[str] | None = None) -> None:
        await run(interaction, command_text("quiz", _value(topic)))

    @group.command(name="leaderboard", description="This channel's standings and your rank")
    @app_commands.describe(window="Which points count (default: this week)")
    @app_commands.choices(window=WINDOWS)
    async def leaderboard(interaction: discord.Interaction, window: Choice[str] | None = None) -> None:
        await run(interaction, command_text("leaderboard", _value(window)))

    @group.command(name="stats", description="Your progress by topic, quiz accuracy and streak")
    async def stats(interaction: discord.Interaction) -> None:
        await run(interaction, command_text("stats"))

    @group.command(name="topics", description="The six topics and how many questions each has")
    async def topics(interaction: discord.Interaction) -> None:
        await run(interaction, command_text("topics"))

    @group.command(name="schedule", description="This channel's subscriptions and their state")
    async def schedule(interaction: discord.Interaction) -> None:
        await run(interaction, command_text("schedule"))

    @group.command(name="digest", description="This week's digest so far, just for you")
    async def digest(interaction: discord.Interaction) -> None:
        await run(interaction, command_text("digest"))

    @group.command(name="subscribe", description="Admins: daily questions in this channel")
    @app_commands.describe(
        topic="A topic, or all to rotate through the six",
        at="Posting time, HH:MM (default 09:00)",
        tz="Time zone, Area/City (default: the bot's zone)",
        days="mon-fri, daily, or a list such as mon,wed,fri (default mon-fri)",
        window="How long answers are open: 90m, 24h, 2d ... up to 7d (default 24h)",
        skip="Holidays with no post: YYYY-MM-DD, comma-separated",
        digest="When the weekly digest goes out: a day and optional time, e.g. fri 16:00",
        blind="Answers stay private until the reveal",
    )
    @app_commands.choices(topic=_topics(ALL))
    @app_commands.autocomplete(tz=tz_autocomplete, days=days_autocomplete, window=window_autocomplete)
    async def subscribe(
        interaction: discord.Interaction,
        topic: Choice[str],
        at: str | None = None,
        tz: str | None = None,
        days: str | None = None,
        window: str | None = None,
        skip: str | None = None,
        digest: str | None = None,
        blind: bool | None = None,
    ) -> None:
        await run(interaction, command_text("subscribe", topic.value, at=at, tz=tz, days=days,
                                            window=window, skip=skip, digest=digest, blind=bool(blind)))

    @group.command(name="unsubscribe", description="Admins: stop daily questions here")
    @app_commands.describe(topic="A topic, or all")
    @app_commands.choices(topic=_topics(ALL))
    async def unsubscribe(interaction: discord.Interaction, topic: Choice[str]) -> None:
        await run(interaction, command_text("unsubscribe", topic.value))

    @group.command(name="post_now", description="Admins: post today's question now")
    @app_commands.describe(topic="Which subscription (default: every one here)")
    @app_commands.choices(topic=_topics(ALL))
    async def post_now(interaction: discord.Interaction, topic: Choice[str] | None = None) -> None:
        await run(interaction, command_text("post_now", _value(topic)))

    @group.command(name="reveal_now", description="Admins: reveal every open question here now")
    async def reveal_now(interaction: discord.Interaction) -> None:
        await run(interaction, command_text("reveal_now"))

    @group.command(name="away", description="Freeze your streak for a vacation (up to 14 days)")
    @app_commands.describe(days="Days away, 1 to 14; 0 ends it early")
    async def away(interaction: discord.Interaction, days: app_commands.Range[int, 0, 14]) -> None:
        await run(interaction, command_text("away", str(days) if days else "off"))

    @group.command(name="remind", description="A private weekly summary of your progress")
    @app_commands.choices(state=ON_OFF)
    async def remind(interaction: discord.Interaction, state: Choice[str]) -> None:
        await run(interaction, command_text("remind", state.value))

    @group.command(name="reminder", description="Admins: a reminder in each thread before its deadline")
    @app_commands.describe(before="How long before the deadline (e.g. 1h, 30m), or off")
    @app_commands.autocomplete(before=reminder_autocomplete)
    async def reminder(interaction: discord.Interaction, before: str) -> None:
        await run(interaction, command_text("reminder", before))

    @group.command(name="live_board", description="Admins: one standings message, updated after every reveal")
    @app_commands.choices(state=ON_OFF)
    async def live_board(interaction: discord.Interaction, state: Choice[str]) -> None:
        await run(interaction, command_text("live_board", state.value))

    return group
