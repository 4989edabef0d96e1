"""`mlsd-bot demo`: a simulated week of practice in one channel, printed as a transcript.

It runs the real core (store on a temporary SQLite file, the built-in bank,
scoring, reveal, quiz, standings) through the in-memory ChatPort and a
simulated clock: the same code paths the Slack and Discord adapters drive,
just without a network. Five simulated members behave the way real ones do:
one answers well, one briefly, one late, one edits, one deletes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.console.port import MemoryPort, Sent
from adapters.console.render import message_text
from bot.clock import FakeClock
from bot.config import Settings
from bot.content import load_bank, require_questions
from bot.core import Core
from bot.domain import (
    ButtonPressed,
    ChannelRef,
    MessageKind,
    Question,
    ReactionAdded,
    Reply,
    ReplyDeleted,
    ReplyEdited,
    SlashCommand,
    ThreadReply,
)
from bot.quiz import QUIZ_ACTION
from bot.runtime import Runtime
from bot.store.repo import Store

ZONE = ZoneInfo("UTC")
CHANNEL = ChannelRef("console", "demo-team", "ml-practice")
LEAD = "lead"
WEAK_ANSWER = (
    "I would start with a simple baseline, collect more data, and iterate with the team "
    "until the numbers look good enough to ship."
)
REACTIONS = {"white_check_mark": "✅", "hourglass": "⏳"}


def _terms_answer(question: Question, picks: list[int], opener: str) -> str:
    """An answer in the member's own words that touches the chosen key points."""
    phrases = []
    for i in picks:
        if i < len(question.key_points):
            phrases.append(question.key_points[i].terms[0].replace(" + ", " and "))
    return f"{opener} " + "; then ".join(phrases) + ". That is where I would spend the interview time."


def _strong_answer(question: Question) -> str:
    sentences = question.sample_answer.split(". ")
    return ". ".join(sentences[: max(3, len(sentences) * 2 // 3)]).rstrip(".") + "."


@dataclass
class Demo:
    core: Core
    port: MemoryPort
    clock: FakeClock
    out_dir: Path
    seq: int = 0
    shown_full: bool = False

    def say(self, line: str = "") -> None:
        print(line)

    def stamp(self) -> str:
        return self.clock.now().astimezone(ZONE).strftime("%a %H:%M")

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq}"

    def on_call(self, sent: Sent) -> None:
        who = f"{self.stamp()}  mlsd-bot"
        if sent.call == "react":
            self.say(f"{who} reacted {REACTIONS.get(sent.reaction or '', sent.reaction)} "
                     f"to {sent.message_id}")
            return
        if sent.message is None:
            self.say(f"{who} {sent.call} {sent.filename or ''}")
            return
        where = {"send": "posted in #ml-practice", "reply": "replied in the thread",
                 "private": f"(only @{sent.user_id} sees this)", "update": "updated"}[sent.call]
        self.say(f"{who} {where}:")
        abbreviate = {"Sample answer"} if self.shown_full else None
        self.say(message_text(sent.message, ZONE, abbreviate=abbreviate))
        if sent.message.kind == MessageKind.REVEAL:
            self.shown_full = True
        if sent.message.image:
            self._save_image(sent.message.image.filename, sent.message.image.png)

    def _save_image(self, filename: str, png: bytes) -> None:
        path = self.out_dir / filename
        path.write_bytes(png)
        self.say(f"  ┃ (chart saved to {path})")

    # ----------------------------------------------------------------- actions

    async def command(self, user: str, text: str, admin: bool = False) -> Reply | None:
        self.say(f"{self.stamp()}  {user}: /mlsd {text}")
        outcome = await self.core.handle(SlashCommand(CHANNEL, user, text, self.next_id("cmd"),
                                                      is_platform_admin=admin))
        if outcome.reply:
            self.show_reply(user, outcome.reply)
        return outcome.reply

    def show_reply(self, user: str, reply: Reply) -> None:
        to = f"(only @{user} sees this)" if reply.private else "replied in #ml-practice"
        self.say(f"{self.stamp()}  mlsd-bot {to}:")
        self.say(message_text(reply.message, ZONE))
        if reply.message.image:
            self._save_image(reply.message.image.filename, reply.message.image.png)

    async def answer(self, user: str, thread: str, text: str, note: str = "") -> str:
        mid = self.next_id("msg")
        extra = f"  ({note})" if note else ""
        self.say(f"{self.stamp()}  {user} ↳ in thread [{mid}]: {_clip(text)}{extra}")
        await self.core.handle(ThreadReply(CHANNEL, thread, mid, user, text, f"ev-{mid}"))
        return mid

    async def tick(self, at: datetime) -> None:
        self.clock.set(at)
        await self.core.run_due()


def _clip(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _week_start(now: datetime) -> datetime:
    monday = now.date() - timedelta(days=now.weekday())
    return datetime.combine(monday, time(8, 0), tzinfo=UTC)


async def run_demo(weeks: int = 1, charts_dir: Path | None = None) -> int:
    """Simulate `weeks` weeks ending with the current one; charts go to `charts_dir`."""
    with tempfile.TemporaryDirectory(prefix="mlsd-demo-") as tmp:
        db = Path(tmp) / "demo.db"
        out_dir = charts_dir or Path(tempfile.mkdtemp(prefix="mlsd-demo-charts-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(database_url=f"sqlite:///{db}", admins=[LEAD])
        bank, problems = load_bank()
        require_questions(bank, problems)
        if problems:
            for p in problems:
                print(p)
            return 1
        store = Store.open(settings.database_url)
        clock = FakeClock(_week_start(datetime.now(UTC)) - timedelta(weeks=weeks - 1))
        port = MemoryPort(platform="console")
        core = Core(Runtime(settings, store, bank, clock, {"console": port}))
        demo = Demo(core, port, clock, out_dir)
        port.on_call = demo.on_call
        try:
            await _script(demo, bank, weeks)
        finally:
            store.close()
        print(f"\nDemo database was {db} (deleted); charts are in {out_dir}")
    return 0


async def _script(demo: Demo, bank, weeks: int) -> None:  # type: ignore[no-untyped-def]
    say = demo.say
    first_monday = demo.clock.now()
    span = "one simulated week" if weeks == 1 else f"{weeks} simulated weeks"
    say(f"mlsd-bot demo: {span} in #ml-practice (5 members, 2 topics, UTC)")
    say(f"database: a temporary SQLite file · bank: {len(bank.questions)} questions, "
        f"{len(bank.quiz)} quiz items\n")
    say("═══ Setup ═══")
    await demo.command("ben", "subscribe serving")
    await demo.command(LEAD, "subscribe servng at 09:00")
    await demo.command(LEAD, "subscribe serving at 09:00 window 8h", admin=True)
    await demo.command(LEAD, "subscribe experimentation at 09:00 window 8h", admin=True)

    for week in range(weeks):
        await _week(demo, bank, first_monday + timedelta(weeks=week), week)


async def _week(demo: Demo, bank, monday: datetime, week: int) -> None:  # type: ignore[no-untyped-def]
    say = demo.say
    for day in range(5):
        base = monday + timedelta(days=day)
        say(f"\n═══ {base:%A %d %B} ═══")
        await demo.tick(base + timedelta(hours=1))  # 09:00: both questions go out
        posts = [c for c in demo.port.of("send") if c.message and c.message.kind == MessageKind.DAILY_POST]
        todays = []
        for index, post in enumerate(posts[-2:]):
            qid = (post.message.footer.plain() if post.message and post.message.footer else "").split()[-1]
            todays.append((bank.questions[qid], post.thread_id or ""))
            await _members_answer(demo, day, index, *todays[-1], base, week)
        if day in (0, 2, 4):
            demo.clock.set(base + timedelta(hours=9, minutes=1))  # 17:01, after the 17:00 deadline
            for question, thread in todays:
                late = _terms_answer(question, [0, 1, 2, 3], "Sorry I'm late, my plan:")
                await demo.answer("chen", thread, late, note="after the deadline")
        await demo.tick(base + timedelta(hours=9, minutes=5))  # 17:05: deadlines passed, reveals
        if day == 0 and week == 0:
            say("")
            await demo.command("eli", "leaderboard")

    friday = monday + timedelta(days=4)
    say("\n═══ Friday evening: a quiz round ═══")
    demo.clock.set(friday + timedelta(hours=10))
    await _quiz_round(demo, "ana", "quiz serving", correct=True)
    await _quiz_round(demo, "ben", "quiz", correct=False)
    await demo.command(LEAD, "post-now serving", admin=True)
    say("")
    await demo.command("ana", "leaderboard week")
    await demo.command("dee", "stats")
    say("\n═══ The weekly digest ═══")
    await demo.command("ana", "digest")


async def _members_answer(demo: Demo, day: int, index: int, question: Question, thread: str,
                          base: datetime, week: int = 0) -> None:
    clock, say = demo.clock, demo.say
    clock.set(base + timedelta(hours=1, minutes=20 + index * 3))
    ana = await demo.answer("ana", thread, _strong_answer(question))
    clock.advance(minutes=30)
    if day != 2:
        # ben's answers get better after his first week of feedback
        ben = WEAK_ANSWER if week == 0 else _terms_answer(question, [0, week % 6, 5], "Better this time:")
        await demo.answer("ben", thread, ben)
    await demo.answer("eli", thread, "Great one, seen it asked twice!",
                      note="discussion: too short to count as an answer")
    if day % 2 == 0:
        clock.advance(minutes=40)
        draft = "Quick first thought, I will expand later: cache results somewhere sensible."
        dee = await demo.answer("dee", thread, draft)
        clock.advance(hours=1)
        better = _terms_answer(question, [0, 1, 3], "Expanded, as promised: I would lead with")
        say(f"{demo.stamp()}  dee ✎ edited [{dee}]: {_clip(better)}")
        await demo.core.handle(ReplyEdited(CHANNEL, dee, "dee", better, f"edit-{dee}"))
    if index == 0 and day in (0, 3):
        clock.advance(minutes=10)
        wrong_thread = _terms_answer(question, [1, 2], "Posting this in the wrong thread, but:")
        oops = await demo.answer("eli", thread, wrong_thread)
        clock.advance(minutes=2)
        say(f"{demo.stamp()}  eli 🗑 deleted [{oops}]")
        await demo.core.handle(ReplyDeleted(CHANNEL, oops, f"del-{oops}"))
    elif day in (1, 2, 4):
        await demo.answer("eli", thread, _terms_answer(question, [0, 2, 4], "My take: I would start from"))
    clock.advance(hours=1)
    say(f"{demo.stamp()}  ben 👍 reacted to ana's answer [{ana}] (a peer vote)")
    await demo.core.handle(ReactionAdded(CHANNEL, ana, "ben", "+1", f"vote-ben-{ana}"))
    if day == 0 and index == 0:
        say(f"{demo.stamp()}  ana 👍 reacted to her own answer (self-votes don't count)")
        await demo.core.handle(ReactionAdded(CHANNEL, ana, "ana", "+1", f"vote-ana-{ana}"))
        say(f"{demo.stamp()}  (the platform re-delivers ana's answer event: nothing changes)")
        await demo.core.handle(ThreadReply(CHANNEL, thread, ana, "ana", "(retry)", f"ev-{ana}"))


async def _quiz_round(demo: Demo, user: str, text: str, correct: bool) -> None:
    reply = await demo.command(user, text)
    if reply is None or not reply.message.buttons:
        return
    item_id = reply.message.buttons[0].value.split(":")[1]
    item = demo.core.rt.bank.quiz[item_id]
    choice = item.answer if correct else (item.answer + 1) % len(item.choices)
    button = reply.message.buttons[choice]
    demo.say(f"{demo.stamp()}  {user} pressed [ {button.label} ]")
    outcome = await demo.core.handle(ButtonPressed(CHANNEL, user, QUIZ_ACTION, button.value,
                                                   demo.next_id("btn")))
    if outcome.reply:
        demo.show_reply(user, outcome.reply)
