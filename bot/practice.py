"""The daily loop: subscriptions, posting each question once, revealing it once.

Exactly-once rests on the database: a post is *claimed* by inserting its row
(unique per subscription and local date) before anything is sent, and
*confirmed* with the platform's message id after. A reveal is claimed by a
conditional UPDATE from `posted` to `revealing`. Whoever loses a claim does
nothing; a claim left behind by a crash is retried once its lease expires.
A sender that hits a platform error releases its claim until `retry_at`
(exponential backoff, never sooner than the platform's Retry-After); a post
not delivered within the catch-up grace is skipped with the reason recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import render
from bot.domain import ChannelRef, Question, Topic
from bot.grading.verdict import Grading
from bot.habits import Habits
from bot.ports import ChannelUnavailable, PlatformError, TransientPlatformError
from bot.runtime import Runtime
from bot.schedule_spec import WEEKDAYS, local_occurrence, parse_time
from bot.scoring import score_answer
from bot.selection import next_question, rotation_topic
from bot.store.db import as_utc
from bot.store.models import (
    AnswerResultRow,
    GroupRow,
    LedgerRow,
    MemberRow,
    PostRow,
    ReplyRow,
    SubscriptionRow,
    VoteRow,
)

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)
LOOKBACK = timedelta(days=7)
ALL = "all"
RETRY_BASE = timedelta(seconds=15)
RETRY_CAP = timedelta(minutes=15)


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait after the `attempts`-th failure: 15s, 30s, 1m ... capped at 15m, never under Retry-After."""
    delay = min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)
    return max(delay, timedelta(seconds=retry_after or 0))


def retryable(claimed_at: Any, retry_at: Any, now: datetime) -> ColumnElement[bool]:
    """SQL condition on a claim's columns: it may be taken over (its sender released it, or died)."""
    return or_(
        and_(col(retry_at).is_not(None), col(retry_at) <= now),
        and_(col(retry_at).is_(None), col(claimed_at) <= now - CLAIM_LEASE),
    )


@dataclass(frozen=True)
class ScheduleSpec:
    at: str = "09:00"
    timezone: str = "UTC"
    days: tuple[str, ...] = WEEKDAYS[:5]
    window: timedelta = timedelta(hours=24)
    blind: bool = False


@dataclass
class DueReport:
    posted: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    revealed: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    digests: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PostResult:
    post: PostRow
    created: bool  # False: it already existed (someone else posted it)
    error: str | None = None


class Practice:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.habits = Habits(rt)

    # ------------------------------------------------------------ subscriptions

    def subscribe(
        self, channel: ChannelRef, topic: str, spec: ScheduleSpec, by: str
    ) -> tuple[SubscriptionRow, str]:
        """Create, update or resume; returns the row and what happened."""
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            group = store.group(s, channel, now)
            existing = s.exec(
                select(SubscriptionRow).where(
                    SubscriptionRow.group_id == group.id, SubscriptionRow.topic == topic
                )
            ).first()
            row = existing or SubscriptionRow(
                group_id=group.id or 0, topic=topic, post_time=spec.at, timezone=spec.timezone,
                days=",".join(spec.days), effective_from=now, updated_at=now, created_by=by,
            )
            if existing is None:
                what = "subscribed"
            elif not existing.active or existing.paused_reason:
                what = "resumed"
            else:
                what = "updated"
            row.post_time = spec.at
            row.timezone = spec.timezone
            row.days = ",".join(spec.days)
            row.window_minutes = int(spec.window.total_seconds() // 60)
            row.blind = spec.blind
            if what != "updated":
                # Only occurrences from now on: subscribing never posts a past slot.
                row.effective_from = now
            row.active = True
            row.paused_reason = None
            row.updated_at = now
            group.timezone = spec.timezone
            s.add(group)
            s.add(row)
            s.flush()
            group_id = group.id or 0
        self.rt.schedule_changed(group_id)
        return row, what

    def unsubscribe(self, channel: ChannelRef, topic: str) -> list[SubscriptionRow]:
        now = self.rt.clock.now()
        with self.rt.store.session() as s:
            group = self.rt.store.find_group(s, channel)
            if group is None:
                return []
            rows = [
                r
                for r in self.rt.store.subscriptions(s, group.id or 0)
                if r.active and (topic == ALL or r.topic == topic)
            ]
            for r in rows:
                r.active = False
                r.updated_at = now
                s.add(r)
            group_id = group.id or 0
        self.rt.schedule_changed(group_id)
        return rows

    def pause(self, subscription_id: int, reason: str) -> None:
        now = self.rt.clock.now()
        with self.rt.store.session() as s:
            row = s.get(SubscriptionRow, subscription_id)
            if row is None:
                return
            if row.active:
                row.paused_reason = reason
                row.updated_at = now
                s.add(row)
            group_id = row.group_id
        self.rt.schedule_changed(group_id)
        log.warning("subscription %s paused: %s", subscription_id, reason)

    def pause_channel(self, channel: ChannelRef, reason: str) -> None:
        with self.rt.store.session() as s:
            group = self.rt.store.find_group(s, channel)
            ids = [r.id for r in self.rt.store.subscriptions(s, group.id or 0)] if group else []
        for sub_id in ids:
            if sub_id is not None:
                self.pause(sub_id, reason)

    # -------------------------------------------------------------- occurrences

    @staticmethod
    def occurrences(
        sub: SubscriptionRow, start: datetime, end: datetime
    ) -> list[tuple[date, datetime]]:
        """Scheduled (local date, UTC moment) pairs in [start, end]."""
        zone = ZoneInfo(sub.timezone)
        at = parse_time(sub.post_time)
        days = set(sub.days.split(","))
        out: list[tuple[date, datetime]] = []
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date()
        while day <= last:
            if WEEKDAYS[day.weekday()] in days:
                moment = local_occurrence(day, at, zone).astimezone(start.tzinfo)
                if start <= moment <= end:
                    out.append((day, moment))
            day += timedelta(days=1)
        return out

    def upcoming(self, platform: str, workspace: str, now: datetime) -> list[tuple[str, str, datetime]]:
        """(channel id, topic, when) of the next post of each active subscription in a workspace."""
        with self.rt.store.session() as s:
            rows = s.exec(
                select(SubscriptionRow, GroupRow)
                .join(GroupRow, GroupRow.id == SubscriptionRow.group_id)  # type: ignore[arg-type]
                .where(GroupRow.platform == platform, GroupRow.workspace == workspace,
                       SubscriptionRow.active == True,  # noqa: E712
                       col(SubscriptionRow.paused_reason).is_(None))
            ).all()
        out = []
        for sub, group in rows:
            nxt = self.next_occurrence(sub, now)
            if nxt:
                out.append((group.channel, sub.topic, nxt))
        return sorted(out, key=lambda x: x[2])

    def next_occurrence(self, sub: SubscriptionRow, after: datetime) -> datetime | None:
        found = self.occurrences(sub, after, after + timedelta(days=8))
        return found[0][1] if found else None

    # ------------------------------------------------------------------- posting

    async def run_due(self, now: datetime | None = None) -> DueReport:
        """Post, skip and reveal whatever is due. Safe to call any number of times."""
        now = now or self.rt.clock.now()
        report = DueReport()
        await self._post_due(now, report)
        await self._retry_stale_claims(now, report)
        await self.reveal_due(now, report)
        return report

    async def post_due(self, now: datetime, subscription_id: int) -> DueReport:
        """Post (or skip) what is due for one subscription: what its scheduled job runs."""
        report = DueReport()
        await self._post_due(now, report, subscription_id)
        return report

    async def _post_due(self, now: datetime, report: DueReport, subscription_id: int | None = None) -> None:
        with self.rt.store.session() as s:
            query = select(SubscriptionRow).where(
                SubscriptionRow.active == True,  # noqa: E712
                col(SubscriptionRow.paused_reason).is_(None),
            )
            if subscription_id is not None:
                query = query.where(SubscriptionRow.id == subscription_id)
            subs = list(s.exec(query))
        for sub in subs:
            try:
                await self._post_due_for(sub, now, report)
            except Exception as exc:  # one broken subscription must not stop the others
                log.exception("posting for subscription %s (group %s, %s) failed", sub.id, sub.group_id, sub.topic)
                report.failed.append(f"subscription {sub.id}: {exc!r}")

    async def _post_due_for(self, sub: SubscriptionRow, now: datetime, report: DueReport) -> None:
        grace = timedelta(minutes=self.rt.settings.catch_up_grace_minutes)
        start = max(as_utc(sub.effective_from) or now, now - LOOKBACK)
        with self.rt.store.session() as s:
            holidays = self.habits.skip_dates(s, sub.id or 0)
        for local_day, moment in self.occurrences(sub, start, now):
            if local_day in holidays:
                # Recorded like a missed slot, so the day reads as "holiday" in history.
                if self._record_skip(sub, local_day, moment, now, reason="holiday (a skip date)"):
                    report.skipped.append(sub.id or 0)
                continue
            if now - moment > grace:
                if self._record_skip(sub, local_day, moment, now):
                    report.skipped.append(sub.id or 0)
                continue
            result = await self.post_for(sub.id or 0, local_day, moment)
            if result.error:
                report.failed.append(result.error)
            elif result.created:
                report.posted.append(result.post.id or 0)

    def _record_skip(
        self, sub: SubscriptionRow, local_day: date, moment: datetime, now: datetime,
        reason: str | None = None,
    ) -> bool:
        hours = (now - moment).total_seconds() / 3600
        row = PostRow(
            subscription_id=sub.id or 0, group_id=sub.group_id, topic=sub.topic,
            local_date=local_day, scheduled_for=moment, deadline=moment, status="skipped",
            claimed_at=now, skip_reason=reason or f"missed by {hours:.1f}h (the bot was not running)",
        )
        try:
            with self.rt.store.session() as s:
                s.add(row)
        except IntegrityError:
            return False
        log.warning("skipped post of subscription %s for %s: %s", sub.id, local_day, row.skip_reason)
        return True

    async def post_for(
        self, subscription_id: int, local_day: date, scheduled_for: datetime
    ) -> PostResult:
        """Claim, send and confirm one post. A second call for the same day does nothing."""
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            sub = s.get(SubscriptionRow, subscription_id)
            if sub is None:
                raise LookupError(f"subscription {subscription_id} does not exist")
            existing = self._existing_post(s, subscription_id, local_day)
            if existing is not None:
                return PostResult(existing, created=False)
            topic = (
                rotation_topic(s, self.rt.bank, subscription_id)
                if sub.topic == ALL
                else Topic(sub.topic)
            )
            question = next_question(s, self.rt.bank, sub.group_id, topic) if topic else None
            if question is None:
                return PostResult(
                    PostRow(subscription_id=subscription_id, group_id=sub.group_id, topic=sub.topic,
                            local_date=local_day, scheduled_for=scheduled_for,
                            deadline=scheduled_for, claimed_at=now),
                    created=False,
                    error=f"no questions loaded for topic {sub.topic}",
                )
            window = timedelta(minutes=sub.window_minutes)
            post = PostRow(
                subscription_id=subscription_id, group_id=sub.group_id, topic=question.topic.value,
                question_id=question.id, local_date=local_day, scheduled_for=scheduled_for,
                deadline=max(scheduled_for, now) + window, status="claimed", claimed_at=now,
                blind=sub.blind,
            )
        try:
            with store.session() as s:
                s.add(post)
        except IntegrityError:
            with store.session() as s:
                existing = self._existing_post(s, subscription_id, local_day)
            assert existing is not None
            return PostResult(existing, created=False)
        error = await self._send_post(post, question)
        if error is None:
            await self._after_post(subscription_id, question.topic)
        return PostResult(post, created=error is None, error=error)

    async def _after_post(self, subscription_id: int, topic: Topic) -> None:
        """Best-effort follow-ups of a post; they never undo or fail the post itself."""
        try:
            await self.habits.warn_if_bank_low(subscription_id, topic)
        except Exception:
            log.exception("low-bank check after a post of subscription %s failed", subscription_id)

    @staticmethod
    def _existing_post(s: Session, subscription_id: int, local_day: date) -> PostRow | None:
        return s.exec(
            select(PostRow).where(
                PostRow.subscription_id == subscription_id, PostRow.local_date == local_day
            )
        ).first()

    async def _send_post(self, post: PostRow, question: Question) -> str | None:
        with self.rt.store.session() as s:
            group = s.get(GroupRow, post.group_id)
            assert group is not None
            channel = self.rt.store.channel_of(group)
        message = render.daily_post(question, post)
        try:
            posted = await self.rt.port(channel.platform).send(channel, message)
        except ChannelUnavailable as exc:
            self._skip_claim(post, f"channel unavailable: {exc.reason}")
            self.pause(post.subscription_id, exc.reason)
            return f"post {post.id}: channel unavailable ({exc.reason})"
        except (TransientPlatformError, PlatformError, LookupError) as exc:
            retry_at = self._defer(post.id or 0, "claimed", post.claimed_at, exc)
            log.warning("post %s not sent yet (%s); retrying at %s", post.id, exc, retry_at)
            return f"post {post.id}: {exc}"
        with self.rt.store.session() as s:
            row = s.get(PostRow, post.id)
            assert row is not None
            row.status = "posted"
            row.message_id = posted.message_id
            row.thread_id = posted.thread_id
            row.posted_at = self.rt.clock.now()
            row.attempts, row.retry_at = 0, None
            s.add(row)
        post.status, post.message_id, post.thread_id = "posted", posted.message_id, posted.thread_id
        log.info("posted %s to %s (post %s)", question.id, channel.channel, post.id)
        return None

    def _skip_claim(self, post: PostRow, reason: str) -> None:
        with self.rt.store.session() as s:
            row = s.get(PostRow, post.id)
            if row and row.status == "claimed":
                row.status = "skipped"
                row.skip_reason = reason
                s.add(row)

    def _defer(self, post_id: int, status: str, claimed_at: datetime | None, exc: Exception) -> datetime:
        """Release a claim after a platform error until a backoff has passed; returns when."""
        now = self.rt.clock.now()
        with self.rt.store.session() as s:
            row = s.get(PostRow, post_id)
            if row is None or row.status != status:
                return now
            mine = row.claimed_at if status == "claimed" else row.reveal_claimed_at
            if as_utc(mine) != as_utc(claimed_at):
                return now  # someone else took the claim over meanwhile: theirs to finish
            row.attempts += 1
            row.retry_at = now + backoff(row.attempts, getattr(exc, "retry_after", None))
            row.last_error = f"{type(exc).__name__}: {exc}"[:200]
            s.add(row)
            return row.retry_at

    async def _retry_stale_claims(self, now: datetime, report: DueReport) -> None:
        """A claim whose sender died or hit a platform error is sent again, within the grace."""
        grace = timedelta(minutes=self.rt.settings.catch_up_grace_minutes)
        with self.rt.store.session() as s:
            stale = list(
                s.exec(
                    select(PostRow).where(
                        PostRow.status == "claimed", retryable(PostRow.claimed_at, PostRow.retry_at, now)
                    )
                )
            )
        for post in stale:
            late = now - (as_utc(post.scheduled_for) or now)
            if late > grace:
                why = post.last_error or "the bot stopped while posting"
                self._skip_claim(post, f"not delivered within {late.total_seconds() / 3600:.1f}h ({why})"[:200])
                report.skipped.append(post.subscription_id)
                continue
            if self._renew_claim(post, now) and post.question_id in self.rt.bank.questions:
                error = await self._send_post(post, self.rt.bank.questions[post.question_id])
                if error:
                    report.failed.append(error)
                else:
                    report.posted.append(post.id or 0)

    def _renew_claim(self, post: PostRow, now: datetime) -> bool:
        with self.rt.store.session() as s:
            result = s.execute(
                update(PostRow)
                .where(
                    col(PostRow.id) == post.id,
                    col(PostRow.status) == "claimed",
                    retryable(PostRow.claimed_at, PostRow.retry_at, now),
                )
                .values(claimed_at=now, retry_at=None)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
        post.claimed_at = now
        return True

    # -------------------------------------------------------------------- reveal

    async def reveal_due(
        self, now: datetime, report: DueReport | None = None, post_id: int | None = None
    ) -> list[int]:
        """Reveal every post past its deadline (or just `post_id`), and retry reveals left unfinished."""
        only = [col(PostRow.id) == post_id] if post_id is not None else []
        with self.rt.store.session() as s:
            due = list(
                s.exec(
                    select(PostRow.id).where(
                        PostRow.status == "posted", col(PostRow.deadline) <= now, *only
                    )
                )
            )
            stale = list(
                s.exec(
                    select(PostRow.id).where(
                        PostRow.status == "revealing",
                        retryable(PostRow.reveal_claimed_at, PostRow.retry_at, now),
                        *only,
                    )
                )
            )
        done: list[int] = []
        for pid in [*due, *stale]:
            try:
                if pid is not None and await self.reveal(pid):
                    done.append(pid)
            except Exception as exc:  # one broken reveal must not stop the others
                log.exception("reveal of post %s failed", pid)
                if report is not None:
                    report.failed.append(f"reveal {pid}: {exc!r}")
        if report is not None:
            report.revealed.extend(done)
        return done

    async def reveal(self, post_id: int) -> bool:
        """Score and reveal one post. Returns False if another caller already did."""
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            claimed = s.execute(
                update(PostRow)
                .where(
                    col(PostRow.id) == post_id,
                    (col(PostRow.status) == "posted")
                    | (
                        (col(PostRow.status) == "revealing")
                        & retryable(PostRow.reveal_claimed_at, PostRow.retry_at, now)
                    ),
                )
                .values(status="revealing", reveal_claimed_at=now, retry_at=None)
            ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            return False
        with store.session() as s:
            post = s.get(PostRow, post_id)
            assert post is not None
            group = s.get(GroupRow, post.group_id)
            assert group is not None
            channel = store.channel_of(group)
            question = self.rt.bank.questions.get(post.question_id or "")
            answers = self._gather(s, post) if question else []
        results: list[render.MemberResult] = []
        if question is not None:
            # Grading runs with no session open and off the event loop (a worker thread,
            # or the LLM endpoint's own I/O), so one slow grading never holds a lock or an ack.
            gradings = await self._grade(question, answers)
            with store.session() as s:
                post = s.get(PostRow, post_id)
                assert post is not None
                results = self._score(s, post, question, answers, gradings, now)
        if question is None:
            log.error("post %s: question %s is no longer loaded", post_id, post.question_id)
        else:
            message = render.reveal(question, results, blind=post.blind)
            try:
                await self.rt.port(channel.platform).reply(channel, post.thread_id or "", message)
            except ChannelUnavailable as exc:
                self.pause(post.subscription_id, exc.reason)
            except (PlatformError, LookupError) as exc:
                retry_at = self._defer(post_id, "revealing", now, exc)
                log.warning("reveal of post %s not sent (%s); retrying at %s", post_id, exc, retry_at)
                return False
        with store.session() as s:
            row = s.get(PostRow, post_id)
            assert row is not None
            row.status = "revealed"
            row.revealed_at = now
            s.add(row)
        try:
            await self.habits.refresh_live_board(post.group_id)
        except Exception:
            log.exception("live board of group %s not refreshed after reveal %s", post.group_id, post_id)
        return True

    def _gather(self, s: Session, post: PostRow) -> list[_Answer]:
        """Each member's answer as it stands at the reveal, and any grading already stored."""
        replies = list(
            s.exec(
                select(ReplyRow)
                .where(ReplyRow.post_id == post.id, ReplyRow.deleted == False)  # noqa: E712
                .order_by(col(ReplyRow.at), col(ReplyRow.id))
            )
        )
        by_member: dict[int, list[ReplyRow]] = {}
        for r in replies:
            if r.is_answer:
                by_member.setdefault(r.member_id, []).append(r)
        votes = self._votes(s, post, replies)
        stored = {
            row.member_id: row
            for row in s.exec(select(AnswerResultRow).where(AnswerResultRow.post_id == post.id))
        }
        answers: list[_Answer] = []
        for member_id, parts in by_member.items():
            member = s.get(MemberRow, member_id)
            assert member is not None
            on_time = [p for p in parts if not p.late]
            existing = stored.get(member_id)
            answers.append(_Answer(
                member_id=member_id, user_id=member.user_id,
                text="\n".join(p.text for p in (on_time or parts)), late=not on_time,
                private=any(p.private for p in parts), votes=votes.get(member_id, 0),
                stored=_stored_grading(existing) if existing else None,
            ))
        return answers

    async def _grade(self, question: Question, answers: list[_Answer]) -> list[Grading]:
        """Grade what is not graded yet; a retried reveal reuses the verdicts it stored."""
        todo = [a for a in answers if a.stored is None]
        fresh = iter(await self.rt.grading.grade_many(question, [a.text for a in todo]))
        return [a.stored if a.stored is not None else next(fresh) for a in answers]

    def _score(
        self, s: Session, post: PostRow, question: Question, answers: list[_Answer],
        gradings: list[Grading], now: datetime,
    ) -> list[render.MemberResult]:
        """Write results and ledger rows once; on a retried reveal, what is stored stands."""
        scoring = self.rt.settings.scoring
        results: list[render.MemberResult] = []
        for answer, grading in zip(answers, gradings, strict=True):
            score = score_answer(scoring, grading.ratio, answer.votes, answer.late)
            if answer.stored is None:
                s.add(AnswerResultRow(
                    post_id=post.id or 0, group_id=post.group_id, member_id=answer.member_id,
                    question_id=question.id, topic=question.topic.value,
                    covered=",".join("1" if c else "0" for c in grading.covered),
                    coverage=grading.ratio, grading=grading.to_json(), late=answer.late,
                    votes=answer.votes, points=score.total, at=now,
                ))
                for reason, points in (
                    ("answer", score.on_time), ("coverage", score.coverage), ("votes", score.votes)
                ):
                    if points:
                        s.add(LedgerRow(group_id=post.group_id, member_id=answer.member_id,
                                        reason=reason, points=points, at=now, ref=f"post:{post.id}"))
            results.append(render.MemberResult(
                user_id=answer.user_id, grading=grading, late=answer.late, votes=answer.votes,
                points=score.total, answer_text=answer.text, private=answer.private,
            ))
        results.sort(key=lambda r: (r.late, -r.points, r.user_id))
        return results

    @staticmethod
    def _votes(s: Session, post: PostRow, live_replies: list[ReplyRow]) -> dict[int, int]:
        """Distinct voters per answer author, counting only votes on live answer replies."""
        answer_ids = {r.message_id for r in live_replies if r.is_answer}
        voters: dict[int, set[int]] = {}
        for v in s.exec(select(VoteRow).where(VoteRow.post_id == post.id)):
            if v.message_id in answer_ids and v.voter_id != v.target_id:
                voters.setdefault(v.target_id, set()).add(v.voter_id)
        return {member: len(vs) for member, vs in voters.items()}


@dataclass(frozen=True)
class _Answer:
    """One member's answer at the reveal: the joined text and what scoring needs beside it."""

    member_id: int
    user_id: str
    text: str
    late: bool
    private: bool
    votes: int
    stored: Grading | None  # set when a retried reveal already wrote this member's result


def _stored_grading(row: AnswerResultRow) -> Grading:
    if row.grading:
        return Grading.from_json(row.grading)
    return Grading.from_flags(tuple(flag == "1" for flag in row.covered.split(",") if flag))
