"""The daily loop: subscriptions, posting each question once, revealing it once.

Exactly-once rests on the database (`bot.store.posts`, `bot.store.claims`): a
post is *claimed* by inserting its row (unique per subscription and local date)
before anything is sent, and *confirmed* with the platform's message id after.
A reveal is claimed by a conditional UPDATE from `posted` to `revealing`.
Whoever loses a claim does nothing; a claim left behind by a crash is retried
once its lease expires. A sender that hits a platform error defers its claim
until `retry_at` (exponential backoff, never sooner than the platform's
Retry-After); a post not delivered within the catch-up grace is skipped with
the reason recorded.

Fan-out: when many subscriptions are due at once, the due slots are claimed in
batches (one unit of work each) and sent concurrently, at most
`FANOUT_CONCURRENCY` platform calls in flight and one at a time per channel;
each is confirmed in its own small unit as its send returns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot import render
from bot.domain import ChannelRef, Question
from bot.grading.verdict import Grading
from bot.habits import LOW_BANK_THRESHOLD, Habits
from bot.ports import ChannelUnavailable, PlatformError, TransientPlatformError
from bot.runtime import Runtime
from bot.schedule_spec import WEEKDAYS, local_occurrence, parse_time
from bot.scoring import score_answer
from bot.selection import ALL
from bot.store import posts, subscriptions
from bot.store.db import as_utc
from bot.store.records import Post, Subscription

__all__ = ["ALL", "DueReport", "PostResult", "Practice", "ScheduleSpec"]

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=7)
# Platform calls in flight at once across all channels. With a platform answering in
# 50 ms, 50 in flight post about 1,000 messages a second, so a thousand channels due
# the same minute are out in about a second of sending and the rest of a 5 s budget
# is left to the database; and it stays under aiohttp's default pool of 100
# connections (slack-sdk) instead of queueing a thousand requests on it. Discord's
# 50 requests a second are paced by its adapter's own limiter.
FANOUT_CONCURRENCY = 50
# Slots claimed per unit of work during a fan-out: sending starts after the first
# batch instead of after all, and other units (commands, answers) interleave.
CLAIM_BATCH = 50

T = TypeVar("T")


@dataclass(frozen=True)
class ScheduleSpec:
    at: str = "09:00"
    timezone: str = "UTC"
    days: tuple[str, ...] = WEEKDAYS[:5]
    window: timedelta = timedelta(hours=24)
    blind: bool = False

    @property
    def window_minutes(self) -> int:
        return int(self.window.total_seconds() // 60)


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
    post: Post
    created: bool  # False: it already existed (someone else posted it)
    error: str | None = None


class Practice:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.habits = Habits(rt)
        self._sending = asyncio.Semaphore(FANOUT_CONCURRENCY)
        # Slack takes about one message a second per channel: a channel's messages go one
        # after another, different channels side by side.
        self._channel_locks: weakref.WeakValueDictionary[ChannelRef, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    @asynccontextmanager
    async def _pace(self, channel: ChannelRef) -> AsyncIterator[None]:
        """Hold one of the fan-out's send slots, and the channel's turn."""
        lock = self._channel_locks.get(channel)
        if lock is None:
            lock = self._channel_locks[channel] = asyncio.Lock()
        async with lock, self._sending:
            yield

    # ------------------------------------------------------------ subscriptions

    async def subscribe(
        self, channel: ChannelRef, topic: str, spec_for: Callable[[Subscription | None], ScheduleSpec], by: str
    ) -> tuple[Subscription, str]:
        """Create, update or resume; returns the row and what happened.

        `spec_for` turns the channel's current subscription to the topic (None: none)
        into the schedule wanted; it is read and written in one unit of work."""
        row, what = await self.rt.store.run(
            subscriptions.subscribe, channel, topic, spec_for, by=by, now=self.rt.clock.now())
        self.rt.schedule_changed(row.group_id)
        return row, what

    async def unsubscribe(self, channel: ChannelRef, topic: str) -> list[Subscription]:
        rows, group_id = await self.rt.store.run(subscriptions.unsubscribe, channel, topic, self.rt.clock.now())
        if group_id is not None:
            self.rt.schedule_changed(group_id)
        return rows

    async def pause(self, subscription_id: int, reason: str) -> None:
        group_id = await self.rt.store.run(subscriptions.pause, subscription_id, reason, self.rt.clock.now())
        if group_id is None:
            return
        self.rt.schedule_changed(group_id)
        log.warning("subscription %s paused: %s", subscription_id, reason)

    async def pause_channel(self, channel: ChannelRef, reason: str) -> None:
        group_id, ids = await self.rt.store.run(
            subscriptions.pause_channel, channel, reason, self.rt.clock.now())
        if group_id is None:
            return
        self.rt.schedule_changed(group_id)
        log.warning("subscriptions %s paused: %s", ids, reason)

    # -------------------------------------------------------------- occurrences

    @staticmethod
    def occurrences(
        sub: Subscription, start: datetime, end: datetime
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

    async def upcoming(self, platform: str, workspace: str, now: datetime) -> list[tuple[str, str, datetime]]:
        """(channel id, topic, when) of the next post of each active subscription in a workspace."""
        rows = await self.rt.store.run(subscriptions.active_in_workspace, platform, workspace)
        out = []
        for sub, channel in rows:
            nxt = self.next_occurrence(sub, now)
            if nxt:
                out.append((channel, sub.topic, nxt))
        return sorted(out, key=lambda x: x[2])

    def next_occurrence(self, sub: Subscription, after: datetime) -> datetime | None:
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

    async def post_due(self, now: datetime, subscription_ids: Collection[int]) -> DueReport:
        """Post (or skip) what is due for these subscriptions: what their scheduled jobs run.

        Jobs that fire in the same moment come here together (the scheduler gathers
        them), so a thousand channels due at 09:00 are one read and one fan-out."""
        report = DueReport()
        await self._post_due(now, report, subscription_ids)
        return report

    def _plan(self, due: posts.DueSubscription, now: datetime) -> list[posts.Slot]:
        """The rule for one subscription's slots up to now: post within the grace, else record a skip.

        Runs inside the store's read of what is due (pure: no I/O)."""
        sub = due.sub
        grace = timedelta(minutes=self.rt.settings.catch_up_grace_minutes)
        start = max(as_utc(sub.effective_from) or now, now - LOOKBACK)
        slots: list[posts.Slot] = []
        try:
            occurrences = self.occurrences(sub, start, now)
        except Exception:  # one broken subscription (a zone no longer known) must not stop the others
            log.exception("subscription %s (group %s, %s): cannot compute its slots", sub.id, sub.group_id, sub.topic)
            return []
        for local_day, moment in occurrences:
            if local_day in due.taken:
                continue  # posted, claimed or skipped already
            reason = None
            if local_day in due.holidays:
                # Recorded like a missed slot, so the day reads as "holiday" in history.
                reason = "holiday (a skip date)"
            elif now - moment > grace:
                hours = (now - moment).total_seconds() / 3600
                reason = f"missed by {hours:.1f}h (the bot was not running)"
            slots.append(posts.Slot(sub.id or 0, sub.group_id, sub.topic, local_day, moment, reason))
        return slots

    async def _post_due(self, now: datetime, report: DueReport,
                        subscription_ids: Collection[int] | None = None) -> None:
        """Plan, record skips and claim the first batch in one unit of work, then claim the rest in
        batches while the first are being sent (all subscriptions when `subscription_ids` is None)."""
        since = (now - LOOKBACK).date() - timedelta(days=1)  # local dates run up to a day behind UTC
        plan = functools.partial(self._plan, now=now)
        store = self.rt.store
        try:
            due = await store.run(posts.claim_due, self.rt.bank, since, plan, subscription_ids, now, CLAIM_BATCH)
        except Exception as exc:
            which = ("all subscriptions" if subscription_ids is None
                     else f"subscriptions {sorted(subscription_ids)}" if len(subscription_ids) <= 10
                     else f"{len(subscription_ids)} subscriptions")
            log.exception("posting for %s failed", which)
            report.failed.append(f"{which}: {exc!r}")
            return
        for slot in due.skipped:
            log.warning("skipped post of subscription %s for %s: %s",
                        slot.subscription_id, slot.local_day, slot.skip_reason)
            report.skipped.append(slot.subscription_id)
        sends: list[asyncio.Task[str | int | None]] = []
        self._start_sends(due.claims, report, sends)
        for batch in _chunks(due.unclaimed, CLAIM_BATCH):
            try:
                claims = await store.run(posts.claim_posts, self.rt.bank, batch, now)
            except Exception as exc:  # one broken batch must not stop the others
                ids = [slot.subscription_id for slot in batch]
                log.exception("claiming posts for subscriptions %s failed", ids)
                report.failed.append(f"subscriptions {ids}: {exc!r}")
                continue
            self._start_sends(claims, report, sends)
        _report_sends(report, await asyncio.gather(*sends))

    def _start_sends(self, claims: Iterable[posts.Claim], report: DueReport,
                     sends: list[asyncio.Task[str | int | None]]) -> None:
        """Send each fresh claim in its own task (the fan-out's bound is in `_pace`)."""
        for claim in claims:
            if claim.error:
                report.failed.append(claim.error)
            elif claim.created:
                sends.append(asyncio.create_task(self._guarded(self._deliver(claim), claim.post)))

    async def post_for(
        self, subscription_id: int, local_day: date, scheduled_for: datetime
    ) -> PostResult:
        """Claim, send and confirm one post. A second call for the same day does nothing."""
        claim = await self.rt.store.run(
            posts.claim_post, self.rt.bank, subscription_id, local_day, scheduled_for, self.rt.clock.now())
        if claim.error or not claim.created:
            return PostResult(claim.post, created=False, error=claim.error)
        outcome = await self._deliver(claim)
        error = outcome if isinstance(outcome, str) else None
        if error is None:
            # Posted outside its job (`/mlsd post-now`): its reveal (and reminder) need jobs now.
            self.rt.schedule_changed(claim.post.group_id)
        return PostResult(claim.post, created=error is None, error=error)

    async def _guarded(self, work: Awaitable[str | int | None], post: Post) -> str | int | None:
        """One post's failure is its own: reported, never raised into the others'."""
        try:
            return await work
        except Exception as exc:
            log.exception("posting %s for subscription %s (group %s, %s) failed",
                          post.id, post.subscription_id, post.group_id, post.topic)
            return f"subscription {post.subscription_id}: {exc!r}"

    async def _deliver(self, claim: posts.Claim) -> str | int | None:
        """Send a fresh claim and its follow-ups; the post id when posted, else the error."""
        assert claim.question is not None and claim.channel is not None
        error = await self._send_post(claim.post, claim.question, claim.channel)
        if error is not None:
            return error
        if claim.left is not None and claim.left <= LOW_BANK_THRESHOLD:
            # Best effort: the notice never undoes or fails the post itself.
            try:
                await self.habits.warn_if_bank_low(claim.post.subscription_id, claim.question.topic)
            except Exception:
                log.exception("low-bank check after a post of subscription %s failed", claim.post.subscription_id)
        return claim.post.id or 0

    async def _send_post(self, post: Post, question: Question, channel: ChannelRef) -> str | None:
        message = render.daily_post(question, post)
        try:
            async with self._pace(channel):
                posted = await self.rt.port(channel.platform).send(channel, message)
        except ChannelUnavailable as exc:
            await self.rt.store.run(posts.skip_claim, post.id or 0, f"channel unavailable: {exc.reason}")
            await self.pause(post.subscription_id, exc.reason)
            return f"post {post.id}: channel unavailable ({exc.reason})"
        except (TransientPlatformError, PlatformError, LookupError) as exc:
            retry_at = await self.rt.store.run(
                posts.defer_post, post.id or 0, post.claimed_at, exc, self.rt.clock.now())
            log.warning("post %s not sent yet (%s); retrying at %s", post.id, exc, retry_at)
            return f"post {post.id}: {exc}"
        now = self.rt.clock.now()
        await self.rt.store.run(posts.confirm_post, post.id or 0, posted.message_id, posted.thread_id, now)
        post.status, post.message_id, post.thread_id, post.posted_at = (
            "posted", posted.message_id, posted.thread_id, now)
        log.info("posted %s to %s (post %s)", question.id, channel.channel, post.id)
        return None

    async def _retry_stale_claims(self, now: datetime, report: DueReport) -> None:
        """A claim whose sender died or hit a platform error is sent again, within the grace."""
        grace = timedelta(minutes=self.rt.settings.catch_up_grace_minutes)
        stale = await self.rt.store.run(posts.stale_post_claims, now)
        sends: list[asyncio.Task[str | int | None]] = []
        for post in stale:
            late = now - (as_utc(post.scheduled_for) or now)
            if late > grace:
                why = post.last_error or "the bot stopped while posting"
                await self.rt.store.run(
                    posts.skip_claim, post.id or 0, f"not delivered within {late.total_seconds() / 3600:.1f}h ({why})")
                report.skipped.append(post.subscription_id)
                continue
            question = self.rt.bank.questions.get(post.question_id or "")
            if question is None:
                continue
            sends.append(asyncio.create_task(self._guarded(self._resend(post, question, now), post)))
        _report_sends(report, await asyncio.gather(*sends))

    async def _resend(self, post: Post, question: Question, now: datetime) -> str | int | None:
        channel = await self.rt.store.run(posts.renew_post, post.id or 0, now)
        if channel is None:
            return None  # someone else took the claim over
        post.claimed_at, post.retry_at = now, None
        error = await self._send_post(post, question, channel)
        return error if error is not None else post.id or 0

    # -------------------------------------------------------------------- reveal

    async def reveal_due(
        self, now: datetime, report: DueReport | None = None, post_id: int | None = None
    ) -> list[int]:
        """Reveal every post past its deadline (or just `post_id`), and retry reveals left unfinished."""
        due = await self.rt.store.run(posts.due_reveals, now, post_id)
        outcomes = await asyncio.gather(*(self._reveal_guarded(pid) for pid in due))
        done = [pid for pid, ok in zip(due, outcomes, strict=True) if ok is True]
        if report is not None:
            report.failed.extend(ok for ok in outcomes if isinstance(ok, str))
            report.revealed.extend(done)
        return done

    async def _reveal_guarded(self, post_id: int) -> bool | str:
        try:
            return await self.reveal(post_id)
        except Exception as exc:  # one broken reveal must not stop the others
            log.exception("reveal of post %s failed", post_id)
            return f"reveal {post_id}: {exc!r}"

    async def reveal(self, post_id: int) -> bool:
        """Score and reveal one post. Returns False if another caller already did."""
        now = self.rt.clock.now()
        store = self.rt.store
        work = await store.run(posts.claim_reveal, self.rt.bank, post_id, now)
        if work is None:
            return False
        post, channel, question = work.post, work.channel, work.question
        if question is None:
            log.error("post %s: question %s is no longer loaded", post_id, post.question_id)
        else:
            # Grading runs with no unit of work open and off the event loop (a worker thread,
            # or the LLM endpoint's own I/O), so one slow grading never holds a lock or an ack.
            gradings = await self._grade(question, work.answers)
            results, scored = self._score(work.answers, gradings)
            await store.run(posts.record_results, post, question, scored, now)
            message = render.reveal(question, results, blind=post.blind)
            try:
                async with self._pace(channel):
                    await self.rt.port(channel.platform).reply(channel, post.thread_id or "", message)
            except ChannelUnavailable as exc:
                await self.pause(post.subscription_id, exc.reason)
            except (PlatformError, LookupError) as exc:
                retry_at = await store.run(posts.defer_reveal, post_id, now, exc, self.rt.clock.now())
                log.warning("reveal of post %s not sent (%s); retrying at %s", post_id, exc, retry_at)
                return False
        await store.run(posts.finish_reveal, post_id, now)
        try:
            await self.habits.refresh_live_board(post.group_id)
        except Exception:
            log.exception("live board of group %s not refreshed after reveal %s", post.group_id, post_id)
        return True

    async def _grade(self, question: Question, answers: Sequence[posts.Answer]) -> list[Grading]:
        """Grade what is not graded yet; a retried reveal reuses the verdicts it stored."""
        todo = [a for a in answers if a.stored is None]
        fresh = iter(await self.rt.grading.grade_many(question, [a.text for a in todo]) if todo else [])
        return [a.stored if a.stored is not None else next(fresh) for a in answers]

    def _score(
        self, answers: Sequence[posts.Answer], gradings: Sequence[Grading]
    ) -> tuple[list[render.MemberResult], list[posts.Scored]]:
        """Each answer's points, and what to write: only answers not scored by an earlier try."""
        scoring = self.rt.settings.scoring
        results: list[render.MemberResult] = []
        scored: list[posts.Scored] = []
        for answer, grading in zip(answers, gradings, strict=True):
            score = score_answer(scoring, grading.ratio, answer.votes, answer.late)
            if answer.stored is None:
                lines = (("answer", score.on_time), ("coverage", score.coverage), ("votes", score.votes))
                scored.append(posts.Scored(
                    member_id=answer.member_id, grading=grading, late=answer.late, votes=answer.votes,
                    points=score.total, ledger=tuple((r, p) for r, p in lines if p)))
            results.append(render.MemberResult(
                user_id=answer.user_id, grading=grading, late=answer.late, votes=answer.votes,
                points=score.total, answer_text=answer.text, private=answer.private,
            ))
        results.sort(key=lambda r: (r.late, -r.points, r.user_id))
        return results, scored


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _report_sends(report: DueReport, outcomes: Iterable[str | int | None]) -> None:
    """Posted ids and errors, in the order the posts were claimed."""
    for outcome in outcomes:
        if isinstance(outcome, str):
            report.failed.append(outcome)
        elif outcome is not None:
            report.posted.append(outcome)
