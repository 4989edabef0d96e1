"""The team's habits around the daily loop: vacations, holidays, reminders,
opt-in summaries, the live standings message and the low-bank notice.

Every hook here is best effort around the loop that must never fail: a
reminder or a board update that cannot be sent is logged and dropped, never
allowed to stop a post or a reveal. Queries live in `bot.store.habit_prefs`
and `bot.store.reminders`; each runs as one unit of work off the event loop.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from bot import render
from bot.domain import ChannelRef, Message, MessageKind, Section, Text, Timestamp, Topic
from bot.ports import PlatformError
from bot.runtime import Runtime
from bot.store import habit_prefs, reminders

log = logging.getLogger(__name__)

LOW_BANK_THRESHOLD = 2  # unused questions left on a topic when admins are told


class Habits:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # ------------------------------------------------------------ member side

    async def set_away(self, channel: ChannelRef, user_id: str, days: int) -> datetime | None:
        """Start (or with days=0, end) a vacation; returns when it ends."""
        return await self.rt.store.run(habit_prefs.set_away, channel, user_id, days,
                                       self.rt.clock.now())

    async def set_weekly_summary(self, channel: ChannelRef, user_id: str, on: bool) -> None:
        await self.rt.store.run(habit_prefs.set_weekly_summary, channel, user_id, on)

    # ----------------------------------------------------------- channel side

    async def set_reminder(self, channel: ChannelRef, before: timedelta | None) -> None:
        minutes = int(before.total_seconds() // 60) if before else None
        group_id = await self.rt.store.run(habit_prefs.set_reminder, channel, minutes,
                                           self.rt.clock.now())
        self.rt.schedule_changed(group_id)

    async def set_digest_slot(self, channel: ChannelRef, weekday: int, at: str | None) -> None:
        """When this channel's weekly digest goes out (its own time zone); the time defaults to config."""
        group_id = await self.rt.store.run(habit_prefs.set_digest_slot, channel, weekday, at,
                                           self.rt.clock.now())
        self.rt.schedule_changed(group_id)

    async def set_live_board(self, channel: ChannelRef, on: bool) -> None:
        await self.rt.store.run(habit_prefs.set_live_board, channel, on, self.rt.clock.now())

    async def add_skip_dates(self, subscription_id: int, dates: tuple[date, ...]) -> None:
        await self.rt.store.run(habit_prefs.add_skip_dates, subscription_id, dates)

    # ------------------------------------------------------------- reminders

    async def send_due_reminders(self, now: datetime, post_id: int | None = None) -> list[int]:
        """Post "N left" in each open thread whose channel asked for a reminder."""
        sent: list[int] = []
        for due in await self.rt.store.run(reminders.due, now, post_id):
            if not await self.rt.store.run(reminders.claim, due.post_id, now):
                continue
            message = Message(
                title=None,
                sections=(Section(Text.of(f"⏰ {_left(due.deadline - now)} left to answer: the reveal is ",
                                          Timestamp(due.deadline), ".")),),
                kind=MessageKind.REMINDER,
            )
            try:
                await self.rt.port(due.channel.platform).reply(due.channel, due.thread_id, message)
                sent.append(due.post_id)
            except (PlatformError, LookupError) as exc:
                log.warning("reminder for post %s not sent: %s", due.post_id, exc)
        return sent

    # ------------------------------------------------------------ live board

    async def refresh_live_board(self, group_id: int) -> None:
        """Edit the channel's one standings message (post it the first time)."""
        from bot.standings import Standings  # standings imports nothing from here

        board_at = await self.rt.store.run(habit_prefs.live_board, group_id)
        if board_at is None:
            return
        channel = board_at.channel
        board = await Standings(self.rt).leaderboard(channel, "week", None)
        message = render.leaderboard(board)
        message = Message(title=f"{message.title} (updated after every reveal)", sections=message.sections,
                          kind=MessageKind.LEADERBOARD)
        port = self.rt.port(channel.platform)
        try:
            if board_at.message_id:
                await port.update(channel, board_at.message_id, message)
                return
            posted = await port.send(channel, message)
        except (PlatformError, LookupError) as exc:
            log.warning("live board of group %s not updated: %s", group_id, exc)
            return
        await self.rt.store.run(habit_prefs.save_live_board, group_id, posted.message_id)

    # ------------------------------------------------------- weekly summaries

    async def send_weekly_summaries(self, group_id: int, week: date) -> list[str]:
        """Each opted-in member who practises in this channel gets their stats, privately, once a week."""
        from bot import charts
        from bot.standings import Standings

        found = await self.rt.store.run(habit_prefs.summary_recipients, group_id)
        if found is None:
            return []
        channel, users = found
        standings = Standings(self.rt)
        sent: list[str] = []
        for user_id in users:
            if not await self._claim_notice(group_id, f"summary:{week.isoformat()}:{user_id}"):
                continue
            stats = await standings.member_stats(channel, user_id)
            message = render.stats(stats, await charts.stats_chart(stats))
            message = Message(title=f"Your week in practice (week of {week:%d %b})",
                              sections=message.sections, image=message.image, kind=MessageKind.STATS)
            try:
                await self.rt.port(channel.platform).send_private(channel, user_id, message)
                sent.append(user_id)
            except (PlatformError, LookupError) as exc:
                log.warning("weekly summary for %s not sent: %s", user_id, exc)
        return sent

    async def _claim_notice(self, group_id: int, key: str) -> bool:
        return await self.rt.store.run(habit_prefs.claim_notice, group_id, key, self.rt.clock.now())

    # -------------------------------------------------------------- low bank

    async def warn_if_bank_low(self, subscription_id: int, topic: Topic) -> bool:
        """Tell the subscribing admin, once, when a topic is nearly out of fresh questions."""
        state = await self.rt.store.run(habit_prefs.bank_left, self.rt.bank, subscription_id, topic)
        if state is None or state.left > LOW_BANK_THRESHOLD:
            return False
        if not await self._claim_notice(state.group_id, f"low-bank:{topic.value}"):
            return False
        channel = state.channel
        total = len(self.rt.bank.questions_for(topic))
        text = (f"Heads-up: only {state.left} of the {total} {topic.title} questions have not been posted "
                "here yet. After that, the questions this channel covered worst come back first. "
                "Add your own with a content pack (see `mlsd-bot content validate`).")
        try:
            if state.admin:
                await self.rt.port(channel.platform).send_private(channel, state.admin, render.notice(text))
        except (PlatformError, LookupError) as exc:
            log.warning("low-bank notice for group %s not sent: %s", state.group_id, exc)
        return True


def _left(delta: timedelta) -> str:
    minutes = max(1, round(delta.total_seconds() / 60))
    if minutes % 60 == 0 or minutes >= 120:
        hours = round(minutes / 60)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
