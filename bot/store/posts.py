"""Queries and units of work of the daily loop: what is due, claiming, confirming, revealing.

Posting is the fan-out path (a thousand channels can be due the same minute and
one SQLite thread serves them all), so the hot statements here are SQLAlchemy
Core over the tables: a claim is one INSERT that lets the unique
(subscription, local date) constraint refuse a second claimant (`ON CONFLICT DO
NOTHING ... RETURNING id`), a confirmation one UPDATE. A group's question
history is read as one row per question it has used (`GROUP BY`), not its
whole posting history. What is due for many subscriptions is read in a fixed
number of queries, whatever their count.

The claim protocol itself (lease, renew, defer with backoff) is `bot.store.claims`;
a post holds its posting claim since `claimed_at` while `claimed`, and its
reveal claim since `reveal_claimed_at` while `revealing`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update

from bot.content import Bank
from bot.domain import ChannelRef, Question, Topic
from bot.grading.verdict import Grading
from bot.selection import ALL, USED_STATUSES, choose_question, rotation_topic, unused_left
from bot.store import claims
from bot.store.conflicts import insert_new, inserted
from bot.store.records import Post, Subscription, record, records
from bot.store.schema import answer_results as results
from bot.store.schema import groups, ledger, members, posts, replies, skip_dates, votes
from bot.store.schema import subscriptions as subs
from bot.store.unit import Unit

POSTING = claims.ClaimColumns(posts)  # held since claimed_at while status == "claimed"
REVEALING = claims.ClaimColumns(posts, held_since="reveal_claimed_at")  # while "revealing"

# Every status but "skipped" has used its question (bot.selection.USED_STATUSES); a plain
# comparison instead of IN (...) keeps the statements below free of per-call expansion.
_USED = posts.c.status != "skipped"
assert set(USED_STATUSES) == {"claimed", "posted", "revealing", "revealed"}

# The fan-out's statements, built once: executing a prebuilt statement reuses its
# compiled form, where building one per call costs more CPU than SQLite's work.
_SUB_AND_CHANNEL = (
    select(subs.c.group_id, subs.c.topic, subs.c.window_minutes, subs.c.blind,
           groups.c.platform, groups.c.workspace, groups.c.channel)
    .join(groups, groups.c.id == subs.c.group_id)
    .where(subs.c.id == bindparam("sid"))
)
_MADE = select(func.count()).select_from(posts).where(posts.c.subscription_id == bindparam("sid"), _USED)
_HISTORY = (
    select(posts.c.question_id, func.max(posts.c.id))
    .where(posts.c.group_id == bindparam("gid"), posts.c.topic == bindparam("topic"), _USED,
           posts.c.question_id.is_not(None))
    .group_by(posts.c.question_id)
)
_COVERAGE = (
    select(results.c.question_id, func.avg(results.c.coverage))
    .where(results.c.group_id == bindparam("gid"), results.c.topic == bindparam("topic"))
    .group_by(results.c.question_id)
)
_CONFIRM = (
    update(posts)
    .where(posts.c.id == bindparam("pid"),
           or_(posts.c.status == "claimed", posts.c.status == "skipped"))
    .values(status="posted", message_id=bindparam("mid"), thread_id=bindparam("tid"),
            posted_at=bindparam("at"), attempts=0, retry_at=None, skip_reason=None)
)


def _channel(row: Any) -> ChannelRef:
    return ChannelRef(row.platform, row.workspace, row.channel)


# ------------------------------------------------------------------ what is due


@dataclass(frozen=True, slots=True)
class DueSubscription:
    """An active subscription with what deciding its due slots needs."""

    sub: Subscription
    holidays: frozenset[date]
    taken: frozenset[date]  # local dates that already have a post row (posted, skipped, ...)


@dataclass(frozen=True, slots=True)
class Slot:
    """One scheduled occurrence to act on: post it, or (with a reason) record it skipped."""

    subscription_id: int
    group_id: int
    topic: str
    local_day: date
    scheduled_for: datetime
    skip_reason: str | None = None


def _due_statements(some: bool) -> tuple[Any, Any, Any]:
    active = [subs.c.active == True, subs.c.paused_reason.is_(None)]  # noqa: E712
    taken = [posts.c.local_date >= bindparam("since")]
    holidays = [skip_dates.c.local_date >= bindparam("since")]
    if some:
        active.append(subs.c.id.in_(bindparam("sids", expanding=True)))
        taken.append(posts.c.subscription_id.in_(bindparam("sids", expanding=True)))
        holidays.append(skip_dates.c.subscription_id.in_(bindparam("sids", expanding=True)))
    return (select(subs).where(*active),
            select(posts.c.subscription_id, posts.c.local_date).where(*taken),
            select(skip_dates.c.subscription_id, skip_dates.c.local_date).where(*holidays))


_DUE = {False: _due_statements(False), True: _due_statements(True)}
# Ids bound per IN (...): well under SQLite's and PostgreSQL's limits on bound parameters.
IDS_PER_QUERY = 500


def due_subscriptions(
    s: Unit, since_day: date, subscription_ids: Collection[int] | None = None,
) -> list[DueSubscription]:
    """Active, unpaused subscriptions (all, or those of `subscription_ids`), with their holidays
    and taken dates from `since_day`."""
    if subscription_ids is None:
        return _due_of(s, {"since": since_day}, _DUE[False])
    ids = sorted(set(subscription_ids))
    return [due for start in range(0, len(ids), IDS_PER_QUERY)
            for due in _due_of(s, {"since": since_day, "sids": ids[start:start + IDS_PER_QUERY]}, _DUE[True])]


def _due_of(s: Unit, params: dict[str, Any], statements: tuple[Any, Any, Any]) -> list[DueSubscription]:
    query, taken_q, skip_q = statements
    rows = records(Subscription, s.execute(query, params))
    if not rows:
        return []
    taken: dict[int, set[date]] = {}
    for sid, day in s.execute(taken_q, params):
        taken.setdefault(sid, set()).add(day)
    holidays: dict[int, set[date]] = {}
    for sid, day in s.execute(skip_q, params):
        holidays.setdefault(sid, set()).add(day)
    return [
        DueSubscription(r, frozenset(holidays.get(r.id, ())), frozenset(taken.get(r.id, ())))
        for r in rows
    ]


def plan_due(
    s: Unit, since_day: date, plan: Callable[[DueSubscription], list[Slot]],
    subscription_ids: Collection[int] | None = None,
) -> list[Slot]:
    """The slots `plan` (the use case's rule) finds due, over one read of what is due."""
    return [slot for due in due_subscriptions(s, since_day, subscription_ids) for slot in plan(due)]


def record_skips(s: Unit, slots: Iterable[Slot], now: datetime) -> list[Slot]:
    """Record missed (or holiday) slots as skipped posts; returns those not recorded before."""
    recorded: list[Slot] = []
    for slot in slots:
        done = inserted(s, posts, dict(
            subscription_id=slot.subscription_id, group_id=slot.group_id, topic=slot.topic,
            local_date=slot.local_day, scheduled_for=slot.scheduled_for, deadline=slot.scheduled_for,
            status="skipped", claimed_at=now, skip_reason=slot.skip_reason, blind=False, attempts=0,
        ))
        if done:
            recorded.append(slot)
    return recorded


# --------------------------------------------------------------------- claiming


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming one slot's post."""

    post: Post
    channel: ChannelRef | None
    question: Question | None = None
    created: bool = False  # False: the slot already had its post (someone else claimed it)
    error: str | None = None
    left: int | None = None  # the topic's questions this group has not been asked yet, after this one


_POST_ON = select(posts).where(posts.c.subscription_id == bindparam("sid"), posts.c.local_date == bindparam("day"))


def _post_on(s: Unit, subscription_id: int, local_day: date) -> Post | None:
    row = s.execute(_POST_ON, {"sid": subscription_id, "day": local_day}).first()
    return record(Post, row) if row else None


def _made(s: Unit, subscription_id: int) -> int:
    return int(s.execute(_MADE, {"sid": subscription_id}).scalar_one())


def question_history(s: Unit, group_id: int, topic: Topic) -> dict[str, int]:
    """Each question the group has used on `topic`, with the id of its latest post: one row per question."""
    rows = s.execute(_HISTORY, {"gid": group_id, "topic": topic.value})
    return {qid: int(last) for qid, last in rows}


def question_coverage(s: Unit, group_id: int, topic: Topic) -> dict[str, float]:
    rows = s.execute(_COVERAGE, {"gid": group_id, "topic": topic.value})
    return {qid: float(avg) for qid, avg in rows}


def next_question(s: Unit, bank: Bank, group_id: int, topic: Topic) -> Question | None:
    """The question the group would get next on `topic` (see `bot.selection`)."""
    return choose_question(bank, group_id, topic, question_history(s, group_id, topic),
                           lambda: question_coverage(s, group_id, topic))


def unused_count(s: Unit, bank: Bank, group_id: int, topic: Topic) -> int:
    return unused_left(bank, topic, question_history(s, group_id, topic))


def claim_post(
    s: Unit, bank: Bank, subscription_id: int, local_day: date, scheduled_for: datetime, now: datetime
) -> Claim:
    """Choose the slot's question and claim its post; whoever loses the claim gets the existing post."""
    sub = s.execute(_SUB_AND_CHANNEL, {"sid": subscription_id}).first()
    if sub is None:
        raise LookupError(f"subscription {subscription_id} does not exist")
    channel = _channel(sub)
    topic = rotation_topic(bank, _made(s, subscription_id)) if sub.topic == ALL else Topic(sub.topic)
    history = question_history(s, sub.group_id, topic) if topic else {}
    question = (
        choose_question(bank, sub.group_id, topic, history,
                        lambda: question_coverage(s, sub.group_id, topic))  # type: ignore[arg-type]
        if topic else None
    )
    if question is None:
        existing = _post_on(s, subscription_id, local_day)
        if existing is not None:
            return Claim(existing, channel)
        return Claim(
            Post(subscription_id=subscription_id, group_id=sub.group_id, topic=sub.topic,
                 local_date=local_day, scheduled_for=scheduled_for, deadline=scheduled_for,
                 claimed_at=now, status="claimed", blind=False, attempts=0),
            channel, error=f"no questions loaded for topic {sub.topic}",
        )
    values = dict(
        subscription_id=subscription_id, group_id=sub.group_id, topic=question.topic.value,
        question_id=question.id, local_date=local_day, scheduled_for=scheduled_for,
        deadline=max(scheduled_for, now) + timedelta(minutes=sub.window_minutes), status="claimed",
        claimed_at=now, blind=bool(sub.blind), attempts=0,
    )
    new_id = s.execute(insert_new(s, posts, returning=posts.c.id), values).scalar()
    if new_id is None:
        existing = _post_on(s, subscription_id, local_day)
        assert existing is not None
        return Claim(existing, channel)
    left = unused_left(bank, question.topic, [*history, question.id])
    return Claim(Post(id=new_id, **values), channel, question, created=True, left=left)


def claim_posts(s: Unit, bank: Bank, slots: Iterable[Slot], now: datetime) -> list[Claim]:
    """`claim_post` for each slot, in one unit of work; a subscription deleted meanwhile is an error claim."""
    out: list[Claim] = []
    for slot in slots:
        try:
            out.append(claim_post(s, bank, slot.subscription_id, slot.local_day, slot.scheduled_for, now))
        except LookupError as exc:  # raised before anything was written
            out.append(Claim(
                Post(subscription_id=slot.subscription_id, group_id=slot.group_id, topic=slot.topic,
                     local_date=slot.local_day, scheduled_for=slot.scheduled_for,
                     deadline=slot.scheduled_for, claimed_at=now, status="claimed", blind=False, attempts=0),
                None, error=str(exc)))
    return out


@dataclass(frozen=True)
class DueClaims:
    """What `claim_due` did: skips recorded, the first posts claimed, and the due slots left to claim."""

    skipped: list[Slot]
    claims: list[Claim]
    unclaimed: list[Slot]


def claim_due(
    s: Unit, bank: Bank, since_day: date, plan: Callable[[DueSubscription], list[Slot]],
    subscription_ids: Collection[int] | None, now: datetime, first: int,
) -> DueClaims:
    """In one unit of work: the due slots (of these subscriptions, or all), skips recorded, and
    the first `first` posts claimed, so sending starts while the rest are claimed in later units."""
    slots = plan_due(s, since_day, plan, subscription_ids)
    skipped = record_skips(s, [slot for slot in slots if slot.skip_reason], now)
    to_post = [slot for slot in slots if not slot.skip_reason]
    return DueClaims(skipped, claim_posts(s, bank, to_post[:first], now), to_post[first:])


def confirm_post(s: Unit, post_id: int, message_id: str, thread_id: str | None, now: datetime) -> bool:
    """The post is out: record where. (A claim skipped meanwhile was posted after all.)"""
    return bool(s.execute(
        _CONFIRM, {"pid": post_id, "mid": message_id, "tid": thread_id, "at": now}).rowcount)


def skip_claim(s: Unit, post_id: int, reason: str) -> bool:
    """Give up a posting claim for good, with the reason recorded."""
    return bool(s.execute(
        update(posts).where(posts.c.id == post_id, posts.c.status == "claimed")
        .values(status="skipped", skip_reason=reason[:200])
    ).rowcount)


def defer_post(s: Unit, post_id: int, held_since: datetime | None, exc: BaseException,
               now: datetime) -> datetime | None:
    return claims.defer(s, POSTING, post_id, held_since, exc, now, status="claimed")


def stale_post_claims(s: Unit, now: datetime) -> list[Post]:
    """Posting claims whose sender released them after an error, or died."""
    return records(Post, s.execute(select(posts).where(
        posts.c.status == "claimed", claims.retryable_where(POSTING, now))))


def renew_post(s: Unit, post_id: int, now: datetime) -> ChannelRef | None:
    """Take over a stale posting claim; the channel to send to, or None when someone else has it."""
    if not claims.renew(s, POSTING, post_id, now, posts.c.status == "claimed"):
        return None
    row = s.execute(
        select(groups.c.platform, groups.c.workspace, groups.c.channel)
        .join(posts, posts.c.group_id == groups.c.id).where(posts.c.id == post_id)).first()
    return _channel(row) if row else None


# ----------------------------------------------------------------------- reveal


@dataclass(frozen=True, slots=True)
class Answer:
    """One member's answer at the reveal: the joined text and what scoring needs beside it."""

    member_id: int
    user_id: str
    text: str
    late: bool
    private: bool
    votes: int
    stored: Grading | None  # set when a retried reveal already wrote this member's result


@dataclass(frozen=True, slots=True)
class RevealWork:
    """A claimed reveal: the post, where it goes, its question (None: no longer loaded), the answers."""

    post: Post
    channel: ChannelRef
    question: Question | None
    answers: list[Answer]


@dataclass(frozen=True, slots=True)
class Scored:
    """A member's scored answer to write once: its result row and its ledger lines."""

    member_id: int
    grading: Grading
    late: bool
    votes: int
    points: int
    ledger: tuple[tuple[str, int], ...]  # (reason, points), zero points left out


def due_reveals(s: Unit, now: datetime, post_id: int | None = None) -> list[int]:
    """Posts past their deadline, then reveals left unfinished whose claim may be taken over."""
    only = [posts.c.id == post_id] if post_id is not None else []
    due = s.execute(select(posts.c.id).where(
        posts.c.status == "posted", posts.c.deadline <= now, *only)).scalars().all()
    stale = s.execute(select(posts.c.id).where(
        posts.c.status == "revealing", claims.retryable_where(REVEALING, now), *only)).scalars().all()
    return [*due, *stale]


def claim_reveal(s: Unit, bank: Bank, post_id: int, now: datetime) -> RevealWork | None:
    """Claim one post's reveal (None: another caller has it, or it is done) and gather its answers."""
    claimed = s.execute(
        update(posts)
        .where(posts.c.id == post_id,
               or_(posts.c.status == "posted",
                   (posts.c.status == "revealing") & claims.retryable_where(REVEALING, now)))
        .values(status="revealing", reveal_claimed_at=now, retry_at=None)
    ).rowcount
    if claimed != 1:
        return None
    post = record(Post, s.execute(select(posts).where(posts.c.id == post_id)).one())
    group = s.execute(select(groups.c.platform, groups.c.workspace, groups.c.channel)
                         .where(groups.c.id == post.group_id)).one()
    question = bank.questions.get(post.question_id or "")
    answers = _gather(s, post) if question else []
    return RevealWork(post, ChannelRef(group.platform, group.workspace, group.channel), question, answers)


def _gather(s: Unit, post: Post) -> list[Answer]:
    """Each member's answer as it stands at the reveal, and any grading already stored."""
    live = s.execute(
        select(replies.c.member_id, replies.c.message_id, replies.c.text, replies.c.is_answer,
               replies.c.late, replies.c.private)
        .where(replies.c.post_id == post.id, replies.c.deleted == False)  # noqa: E712
        .order_by(replies.c.at, replies.c.id)
    ).all()
    by_member: dict[int, list[Any]] = {}
    for r in live:
        if r.is_answer:
            by_member.setdefault(r.member_id, []).append(r)
    vote_counts = _votes(s, post, live)
    stored = {row.member_id: row for row in s.execute(
        select(results.c.member_id, results.c.grading, results.c.covered).where(results.c.post_id == post.id))}
    users = dict(s.execute(
        select(members.c.id, members.c.user_id).where(members.c.id.in_(list(by_member)))
    ).all()) if by_member else {}
    answers: list[Answer] = []
    for member_id, parts in by_member.items():
        on_time = [p for p in parts if not p.late]
        existing = stored.get(member_id)
        answers.append(Answer(
            member_id=member_id, user_id=users[member_id],
            text="\n".join(p.text for p in (on_time or parts)), late=not on_time,
            private=any(p.private for p in parts), votes=vote_counts.get(member_id, 0),
            stored=_stored_grading(existing) if existing else None,
        ))
    return answers


def _votes(s: Unit, post: Post, live_replies: list[Any]) -> dict[int, int]:
    """Distinct voters per answer author, counting only votes on live answer replies."""
    answer_ids = {r.message_id for r in live_replies if r.is_answer}
    voters: dict[int, set[int]] = {}
    for v in s.execute(select(votes.c.message_id, votes.c.voter_id, votes.c.target_id)
                               .where(votes.c.post_id == post.id)):
        if v.message_id in answer_ids and v.voter_id != v.target_id:
            voters.setdefault(v.target_id, set()).add(v.voter_id)
    return {member: len(vs) for member, vs in voters.items()}


def _stored_grading(row: Any) -> Grading:
    if row.grading:
        return Grading.from_json(row.grading)
    return Grading.from_flags(tuple(flag == "1" for flag in row.covered.split(",") if flag))


def record_results(s: Unit, post: Post, question: Question, scored: Iterable[Scored],
                   now: datetime) -> None:
    """Write each newly scored answer's result and its ledger lines, once (repeats are refused)."""
    result_rows: list[dict[str, Any]] = []
    ledger_rows: list[dict[str, Any]] = []
    for r in scored:
        result_rows.append(dict(
            post_id=post.id, group_id=post.group_id, member_id=r.member_id, question_id=question.id,
            topic=question.topic.value, covered=",".join("1" if c else "0" for c in r.grading.covered),
            coverage=r.grading.ratio, grading=r.grading.to_json(), late=r.late, votes=r.votes,
            points=r.points, at=now,
        ))
        ledger_rows.extend(
            dict(group_id=post.group_id, member_id=r.member_id, reason=reason, points=points, at=now,
                 ref=f"post:{post.id}")
            for reason, points in r.ledger
        )
    if result_rows:
        s.execute(insert_new(s, results), result_rows)
    if ledger_rows:
        s.execute(insert_new(s, ledger), ledger_rows)


def finish_reveal(s: Unit, post_id: int, now: datetime) -> None:
    s.execute(
        update(posts).where(posts.c.id == post_id).values(status="revealed", revealed_at=now))


def defer_reveal(s: Unit, post_id: int, held_since: datetime | None, exc: BaseException,
                 now: datetime) -> datetime | None:
    return claims.defer(s, REVEALING, post_id, held_since, exc, now, status="revealing")
