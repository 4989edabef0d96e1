"""Kill test: a real `mlsd-bot run slack --http` process against the Slack stand-in,
SIGKILLed at several points of a posting / answering / reveal cycle and restarted.

The process's "now" comes from a file the test writes (MLSD_CLOCK_FILE, see
bot.clock.FileClock) and its safety sweep runs every 0.2 s (MLSD_SWEEP_SECONDS),
so three days pass in well under a minute. Kill points are chosen by what can
be observed (the stand-in's call log and the database), not by sleeping:

 1. a post is claimed and its chat.postMessage is held up by a 429 (slack-sdk
    waits out Retry-After in-process): the claim is in the database, nothing is
    on the platform;
 2. right after both posts are confirmed;
 3. in the middle of answering: answers sent, the last ones not yet processed;
 4. a reveal is claimed and its thread reply is held up by a 429;
 5. a quiet moment with open questions; the bot then stays down past the deadlines;
 6. during the catch-up at start, while the overdue reveals meet 503s.

Afterwards every acknowledged answer is in the database, every due post was
made exactly once and every due reveal exactly once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.store.models import PostRow, ReplyRow, SubscriptionRow
from bot.store.repo import Store

standin_module = pytest.importorskip("tests.slack.standin", reason="the Slack stand-in is not there yet")
SlackStandIn = standin_module.SlackStandIn

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
CHANNELS = ("C0KILLA", "C0KILLB")
ADMIN = "UADMIN"
ANSWER = ("I would start from the product goal and the latency budget, build features from the event "
          "log, train a ranker offline and run an A/B test before rollout ({user}, {n}).")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command() -> list[str]:
    exe = shutil.which("mlsd-bot")
    return [exe] if exe else [sys.executable, "-m", "bot.cli"]


class Rig:
    """The stand-in, the bot process, its clock file and a window into its database."""

    def __init__(self, tmp_path: Path, standin: Any, db_url: str) -> None:
        self.tmp = tmp_path
        self.standin = standin
        self.port = _free_port()
        self.clock_file = tmp_path / "now.txt"
        self.db_url = db_url
        self.log = tmp_path / "bot.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.starts = 0
        self.answers: list[tuple[str, str]] = []  # (channel, ts) of every answer sent
        self._n = 0
        self.store = Store.open(self.db_url)  # creates the schema; the bot's own upgrade is then a no-op
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": standin_module.BOT_TOKEN,
            "SLACK_SIGNING_SECRET": standin_module.SIGNING_SECRET,
            "MLSD_SLACK_API_URL": standin.api_url,
            "MLSD_DATABASE_URL": self.db_url,
            "MLSD_ADMINS": ADMIN,
            "MLSD_CLOCK_FILE": str(self.clock_file),
            "MLSD_SWEEP_SECONDS": "0.2",
            "MLSD_LOG_LEVEL": "INFO",
        }
        for name in ("SLACK_APP_TOKEN", "DISCORD_TOKEN", "MLSD_CONFIG"):
            self.env.pop(name, None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    # --------------------------------------------------------------- process

    def set_clock(self, when: datetime) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(when.isoformat(), encoding="utf-8")
        os.replace(tmp, self.clock_file)

    def start(self) -> None:
        assert self.proc is None
        with self.log.open("ab") as log:
            log.write(f"\n===== start {self.starts + 1} =====\n".encode())
            self.proc = subprocess.Popen([*_command(), "run", "slack", "--http", "--port", str(self.port)],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        self.wait(self._healthy, "the bot to answer on /healthz")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"mlsd-bot exited with {self.proc.returncode}:\n{self.tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None
        self.kills += 1

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.proc = None
        return code

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n--- bot log ---\n{self.tail()}")

    # ---------------------------------------------------------- the platform

    def command(self, text: str, channel: str) -> None:
        status, body = self.standin.post_command_sync(self.url, text, user=ADMIN, channel=channel)
        assert status == 200, body

    def answer(self, channel: str, thread_ts: str, user: str, *, wait_ack: bool = True) -> str:
        self._n += 1
        ts = f"1772600000.{self._n:06d}"
        event = {"type": "message", "channel": channel, "user": user, "text": ANSWER.format(user=user, n=self._n),
                 "ts": ts, "thread_ts": thread_ts, "channel_type": "channel"}
        status, body = self.standin.post_event_sync(self.url, event, event_id=f"EvKILL{self._n:04d}")
        assert status == 200, body
        self.answers.append((channel, ts))
        if wait_ack:
            self.wait(lambda: self.acked(channel, ts), f"the acknowledgement of answer {ts}")
        return ts

    def acked(self, channel: str, ts: str) -> bool:
        return (channel, ts, "white_check_mark") in self.standin.reactions

    def daily_posts(self) -> list[Any]:
        return [c for c in self.standin.calls_to("chat.postMessage")
                if not c.args.get("thread_ts") and "Daily question" in c.all_text]

    def reveals(self) -> list[Any]:
        return [c for c in self.standin.calls_to("chat.postMessage")
                if c.args.get("thread_ts") and "Reveal" in c.all_text]

    def failed_calls(self, status: int) -> int:
        return len([c for c in self.standin.calls_to("chat.postMessage", ok=False) if c.status == status])

    # -------------------------------------------------------------- database

    def posts(self) -> list[PostRow]:
        with self.store.session() as s:
            return list(s.exec(select(PostRow).order_by(PostRow.id)))  # type: ignore[arg-type]

    def statuses(self) -> list[str]:
        return [p.status for p in self.posts()]

    def thread_of(self, channel: str, day: int) -> str:
        for p in self.posts():
            if p.local_date.day == day and p.message_id and self.channel_of(p) == channel:
                return p.message_id
        raise AssertionError(f"no post in {channel} on day {day}")

    def channel_of(self, post: PostRow) -> str:
        from bot.store.models import GroupRow

        with self.store.session() as s:
            group = s.get(GroupRow, post.group_id)
            return group.channel if group else ""


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    standin = SlackStandIn(admins=["UOWNER"]).start_in_thread()
    rig = Rig(tmp_path, standin, database_url)
    try:
        yield rig
    finally:
        if rig.proc is not None:
            rig.proc.kill()
            rig.proc.wait(10)
        rig.store.close()
        standin.stop_thread()


def test_sigkill_at_every_stage_loses_no_answer_and_posts_and_reveals_once(rig: Rig) -> None:
    a, b = CHANNELS
    rig.set_clock(MONDAY + timedelta(hours=8, minutes=50))
    rig.start()
    rig.command("subscribe serving at 09:00 days daily window 1h", a)
    rig.command("subscribe all at 09:00 days daily window 1h", b)
    with rig.store.session() as s:
        rig.wait(lambda: len(s.exec(select(SubscriptionRow)).all()) == 2, "two subscriptions")
    # The confirmations go out through chat.postMessage too: let them pass before injecting faults.
    rig.wait(lambda: len([c for c in rig.standin.calls_to("chat.postMessage") if "Subscribed" in c.all_text]) == 2,
             "both subscription confirmations")

    # 1. Monday 09:00: the first post is claimed, its send held up by a 429 -> SIGKILL.
    rig.standin.rate_limit("chat.postMessage", retry_after=30, times=1)
    rig.set_clock(MONDAY + timedelta(hours=9))
    rig.wait(lambda: rig.failed_calls(429) == 1 and "claimed" in rig.statuses(), "a claimed, rate-limited post")
    rig.kill()
    held = next(rig.channel_of(p) for p in rig.posts() if p.status == "claimed")
    assert [c for c in rig.daily_posts() if c.args["channel"] == held] == []  # (the other may be out)

    # The claim may belong to a live process, so it waits out its lease; the other
    # channel's post is made at start.
    rig.start()
    rig.wait(lambda: rig.statuses().count("posted") == 1, "the other channel's post")
    assert "claimed" in rig.statuses()
    rig.set_clock(MONDAY + timedelta(hours=9, minutes=2, seconds=30))
    rig.wait(lambda: rig.statuses() == ["posted", "posted"], "the held-up post, retried")
    # 2. Right after both posts are confirmed.
    rig.kill()

    # 3. Answers; SIGKILL while the last two are still being handled.
    rig.start()
    rig.set_clock(MONDAY + timedelta(hours=9, minutes=10))
    threads = {a: rig.thread_of(a, 2), b: rig.thread_of(b, 2)}
    for user in ("U1", "U2", "U3"):
        for channel in CHANNELS:
            rig.answer(channel, threads[channel], user)
    rig.answer(a, threads[a], "U4", wait_ack=False)
    rig.answer(b, threads[b], "U5", wait_ack=False)
    rig.kill()

    rig.start()
    for user in ("U6", "U7"):
        rig.answer(a, threads[a], user)

    # 4. Monday 10:00, the deadline: a reveal is claimed, its reply held up by a 429 -> SIGKILL.
    rig.standin.rate_limit("chat.postMessage", retry_after=30, times=1)
    rig.set_clock(MONDAY + timedelta(hours=10, seconds=30))
    rig.wait(lambda: rig.failed_calls(429) == 2 and "revealing" in rig.statuses(), "a claimed, rate-limited reveal")
    rig.kill()
    assert len(rig.reveals()) <= 1

    rig.start()
    rig.set_clock(MONDAY + timedelta(hours=10, minutes=3))
    rig.wait(lambda: rig.statuses() == ["revealed", "revealed"], "both Monday reveals")

    # 5. Tuesday: posts and answers, then SIGKILL at a quiet moment ...
    tuesday = MONDAY + timedelta(days=1)
    rig.set_clock(tuesday + timedelta(hours=9))
    rig.wait(lambda: rig.statuses().count("posted") == 2, "Tuesday's posts")
    threads = {a: rig.thread_of(a, 3), b: rig.thread_of(b, 3)}
    for user in ("U1", "U2"):
        for channel in CHANNELS:
            rig.answer(channel, threads[channel], user)
    rig.kill()

    # 6. ... and stay down past the deadline: the catch-up reveals meet 503s -> SIGKILL.
    rig.set_clock(tuesday + timedelta(hours=10, minutes=40))
    rig.standin.server_error("chat.postMessage", status=503, times=3)
    rig.start()
    rig.wait(lambda: rig.failed_calls(503) >= 1, "a 503 during the catch-up")
    rig.kill()

    rig.start()
    rig.set_clock(tuesday + timedelta(hours=10, minutes=45))
    rig.wait(lambda: rig.statuses().count("revealed") == 4, "Tuesday's reveals")

    # Wednesday runs without a kill, and the bot stops gracefully.
    wednesday = MONDAY + timedelta(days=2)
    rig.set_clock(wednesday + timedelta(hours=9))
    rig.wait(lambda: rig.statuses().count("posted") == 2, "Wednesday's posts")
    rig.answer(a, rig.thread_of(a, 4), "U1")
    rig.set_clock(wednesday + timedelta(hours=10, minutes=1))
    rig.wait(lambda: rig.statuses().count("revealed") == 6, "Wednesday's reveals")
    assert rig.terminate() == 0

    # ---------------------------------------------------------------- verdict
    posts = rig.posts()
    assert [(p.local_date.day, p.status) for p in posts] == [(d, "revealed") for d in (2, 2, 3, 3, 4, 4)]
    made = Counter((c.args["channel"], c.ts) for c in rig.daily_posts())
    assert len(made) == 6 and set(made.values()) == {1}
    assert sorted(made) == sorted((rig.channel_of(p), p.message_id) for p in posts)
    assert Counter(c.args["channel"] for c in rig.daily_posts()) == {a: 3, b: 3}
    revealed = Counter(c.args["thread_ts"] for c in rig.reveals())
    assert revealed == Counter({p.message_id: 1 for p in posts})
    with rig.store.session() as s:
        stored = {r.message_id for r in s.exec(select(ReplyRow))}
    acknowledged = [ts for channel, ts in rig.answers if rig.acked(channel, ts)]
    missing = [ts for ts in acknowledged if ts not in stored]
    assert missing == []
    found_after = [ts for _, ts in rig.answers if ts in stored]
    print(f"\nkill test: kills={rig.kills} starts={rig.starts} answers sent={len(rig.answers)} "
          f"acknowledged={len(acknowledged)} found in the database={len(found_after)} "
          f"(acknowledged and found={len(acknowledged) - len(missing)}) "
          f"posts made={sum(made.values())} for {len(posts)} due, reveals made={sum(revealed.values())} "
          f"for {len(posts)} due")
