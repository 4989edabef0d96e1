"""Run a parsed `/mlsd` command and produce the reply. Permissions are decided here."""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot import charts, render
from bot.command_parser import ADMIN_COMMANDS, Command, CommandError, parse
from bot.config import Settings
from bot.domain import (
    TOPIC_SLUGS,
    Field,
    Message,
    MessageKind,
    MessageLink,
    Reply,
    Section,
    SlashCommand,
    Text,
    Timestamp,
    Topic,
)
from bot.practice import ALL, Practice, ScheduleSpec
from bot.quiz import Quiz, QuizError
from bot.runtime import Runtime
from bot.schedule_spec import WEEKDAYS, format_window
from bot.standings import Standings
from bot.store import channels
from bot.store.records import Subscription

HELP = [
    ("help", "this list"),
    ("quiz [topic|readiness]", "a multiple-choice question, just for you"),
    ("leaderboard [week|month|all]", "this channel's standings and your rank"),
    ("stats", "your progress by topic, quiz accuracy and streak"),
    ("topics", "the six topics and how many questions each has"),
    ("schedule", "this channel's subscriptions and their state"),
    ("digest", "this week's digest so far, just for you"),
    ("subscribe <topic|all> [at HH:MM] [tz Area/City] [days mon-fri] [window 24h] [skip YYYY-MM-DD,…] "
     "[digest <day> [HH:MM]] [blind]",
     "admins: daily questions in this channel"),
    ("unsubscribe <topic|all>", "admins: stop them"),
    ("post-now [topic]", "admins: post today's question now"),
    ("reveal-now", "admins: reveal every open question here now"),
    ("away <days>|off", "freeze your streak for a vacation (up to 14 days)"),
    ("remind on|off", "a private weekly summary of your progress"),
    ("reminder 1h|off", "admins: a reminder in each thread before its deadline"),
    ("live-board on|off", "admins: one standings message, updated after every reveal"),
]

REFUSALS = {
    "subscribe": "subscribe a channel",
    "unsubscribe": "unsubscribe a channel",
    "post-now": "post a question early",
    "reveal-now": "reveal answers early",
    "reminder": "set deadline reminders",
    "live-board": "turn the live standings message on or off",
}


def grading_note(settings: Settings) -> str:
    """Where members' answers go to be graded: said plainly, because a team lead must know."""
    if settings.grader == "llm":
        host = urlsplit(settings.llm_base_url or "").hostname or "the configured endpoint"
        return (f"Grading: answers are sent to a model endpoint ({host}, model {settings.llm_model}) "
                "to judge key points; the built-in grader steps in if it fails.")
    return "Grading: the built-in grader judges key points on this bot's server; answers are not sent anywhere."


def help_message(settings: Settings | None = None) -> Message:
    lines = "\n".join(f"`/mlsd {usage}` — {what}" for usage, what in HELP)
    sections = [Section(Text.of(lines))]
    if settings is not None:
        sections.append(Section(Text.of(grading_note(settings))))
    return Message(
        title="mlsd-bot: daily ML system design practice",
        sections=tuple(sections),
        footer=Text.of("Topics: " + ", ".join(TOPIC_SLUGS)),
        kind=MessageKind.HELP,
    )


class Commands:
    def __init__(self, rt: Runtime, practice: Practice, quiz: Quiz, standings: Standings) -> None:
        self.rt = rt
        self.practice = practice
        self.quiz = quiz
        self.standings = standings
        self.habits = practice.habits

    async def run(self, event: SlashCommand) -> Reply:
        try:
            command = parse(event.text)
        except CommandError as exc:
            return Reply(render.error(str(exc)), private=True)
        if command.name in ADMIN_COMMANDS and not self.rt.is_admin(
            event.user_id, event.is_platform_admin
        ):
            return Reply(render.error(
                f"Only admins can {REFUSALS[command.name]}. Ask a workspace admin, or have "
                "your user id added to MLSD_ADMINS."
            ))
        handler = getattr(self, "_" + command.name.replace("-", "_"))
        try:
            return await handler(event, command)
        except (QuizError, CommandError) as exc:
            return Reply(render.error(str(exc)), private=True)

    # -------------------------------------------------------------- everyone

    async def _help(self, event: SlashCommand, command: Command) -> Reply:
        return Reply(help_message(self.rt.settings))

    async def _quiz(self, event: SlashCommand, command: Command) -> Reply:
        return await self.quiz.start(event.channel, event.user_id, command.topic, event.user_name)

    async def _leaderboard(self, event: SlashCommand, command: Command) -> Reply:
        board = await self.standings.leaderboard(event.channel, command.window, event.user_id)
        return Reply(render.leaderboard(board), private=False)

    async def _stats(self, event: SlashCommand, command: Command) -> Reply:
        stats = await self.standings.member_stats(event.channel, event.user_id)
        return Reply(render.stats(stats, await charts.stats_chart(stats)))

    async def _topics(self, event: SlashCommand, command: Command) -> Reply:
        lines = []
        for topic in Topic:
            q, z = len(self.rt.bank.questions_for(topic)), len(self.rt.bank.quiz_for(topic))
            lines.append(f"`{topic.value}` — {topic.title}: {q} questions, {z} quiz items")
        return Reply(Message(title="Topics", sections=(Section(Text.of("\n".join(lines))),)))

    async def _digest(self, event: SlashCommand, command: Command) -> Reply:
        data = await self.standings.digest(event.channel)
        return Reply(render.digest(data, await charts.digest_chart(data)))

    async def _schedule(self, event: SlashCommand, command: Command) -> Reply:
        now = self.rt.clock.now()
        view = await self.rt.store.run(channels.schedule, event.channel)
        group, subs = view.group, view.subscriptions
        if not subs:
            return Reply(render.notice(
                "This channel has no subscriptions. An admin can start one with "
                "`/mlsd subscribe serving` (or `all` to rotate through the six topics).",
                title="Schedule",
            ))
        sections = []
        for sub in subs:
            sections.append(self._subscription_section(sub, now))
        if group is not None:
            weekday = self.rt.settings.digest_weekday if group.digest_weekday is None else group.digest_weekday
            at = group.digest_time or self.rt.settings.digest_time
            sections.append(Section(Text.of(
                f"Weekly digest: {WEEKDAYS[weekday]} at {at} {group.timezone}")))
        for post in view.open_posts:
            sections.append(Section(Text.of(
                f"Open: {post.topic} question ", MessageLink(event.channel.channel, post.message_id, "(thread)"),
                " — reveal ", Timestamp(post.deadline),
            )))
        sections.append(Section(Text.of(grading_note(self.rt.settings))))
        return Reply(Message(title="Schedule", sections=tuple(sections)))

    def _subscription_section(self, sub: Subscription, now) -> Section:  # type: ignore[no-untyped-def]
        days = sub.days.split(",")
        if tuple(days) == WEEKDAYS:
            day_text = "daily"
        elif tuple(days) == WEEKDAYS[:5]:
            day_text = "mon-fri"
        else:
            day_text = ",".join(days)
        if not sub.active:
            state = Text.of("stopped (unsubscribed)")
        elif sub.paused_reason:
            state = Text.of(f"paused: {sub.paused_reason}. Subscribe again to resume.")
        else:
            nxt = self.practice.next_occurrence(sub, now)
            state = Text.of("active · next post ", Timestamp(nxt)) if nxt else Text.of("active")
        return Section(
            Text.of(f"{sub.topic} at {sub.post_time} {sub.timezone}, {day_text}, "
                    f"window {format_window(sub.window_minutes)}" + (", blind" if sub.blind else "")),
            fields=(Field("State", state),),
        )

    # ------------------------------------------------------------------ admin

    async def _subscribe(self, event: SlashCommand, command: Command) -> Reply:
        assert command.topic is not None
        sub, what = await self.practice.subscribe(
            event.channel, command.topic, functools.partial(self._schedule_for, command), event.user_id)
        if command.skip_dates:
            await self.habits.add_skip_dates(sub.id or 0, command.skip_dates)
        if command.digest_weekday is not None:
            await self.habits.set_digest_slot(event.channel, command.digest_weekday, command.digest_time)
        nxt = self.practice.next_occurrence(sub, self.rt.clock.now())
        topic_text = (
            "all six topics, one a day in rotation" if command.topic == ALL
            else Topic(command.topic).title
        )
        verb = {"subscribed": "Subscribed", "resumed": "Resumed", "updated": "Updated"}[what]
        return Reply(Message(
            title=None,
            sections=(Section(Text.of(
                f"{verb}: {topic_text} at {sub.post_time} {sub.timezone}, "
                f"{sub.days}; answers close after {format_window(sub.window_minutes)}"
                + (" (blind: answers are private until the reveal)" if sub.blind else "")
                + (f"; no posts on {', '.join(d.isoformat() for d in command.skip_dates)}"
                   if command.skip_dates else "")
                + (f"; weekly digest on {WEEKDAYS[command.digest_weekday]}"
                   + (f" at {command.digest_time}" if command.digest_time else "")
                   if command.digest_weekday is not None else "")
                + ". ",
                *(("First question ", Timestamp(nxt), ".") if nxt else ()),
            )),),
            kind=MessageKind.NOTICE,
        ), private=False)

    def _schedule_for(self, command: Command, current: Subscription | None) -> ScheduleSpec:
        """The schedule a subscribe command asks for: re-subscribing keeps what was set
        before (`current`) unless the command changes it; `blind` is only on when asked."""
        base = ScheduleSpec(timezone=self.rt.settings.timezone)
        if current:
            base = ScheduleSpec(
                at=current.post_time, timezone=current.timezone,
                days=tuple(current.days.split(",")),
                window=timedelta(minutes=current.window_minutes),
            )
        return ScheduleSpec(
            at=command.at or base.at,
            timezone=command.timezone or base.timezone,
            days=command.days or base.days,
            window=command.window_length or base.window,
            blind=command.blind,  # re-subscribing without `blind` turns it off
        )

    async def _unsubscribe(self, event: SlashCommand, command: Command) -> Reply:
        assert command.topic is not None
        stopped = await self.practice.unsubscribe(event.channel, command.topic)
        if not stopped:
            what = "any topic" if command.topic == ALL else f"`{command.topic}`"
            return Reply(render.error(
                f"This channel is not subscribed to {what}. See `/mlsd schedule`."
            ))
        names = ", ".join(s.topic for s in stopped)
        return Reply(render.notice(
            f"Unsubscribed from {names}. Open questions still get their reveal; "
            "points and history are kept."
        ), private=False)

    async def _post_now(self, event: SlashCommand, command: Command) -> Reply:
        now = self.rt.clock.now()
        subs = [r for r in await self.rt.store.run(channels.active_subscriptions, event.channel)
                if command.topic in (None, ALL) or r.topic in (command.topic, ALL)]
        if command.topic not in (None, ALL):
            exact = [r for r in subs if r.topic == command.topic]
            subs = exact or subs
        if not subs:
            what = f"`{command.topic}`" if command.topic not in (None, ALL) else "any topic"
            return Reply(render.error(
                f"This channel is not subscribed to {what}: subscribe first, e.g. "
                f"`/mlsd subscribe {command.topic if command.topic not in (None, ALL) else 'serving'}`."
            ))
        lines: list = []
        for sub in subs:
            if sub.paused_reason:
                lines.append(f"{sub.topic}: paused ({sub.paused_reason}); subscribe again to resume.\n")
                continue
            zone = ZoneInfo(sub.timezone)
            today = now.astimezone(zone).date()
            todays = [m for d, m in self.practice.occurrences(
                sub, now - timedelta(days=1), now + timedelta(days=1)) if d == today]
            scheduled_for = todays[0] if todays else now
            result = await self.practice.post_for(sub.id or 0, today, scheduled_for)
            post = result.post
            if result.error:
                lines.append(f"{sub.topic}: could not post ({result.error}).\n")
            elif result.created:
                lines.append(f"{post.topic}: posted today's question ({post.question_id}).\n")
            elif post.status == "skipped":
                lines.append(f"{sub.topic}: today's slot was skipped ({post.skip_reason}).\n")
            else:
                lines += [f"{post.topic}: today's question is already posted ",
                          MessageLink(event.channel.channel, post.message_id or "", "here"),
                          f" ({post.question_id}).\n"]
        if lines and isinstance(lines[-1], str):
            lines[-1] = lines[-1].rstrip("\n")
        return Reply(Message(title=None, sections=(Section(Text.of(*lines)),)), private=True)

    async def _reveal_now(self, event: SlashCommand, command: Command) -> Reply:
        open_ids = await self.rt.store.run(channels.open_post_ids, event.channel)
        revealed = [pid for pid in open_ids if await self.practice.reveal(pid)]
        if not revealed:
            return Reply(render.notice("There is no open question in this channel to reveal."))
        n = len(revealed)
        return Reply(render.notice(f"Revealed {n} question{'s' if n != 1 else ''} in their threads."))

    # ---------------------------------------------------------------- habits

    async def _away(self, event: SlashCommand, command: Command) -> Reply:
        until = await self.habits.set_away(event.channel, event.user_id, command.days_away or 0)
        if until is None:
            return Reply(render.notice("Welcome back! Your streak counts again from the next question."))
        return Reply(Message(title=None, sections=(Section(Text.of(
            "Enjoy the break. Your streak is frozen until ", Timestamp(until, "datetime"),
            ": questions posted until then won't break it. `/mlsd away off` ends it early.")),)))

    async def _remind(self, event: SlashCommand, command: Command) -> Reply:
        await self.habits.set_weekly_summary(event.channel, event.user_id, bool(command.switch))
        if command.switch:
            return Reply(render.notice("You'll get a private summary of your week with each weekly digest."))
        return Reply(render.notice("Weekly summaries are off. `/mlsd remind on` brings them back."))

    async def _reminder(self, event: SlashCommand, command: Command) -> Reply:
        await self.habits.set_reminder(event.channel, command.reminder if command.switch else None)
        if command.reminder:
            minutes = int(command.reminder.total_seconds() // 60)
            return Reply(render.notice(
                f"Each open question here gets a reminder {format_window(minutes)} before its deadline."
            ), private=False)
        return Reply(render.notice("Deadline reminders are off in this channel."), private=False)

    async def _live_board(self, event: SlashCommand, command: Command) -> Reply:
        await self.habits.set_live_board(event.channel, bool(command.switch))
        if command.switch:
            group_id = await self.rt.store.run(channels.group_id, event.channel)
            if group_id is not None:
                await self.habits.refresh_live_board(group_id)
            return Reply(render.notice("Live standings are on: I'll keep one leaderboard message up to "
                                       "date after every reveal."))
        return Reply(render.notice("Live standings are off."))
