"""The team's habits around the daily loop: vacations, holidays, reminders,
opt-in summaries, the live standings message and the low-bank notice.

Every hook here is best effort around the loop that must never fail: a
reminder or a board update that cannot be sent is logged and dropped, never
allowed to stop a post or a reveal.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import render
from bot.domain import ChannelRef, Message, MessageKind, Section, Text, Timestamp, Topic
from bot.ports import PlatformError
from bot.runtime import Runtime
from bot.selection import unused_count
from bot.store.db import as_utc
from bot.store.habits import (
    AwayRow,
    GroupOptionRow,
    MemberPrefRow,
    NoticeRow,
    ReminderRow,
    SkipDateRow,
)
from bot.store.models import GroupRow, MemberRow, PostRow, ReplyRow, SubscriptionRow

log = logging.getLogger(__name__)

LOW_BANK_THRESHOLD = 2  # unused questions left on a topic when admins are told


class Habits:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # ------------------------------------------------------------ member side

    def set_away(self, channel: ChannelRef, user_id: str, days: int) -> datetime | None:
        """Start (or with days=0, end) a vacation; returns when it ends."""
        now = self.rt.clock.now()
        with self.rt.store.session() as s:
            member = self.rt.store.member(s, channel, user_id)
            current = self._current_away(s, member.id or 0, now)
            if days == 0:
                if current is not None:
                    current.ends_at = now
                    s.add(current)
                return None
            ends = now + timedelta(days=days)
            if current is not None:
                current.ends_at = ends
                s.add(current)
            else:
                s.add(AwayRow(member_id=member.id or 0, starts_at=now, ends_at=ends))
            return ends

    @staticmethod
    def _current_away(s: Session, member_id: int, now: datetime) -> AwayRow | None:
        return s.exec(
            select(AwayRow).where(AwayRow.member_id == member_id, col(AwayRow.starts_at) <= now,
                                  col(AwayRow.ends_at) > now)
        ).first()

    def set_weekly_summary(self, channel: ChannelRef, user_id: str, on: bool) -> None:
        with self.rt.store.session() as s:
            member = self.rt.store.member(s, channel, user_id)
            pref = s.get(MemberPrefRow, member.id) or MemberPrefRow(member_id=member.id or 0)
            pref.weekly_summary = on
            s.add(pref)

    # ----------------------------------------------------------- channel side

    def options(self, s: Session, group_id: int) -> GroupOptionRow:
        return s.get(GroupOptionRow, group_id) or GroupOptionRow(group_id=group_id)

    def set_reminder(self, channel: ChannelRef, before: timedelta | None) -> None:
        with self.rt.store.session() as s:
            group = self.rt.store.group(s, channel, self.rt.clock.now())
            opts = self.options(s, group.id or 0)
            opts.reminder_minutes = int(before.total_seconds() // 60) if before else None
            s.add(opts)
            group_id = group.id or 0
        self.rt.schedule_changed(group_id)

    def set_digest_slot(self, channel: ChannelRef, weekday: int, at: str | None) -> None:
        """When this channel's weekly digest goes out (its own time zone); the time defaults to config."""
        with self.rt.store.session() as s:
            group = self.rt.store.group(s, channel, self.rt.clock.now())
            group.digest_weekday = weekday
            if at is not None:
                group.digest_time = at
            s.add(group)
            group_id = group.id or 0
        self.rt.schedule_changed(group_id)

    def set_live_board(self, channel: ChannelRef, on: bool) -> None:
        with self.rt.store.session() as s:
            group = self.rt.store.group(s, channel, self.rt.clock.now())
            opts = self.options(s, group.id or 0)
            opts.live_board = on
            if not on:
                opts.live_board_message_id = None
            s.add(opts)

    def add_skip_dates(self, subscription_id: int, dates: tuple[date, ...]) -> None:
        with self.rt.store.session() as s:
            existing = set(s.exec(select(SkipDateRow.local_date).where(
                SkipDateRow.subscription_id == subscription_id)).all())
            for day in dates:
                if day not in existing:
                    s.add(SkipDateRow(subscription_id=subscription_id, local_date=day))

    def skip_dates(self, s: Session, subscription_id: int) -> set[date]:
        return set(s.exec(select(SkipDateRow.local_date).where(
            SkipDateRow.subscription_id == subscription_id)).all())

    # ------------------------------------------------------------- reminders

    async def send_due_reminders(self, now: datetime, post_id: int | None = None) -> list[int]:
        """Post "N left" in each open thread whose channel asked for a reminder."""
        with self.rt.store.session() as s:
            query = (
                select(PostRow, GroupOptionRow, GroupRow)
                .join(GroupOptionRow, GroupOptionRow.group_id == PostRow.group_id)  # type: ignore[arg-type]
                .join(GroupRow, GroupRow.id == PostRow.group_id)  # type: ignore[arg-type]
                .where(PostRow.status == "posted", col(GroupOptionRow.reminder_minutes).is_not(None),
                       col(PostRow.deadline) > now)
            )
            if post_id is not None:
                query = query.where(PostRow.id == post_id)
            rows = s.exec(query).all()
        sent: list[int] = []
        for post, opts, group in rows:
            deadline = as_utc(post.deadline) or now
            if deadline - timedelta(minutes=opts.reminder_minutes or 0) > now or post.id is None:
                continue
            if not self._claim_reminder(post.id, now):
                continue
            message = Message(
                title=None,
                sections=(Section(Text.of(f"⏰ {_left(deadline - now)} left to answer: the reveal is ",
                                          Timestamp(deadline), ".")),),
                kind=MessageKind.REMINDER,
            )
            channel = self.rt.store.channel_of(group)
            try:
                await self.rt.port(channel.platform).reply(channel, post.thread_id or "", message)
                sent.append(post.id)
            except (PlatformError, LookupError) as exc:
                log.warning("reminder for post %s not sent: %s", post.id, exc)
        return sent

    def _claim_reminder(self, post_id: int, now: datetime) -> bool:
        try:
            with self.rt.store.session() as s:
                s.add(ReminderRow(post_id=post_id, at=now))
        except IntegrityError:
            return False
        return True

    def reminder_times(self, s: Session) -> list[tuple[int, datetime]]:
        """(post id, when its reminder falls due) for open posts not yet reminded: the scheduler's jobs."""
        rows = s.exec(
            select(PostRow.id, PostRow.deadline, GroupOptionRow.reminder_minutes)
            .join(GroupOptionRow, GroupOptionRow.group_id == PostRow.group_id)  # type: ignore[arg-type]
            .outerjoin(ReminderRow, ReminderRow.post_id == PostRow.id)  # type: ignore[arg-type]
            .where(PostRow.status == "posted", col(GroupOptionRow.reminder_minutes).is_not(None),
                   col(ReminderRow.post_id).is_(None))
            .order_by(col(PostRow.id))
        ).all()
        return [(pid or 0, (as_utc(d) or d) - timedelta(minutes=m or 0)) for pid, d, m in rows]

    # ------------------------------------------------------------ live board

    async def refresh_live_board(self, group_id: int) -> None:
        """Edit the channel's one standings message (post it the first time)."""
        from bot.standings import Standings  # standings imports nothing from here

        with self.rt.store.session() as s:
            opts = s.get(GroupOptionRow, group_id)
            group = s.get(GroupRow, group_id)
            if opts is None or not opts.live_board or group is None:
                return
            message_id = opts.live_board_message_id
        channel = self.rt.store.channel_of(group)
        board = Standings(self.rt).leaderboard(channel, "week", None)
        message = render.leaderboard(board)
        message = Message(title=f"{message.title} (updated after every reveal)", sections=message.sections,
                          kind=MessageKind.LEADERBOARD)
        port = self.rt.port(channel.platform)
        try:
            if message_id:
                await port.update(channel, message_id, message)
                return
            posted = await port.send(channel, message)
        except (PlatformError, LookupError) as exc:
            log.warning("live board of group %s not updated: %s", group_id, exc)
            return
        with self.rt.store.session() as s:
            opts = s.get(GroupOptionRow, group_id)
            if opts is not None:
                opts.live_board_message_id = posted.message_id
                s.add(opts)

    # ------------------------------------------------------- weekly summaries

    async def send_weekly_summaries(self, group_id: int, week: date) -> list[str]:
        """Each opted-in member who practises in this channel gets their stats, privately, once a week."""
        from bot import charts
        from bot.standings import Standings

        with self.rt.store.session() as s:
            group = s.get(GroupRow, group_id)
            if group is None:
                return []
            members = s.exec(
                select(MemberRow)
                .join(MemberPrefRow, MemberPrefRow.member_id == MemberRow.id)  # type: ignore[arg-type]
                .join(ReplyRow, ReplyRow.member_id == MemberRow.id)  # type: ignore[arg-type]
                .join(PostRow, PostRow.id == ReplyRow.post_id)  # type: ignore[arg-type]
                .where(MemberPrefRow.weekly_summary == True, PostRow.group_id == group_id)  # noqa: E712
                .distinct()
            ).all()
        channel = self.rt.store.channel_of(group)
        standings = Standings(self.rt)
        sent: list[str] = []
        for member in members:
            if not self._claim_notice(group_id, f"summary:{week.isoformat()}:{member.id}"):
                continue
            stats = standings.member_stats(channel, member.user_id)
            message = render.stats(stats, charts.stats_chart(stats))
            message = Message(title=f"Your week in practice (week of {week:%d %b})",
                              sections=message.sections, image=message.image, kind=MessageKind.STATS)
            try:
                await self.rt.port(channel.platform).send_private(channel, member.user_id, message)
                sent.append(member.user_id)
            except (PlatformError, LookupError) as exc:
                log.warning("weekly summary for %s not sent: %s", member.user_id, exc)
        return sent

    def _claim_notice(self, group_id: int, key: str) -> bool:
        try:
            with self.rt.store.session() as s:
                s.add(NoticeRow(group_id=group_id, key=key, at=self.rt.clock.now()))
        except IntegrityError:
            return False
        return True

    # -------------------------------------------------------------- low bank

    async def warn_if_bank_low(self, subscription_id: int, topic: Topic) -> bool:
        """Tell the subscribing admin, once, when a topic is nearly out of fresh questions."""
        with self.rt.store.session() as s:
            sub = s.get(SubscriptionRow, subscription_id)
            if sub is None:
                return False
            group = s.get(GroupRow, sub.group_id)
            left = unused_count(s, self.rt.bank, sub.group_id, topic)
            admin = sub.created_by
        if group is None or left > LOW_BANK_THRESHOLD:
            return False
        if not self._claim_notice(sub.group_id, f"low-bank:{topic.value}"):
            return False
        channel = self.rt.store.channel_of(group)
        total = len(self.rt.bank.questions_for(topic))
        text = (f"Heads-up: only {left} of the {total} {topic.title} questions have not been posted "
                "here yet. After that, the questions this channel covered worst come back first. "
                "Add your own with a content pack (see `mlsd-bot content validate`).")
        try:
            if admin:
                await self.rt.port(channel.platform).send_private(channel, admin, render.notice(text))
        except (PlatformError, LookupError) as exc:
            log.warning("low-bank notice for group %s not sent: %s", sub.group_id, exc)
        return True


def _left(delta: timedelta) -> str:
    minutes = max(1, round(delta.total_seconds() / 60))
    if minutes % 60 == 0 or minutes >= 120:
        hours = round(minutes / 60)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
