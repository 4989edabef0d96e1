"""Domain results -> platform-neutral Messages.

Wording lives here once for both platforms. Anything a member wrote goes in a
`UserText` span so each adapter escapes it; members are `Mention`s and
deadlines `Timestamp`s so each platform shows them natively.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.domain import (
    Bold,
    Button,
    ChannelMention,
    ChannelRef,
    Field,
    Image,
    Italic,
    Mention,
    Message,
    MessageKind,
    Question,
    QuizItem,
    Section,
    Span,
    Text,
    Timestamp,
    Topic,
    UserText,
)
from bot.store.db import as_utc

if TYPE_CHECKING:
    from bot.grading.verdict import Grading
    from bot.quiz import Grade
    from bot.standings import DigestData, Leaderboard, MemberStats
    from bot.store.records import Post

ANSWER_PRIVATELY_ACTION = "mlsd_answer_privately"
QUIZ_ACTION = "mlsd_quiz"
LETTERS = "ABCD"


@dataclass(frozen=True)
class MemberResult:
    user_id: str
    grading: Grading
    late: bool
    votes: int
    points: int
    answer_text: str
    private: bool = False


@dataclass(frozen=True)
class ReadinessSummary:
    correct: int
    total: int
    strongest: Topic | None
    weakest: Topic | None
    missed: tuple[Topic, ...]


def _t(*parts: Span | str) -> Text:
    """Build a Text; a trailing newline left by a line-per-item loop is dropped."""
    if parts and isinstance(parts[-1], str) and parts[-1].endswith("\n"):
        parts = (*parts[:-1], parts[-1].rstrip("\n"))
    return Text.of(*parts)


def notice(text: str, title: str | None = None) -> Message:
    return Message(title=title, sections=(Section(_t(text)),), kind=MessageKind.NOTICE)


def error(text: str) -> Message:
    return Message(title=None, sections=(Section(_t(text)),), kind=MessageKind.ERROR)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


# ----------------------------------------------------------------- daily loop


def thread_name(question: Question) -> str:
    """A short title for a platform thread (Discord allows 100 characters)."""
    base = f"{question.topic.value}: {question.prompt}"
    return base if len(base) <= 90 else base[:89].rstrip() + "…"


def daily_post(question: Question, post: Post) -> Message:
    deadline = as_utc(post.deadline) or post.deadline  # a reloaded SQLite row is naive UTC
    meta = [question.difficulty.value]
    if question.companies:
        meta.append(", ".join(question.companies))
    how = (
        "Answer privately with the button below; every answer is shown at the reveal."
        if post.blind
        else "Answer in this thread. Several replies join into one answer; edits count until the deadline."
    )
    buttons = (
        (Button("Answer privately", ANSWER_PRIVATELY_ACTION, str(post.id), "primary"),)
        if post.blind
        else ()
    )
    return Message(
        title=f"Daily question · {question.topic.title}",
        sections=(
            Section(_t(question.prompt)),
            Section(_t(how), fields=(
                Field("Difficulty", _t(" · ".join(meta))),
                Field("Deadline", _t(Timestamp(deadline, "datetime"), " (", Timestamp(deadline), ")")),
            )),
        ),
        buttons=buttons,
        footer=_t(f"Question {question.id}"),
        kind=MessageKind.DAILY_POST,
        thread_name=thread_name(question),
    )


QUOTE_CHARS = 180  # a quote is a reminder of what the member wrote, not a copy of the answer
GRADER_NAMES = {"local": "the built-in grader", "llm": "the model grader"}


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= QUOTE_CHARS:
        return flat
    return flat[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _member_line(question: Question, r: MemberResult) -> Section:
    """Head line, then each covered point with the member's own words, each missed one as a question."""
    verdicts = r.grading.points
    covered = [i + 1 for i, v in enumerate(verdicts) if v.covered]
    head: list[Span | str] = [Mention(r.user_id), f" covered {len(covered)}/{len(verdicts)} key points"]
    if covered:
        head.append(" (" + ", ".join(f"#{i}" for i in covered) + ")")
    if r.late:
        head.append(" · late, not scored")
    else:
        head.append(f" · {r.points} pts")
        if r.votes:
            head.append(f" · {r.votes} vote{'s' if r.votes != 1 else ''}")
    for number, (point, verdict) in enumerate(zip(question.key_points, verdicts, strict=False), 1):
        if verdict.covered and verdict.evidence:
            head += [f"\n✅ #{number}: “", UserText(_quote(verdict.evidence)), "”"]
        elif verdict.covered:
            head.append(f"\n✅ #{number}")
        else:
            head.append(f"\n❔ {point.question}")
    if not covered:
        head.append("\nCompare with the sample answer above: each key point is made there in a sentence or two.")
    return Section(_t(*head))


def _graders_line(results: Sequence[MemberResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.grading.grader] = counts.get(r.grading.grader, 0) + 1
    if len(counts) == 1:
        return f"Key points judged by {GRADER_NAMES.get(next(iter(counts)), next(iter(counts)))}."
    parts = [f"{GRADER_NAMES.get(g, g)} ({n})" for g, n in sorted(counts.items())]
    return "Key points judged by " + " and ".join(parts) + "; the built-in grader steps in when the model fails."


def reveal(question: Question, results: Sequence[MemberResult], blind: bool = False) -> Message:
    points = "\n".join(f"{i}. {kp.text}" for i, kp in enumerate(question.key_points, 1))
    sections: list[Section] = [
        Section(_t(question.sample_answer), heading="Sample answer"),
        Section(_t(points), heading="Key points"),
    ]
    if results:
        sections.append(Section(_t(f"{len(results)} answer{'s' if len(results) != 1 else ''}"),
                                heading="How everyone did"))
        sections.extend(_member_line(question, r) for r in results)
        sections.append(Section(_t(Italic(_graders_line(results)))))
    else:
        sections.append(Section(_t("Nobody answered this one. The next question is a fresh start."),
                                heading="How everyone did"))
    if blind and results:
        sections.append(Section(_t("Everyone's answers, as submitted:"), heading="Answers"))
        sections.extend(Section(_t(Mention(r.user_id), ":\n", UserText(r.answer_text))) for r in results)
    if question.follow_ups:
        sections.append(Section(_t("\n".join(f"• {f}" for f in question.follow_ups)),
                                heading="Follow-ups to discuss"))
    return Message(
        title=f"Reveal · {question.topic.title}",
        sections=tuple(sections),
        kind=MessageKind.REVEAL,
    )


# ----------------------------------------------------------------------- quiz


def _shown(order: Sequence[int], count: int) -> tuple[int, ...]:
    return tuple(order) if order else tuple(range(count))


def _letter(order: Sequence[int], index: int) -> str:
    """The letter a bank index was shown under."""
    return LETTERS[order.index(index)] if order else LETTERS[index]


def quiz_item(
    item: QuizItem, session_id: int, index: int, total: int, reason: str, order: Sequence[int] = ()
) -> Message:
    shown = _shown(order, len(item.choices))
    choices = "\n".join(f"{LETTERS[k]}. {item.choices[i]}" for k, i in enumerate(shown))
    counter = f" · {index}/{total}" if total > 1 else ""
    return Message(
        title=f"Quiz · {item.topic.title}{counter}",
        sections=(Section(_t(item.prompt)), Section(_t(choices))),
        buttons=tuple(
            Button(LETTERS[k], QUIZ_ACTION, f"{session_id}:{item.id}:{i}") for k, i in enumerate(shown)
        ),
        footer=_t(reason),
        kind=MessageKind.QUIZ,
    )


def _grade_section(grade: Grade) -> Section:
    item = grade.item
    right = f"{_letter(grade.order, item.answer)}. {item.choices[item.answer]}"
    if grade.correct:
        head = f"✅ Right: {right}"
    else:
        head = (f"❌ Not quite: you chose {_letter(grade.order, grade.choice)}. {item.choices[grade.choice]}. "
                f"The answer is {right}")
    if grade.points:
        head += f"  (+{grade.points} pts)"
    elif not grade.first_attempt:
        head += "  (a repeat: practice only, no points)"
    return Section(_t(Bold(head), "\n", item.explanation), heading=f"Quiz · {item.topic.title}")


def quiz_result(
    grade: Grade, session_id: int, next_item: QuizItem | None, next_index: int, total: int,
    summary: ReadinessSummary | None, next_order: Sequence[int] = (),
) -> Message:
    sections = [Section(_t(grade.item.prompt)), _grade_section(grade)]
    buttons: tuple[Button, ...] = ()
    if next_item is not None:
        nxt = quiz_item(next_item, session_id, next_index, total, "Readiness check", next_order)
        sections += [Section(_t(Bold(nxt.title or ""))), *nxt.sections]
        buttons = nxt.buttons
    if summary is not None:
        sections.append(readiness_section(summary))
    if not grade.correct and next_item is None and summary is None:
        sections.append(Section(_t(Italic("It comes back for review tomorrow."))))
    return Message(title=None, sections=tuple(sections), buttons=buttons, kind=MessageKind.QUIZ_RESULT)


def readiness_section(summary: ReadinessSummary) -> Section:
    lines = [f"You got {summary.correct}/{summary.total} right."]
    if summary.strongest:
        lines.append(f"Strongest: {summary.strongest.title}.")
    if summary.weakest:
        lines.append(f"Weakest: {summary.weakest.title}: try `/mlsd quiz {summary.weakest.value}`.")
    if not summary.missed:
        lines.append("A clean sweep: you look ready across all six areas.")
    return Section(_t(" ".join(lines)), heading="Readiness summary")


def quiz_already_answered(grade: Grade) -> Message:
    verdict = "right" if grade.correct else "wrong"
    return notice(
        f"You already answered this one ({_letter(grade.order, grade.choice)}, {verdict}). "
        "Start another with `/mlsd quiz`."
    )


# ------------------------------------------------------------------ standings


def leaderboard(lb: Leaderboard) -> Message:
    label = {"week": "this week", "month": "this month", "all": "all time"}[lb.window]
    if not lb.top:
        return notice(f"No points {label} yet. Answer today's question to get on the board!",
                      title=f"Leaderboard · {label}")
    medals = {1: "🥇", 2: "🥈", 3: "🥉"}
    lines: list[Span | str] = []
    for st in lb.top:
        lines += [f"{medals.get(st.rank, f'{st.rank}.')} ", Mention(st.user_id), f" — {st.points} pts\n"]
    if lb.caller is None:
        footer = _t("You have no points in this window yet.")
    else:
        footer = _t(f"You are #{lb.caller.rank} with {lb.caller.points} pts.")
    return Message(title=f"Leaderboard · {label}", sections=(Section(_t(*lines)),),
                   footer=footer, kind=MessageKind.LEADERBOARD)


def stats(ms: MemberStats, image: Image | None = None) -> Message:
    rows = []
    for t in ms.topics:
        rows.append(
            f"{t.topic.value:<16} answers {t.answers:>2} · coverage {pct(t.avg_coverage):>4} · "
            f"quiz {pct(t.quiz_accuracy):>4}" + (f" ({t.quiz_correct}/{t.quiz_attempts})" if t.quiz_attempts else "")
        )
    rank = f"#{ms.rank.rank} of {ms.members_ranked} ({ms.rank.points} pts)" if ms.rank else "not ranked yet"
    fields = (
        Field("Streak", _t(f"{ms.streak} (best {ms.best_streak})")),
        Field("Rank here", _t(rank)),
    )
    sections = [Section(_t(Mention(ms.user_id), "'s progress"), fields=fields),
                Section(_t("\n".join(rows)), heading="By topic")]
    weakest = ms.weakest_topic
    if weakest:
        sections.append(Section(_t(f"Weakest topic: {weakest.title}. "
                                   f"Try `/mlsd quiz {weakest.value}` to sharpen it.")))
    return Message(title="Your stats", sections=tuple(sections), image=image, kind=MessageKind.STATS)


def _change(d: DigestData) -> str:
    change = d.participation_change
    if change is None:
        return ""
    points = round(change * 100)
    return " (same as last week)" if points == 0 else f" ({points:+d} pts vs last week)"


def digest(d: DigestData, image: Image | None = None) -> Message:
    fields = [
        Field("Questions", _t(str(d.posts))),
        Field("Answers", _t(str(d.answers))),
        Field("Participation", _t(pct(d.participation) + _change(d))),
    ]
    sections = [Section(_t(f"Week of {d.week_start:%d %b %Y}"), fields=tuple(fields))]
    if d.top:
        top: list[Span | str] = []
        for st in d.top:
            top += [f"{st.rank}. ", Mention(st.user_id), f" — {st.points} pts\n"]
        sections.append(Section(_t(*top), heading="Top this week"))
    if d.streak_leaders:
        streaks: list[Span | str] = []
        for uid, n in d.streak_leaders:
            streaks += [Mention(uid), f" 🔥 {n}\n"]
        sections.append(Section(_t(*streaks), heading="Streaks"))
    if d.personal_bests:
        bests: list[Span | str] = []
        for uid, what in d.personal_bests:
            bests += [Mention(uid), f" — {what}\n"]
        sections.append(Section(_t(*bests), heading="New personal bests"))
    if d.coverage_by_topic:
        lines = []
        for t, v in sorted(d.coverage_by_topic.items()):
            avg = d.coverage_4wk.get(t)
            lines.append(f"{t.title}: {pct(v)}" + (f" (4-week avg {pct(avg)})" if avg is not None else ""))
        sections.append(Section(_t("\n".join(lines)), heading="Key-point coverage by topic"))
    if d.most_missed:
        missed = "\n".join(f"• {m.text} — missed in {m.missed} of {m.answers} answers" for m in d.most_missed)
        sections.append(Section(_t(missed), heading="Most-missed key points"))
    if d.weakest_topic:
        text = f"Team's weakest topic: {d.weakest_topic.title}. "
        if d.next_on_weakest:
            text += f"Next up on it: “{_clip(d.next_on_weakest, 160)}” "
        text += f"Warm up with `/mlsd quiz {d.weakest_topic.value}`."
        sections.append(Section(_t(text)))
    if not d.posts:
        sections.append(Section(_t("No questions were posted this week.")))
    return Message(title="Weekly digest", sections=tuple(sections), image=image, kind=MessageKind.DIGEST)


def _clip(text: str, limit: int) -> str:
    """Shorten a *reference* to a question (the full prompt is posted on its day)."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def home(
    user_id: str,
    per_channel: Sequence[tuple[ChannelRef, MemberStats]],
    upcoming: Sequence[tuple[str, str, datetime]],
) -> Message:
    sections: list[Section] = []
    if not per_channel:
        sections.append(Section(_t(
            "You have no points yet. Answer a daily question in a channel where I post, "
            "or try `/mlsd quiz` anywhere."), heading="Your progress"))
    for channel, ms in per_channel:
        rank = f"#{ms.rank.rank} of {ms.members_ranked} ({ms.rank.points} pts)" if ms.rank else "not ranked"
        answered = sum(t.answers for t in ms.topics)
        sections.append(Section(
            _t("Channel ", ChannelMention(channel.channel)),
            fields=(Field("Rank", _t(rank)), Field("Streak", _t(f"{ms.streak} (best {ms.best_streak})")),
                    Field("Answers", _t(str(answered))),
                    Field("Weakest topic", _t(ms.weakest_topic.title if ms.weakest_topic else "–"))),
        ))
    if upcoming:
        lines: list[Span | str] = []
        for channel_id, topic, when in upcoming[:10]:
            lines += [f"{topic} in ", ChannelMention(channel_id), " — ", Timestamp(when), "\n"]
        sections.append(Section(_t(*lines), heading="Next questions"))
    return Message(title="mlsd-bot · your practice", sections=tuple(sections), kind=MessageKind.STATS)
