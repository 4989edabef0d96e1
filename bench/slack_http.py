"""The real `mlsd-bot run slack --http` process under load, beside a bare Bolt app.

    python bench/slack_http.py [--quick] [--requests 1000] [--concurrency 20]

One command runs everything on this machine and prints one table:

- the floor: a bare slack-bolt AsyncApp (bench/_bolt_floor.py) served the same
  way (aiohttp, /slack/events, same signing secret, process_before_response),
  whose /mlsd handler only acks and whose message handler only adds a reaction;
- `/mlsd leaderboard week` ack latency at concurrency 20 in a channel with 50
  members and weeks of ledger, and the bot's CPU seconds per command (until
  every reply reached the stand-in), beside the floor's;
- thread answers ingested and acknowledged at concurrency 20 (HTTP 200s per
  second), then a check that every answer is in the database and got its
  reaction, beside the floor's rate;
- `/mlsd subscribe` ack latency from an admin with 1,000 channels already
  subscribed, and how many acks took longer than Slack's 3 s.

Both servers talk to a light Slack Web API stand-in in its own process
(bench/standins.py). Every request is signed as Slack signs it. The machine is
shared and noisy, so each figure is printed beside its floor from the same run,
as a ratio; nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._procs import Child, clean_env, cpu_seconds, free_port, mlsd_bot
from bench._seed import ADMIN, Seeded, seed
from bench.standins import BOT_TOKEN, SIGNING_SECRET, TEAM_ID, StandInProcess, sign

SLOW_ACK = 3.0  # Slack shows the user an error after this many seconds
REPLY_METHODS = ("response_url", "chat.postMessage", "chat.postEphemeral")


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: Counter[int] = field(default_factory=Counter)
    wall: float = 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    @property
    def rate(self) -> float:
        return self.statuses[200] / self.wall if self.wall else 0.0


@dataclass
class Target:
    name: str
    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"


async def fire(url: str, bodies: list[tuple[bytes, str]], concurrency: int) -> Load:
    """POST every body, signed at send time, `concurrency` at a time; time each one."""
    load = Load()
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def worker() -> None:
            while not queue.empty():
                body, ctype = queue.get_nowait()
                headers = {"Content-Type": ctype, **sign(body)}
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                load.latencies.append(time.perf_counter() - started)
                load.statuses[status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        load.wall = time.perf_counter() - started
    return load


def command(text: str, user: str, channel: str, response_url: str) -> tuple[bytes, str]:
    form = {"token": "x", "team_id": TEAM_ID, "team_domain": "bench", "channel_id": channel,
            "channel_name": "practice", "user_id": user, "user_name": user.lower(), "command": "/mlsd",
            "text": text, "api_app_id": "A0BENCH", "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"{time.time_ns()}.trigger"}
    return urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"


def answer_event(channel: str, thread_ts: str, ts: str, user: str, event_id: str) -> tuple[bytes, str]:
    text = (f"I would split the latency budget per stage, cache candidates near the ranker and fall back "
            f"to a popularity list when the model is slow ({user}).")
    body = {"token": "x", "team_id": TEAM_ID, "api_app_id": "A0BENCH", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "event": {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
                      "thread_ts": thread_ts, "channel_type": "channel", "event_ts": ts},
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOTBENCH", "is_bot": True}]}
    return json.dumps(body).encode(), "application/json"


def replies(standin: StandInProcess) -> int:
    counts = standin.state()["counts"]
    return sum(counts.get(m, 0) for m in REPLY_METHODS)


def settle(done: Callable[[], bool], timeout: float = 60.0) -> float:
    """Wait until `done()`; returns the seconds waited (the timeout if it never was)."""
    started = time.monotonic()
    while not done() and time.monotonic() - started < timeout:
        time.sleep(0.05)
    return time.monotonic() - started


def phase(target: Target, standin: StandInProcess, bodies: list[tuple[bytes, str]], concurrency: int,
          expected_replies: int) -> tuple[Load, float, float]:
    """Fire the bodies; wait for the replies the bot owes; (load, CPU s per request, drain s)."""
    before = replies(standin)
    cpu0 = cpu_seconds(target.child.pid)
    load = asyncio.run(fire(target.url, bodies, concurrency))
    drain = settle(lambda: replies(standin) - before >= expected_replies) if expected_replies else 0.0
    time.sleep(0.2)  # let the last responses' bookkeeping finish before reading the CPU
    cpu = (cpu_seconds(target.child.pid) - cpu0) / len(bodies)
    return load, cpu, drain


def row(name: str, bot: float, floor: float, unit: str, target: str, fmt: str = "{:.1f}") -> str:
    ratio = bot / floor if floor else float("inf")
    return (f"{name:<44} {fmt.format(bot) + ' ' + unit:>14} {fmt.format(floor) + ' ' + unit:>14} "
            f"{ratio:>7.2f}x  {target}")


@dataclass
class Run:
    """What every measurement shares: both servers, the stand-in and the seeded database."""

    bot: Target
    floor: Target
    standin: StandInProcess
    seeded: Seeded
    db: Path
    n: int
    concurrency: int
    members: int
    channels: int

    @property
    def response_base(self) -> str:
        return self.standin.base_url + "/response/"


def measure_leaderboard(r: Run) -> list[str]:
    """`/mlsd leaderboard week` ack latency and CPU, in the seeded channel."""
    bot, floor, standin, n, conc, resp = r.bot, r.floor, r.standin, r.n, r.concurrency, r.response_base
    results = {}
    for t in (floor, bot):
        bodies = [command("leaderboard week", f"U{i % r.members:02d}", r.seeded.channel.channel,
                          f"{resp}{t.name}{i}")
                  for i in range(n)]
        results[t.name] = phase(t, standin, bodies, conc, n if t is bot else 0)
    (bl, bcpu, bdrain), (fl, fcpu, _) = results["mlsd-bot"], results["floor"]
    return [
        row(f"leaderboard week ack p50 (c={conc}, n={n})", bl.pct(0.5), fl.pct(0.5), "ms", ""),
        row("leaderboard week ack p99", bl.pct(0.99), fl.pct(0.99), "ms", "<= 1.3x"),
        row("CPU per leaderboard command", bcpu * 1000, fcpu * 1000, "ms", "", "{:.2f}"),
        f"{'':<44} non-200: bot {n - bl.statuses[200]}, floor {n - fl.statuses[200]}; "
        f"bot's last reply {bdrain:.1f} s after the last ack",
    ]


def measure_answers(r: Run) -> list[str]:
    """Thread answers stored and acknowledged with a reaction, per second; then all checked."""
    bot, floor, standin, n, conc = r.bot, r.floor, r.standin, r.n, r.concurrency
    channel = r.seeded.channel.channel
    loads = {}
    for t, base in ((floor, 1772500000), (bot, 1772600000)):
        bodies = [answer_event(channel, r.seeded.thread_ts, f"{base}.{i:06d}", f"UA{i:05d}", f"Ev{t.name}{i:06d}")
                  for i in range(n)]
        loads[t.name] = phase(t, standin, bodies, conc, 0)
    (ba, bacpu, _), (fa, facpu, _) = loads["mlsd-bot"], loads["floor"]
    reacted = {tuple(pair) for pair in standin.state()["reactions"]}
    bot_ts = [f"1772600000.{i:06d}" for i in range(n)]
    with sqlite3.connect(r.db) as conn:
        stored = {row_[0] for row_ in conn.execute("SELECT message_id FROM replies")}
    missing_db = sum(ts not in stored for ts in bot_ts)
    missing_reaction = sum((channel, ts) not in reacted for ts in bot_ts)
    floor_missing = sum((channel, f"1772500000.{i:06d}") not in reacted for i in range(n))
    return [
        row(f"answers acknowledged per second (c={conc})", ba.rate, fa.rate, "/s", ">= 0.7x"),
        row("answer ack p99", ba.pct(0.99), fa.pct(0.99), "ms", ""),
        row("CPU per answer", bacpu * 1000, facpu * 1000, "ms", "", "{:.2f}"),
        f"{'':<44} bot: {ba.statuses[200]}/{n} HTTP 200, {n - missing_db}/{n} in the database, "
        f"{n - missing_reaction}/{n} reacted; floor: {fa.statuses[200]}/{n} 200, {n - floor_missing}/{n} reacted",
    ]


def measure_subscribe(r: Run) -> list[str]:
    """`/mlsd subscribe` from an admin in new channels, with `channels` already subscribed."""
    bot, floor, standin, n, conc, resp = r.bot, r.floor, r.standin, r.n, r.concurrency, r.response_base
    subs = {}
    for t in (floor, bot):
        bodies = [command(f"subscribe serving at {r.seeded.quiet_time}", ADMIN, f"CNEW{t.name[:1]}{i:05d}",
                          f"{resp}s{t.name}{i}") for i in range(n)]
        subs[t.name] = phase(t, standin, bodies, conc, n if t is bot else 0)
    (bs, bscpu, bsdrain), (fs, fscpu, _) = subs["mlsd-bot"], subs["floor"]
    return [
        row(f"subscribe ack p50 ({r.channels} channels, c={conc})", bs.pct(0.5), fs.pct(0.5), "ms", ""),
        row("subscribe ack p99", bs.pct(0.99), fs.pct(0.99), "ms", "<= 1.3x"),
        row("CPU per subscribe", bscpu * 1000, fscpu * 1000, "ms", "", "{:.2f}"),
        f"{'':<44} acks slower than {SLOW_ACK:.0f} s: bot {sum(x > SLOW_ACK for x in bs.latencies)}, "
        f"floor {sum(x > SLOW_ACK for x in fs.latencies)}; non-200: bot {n - bs.statuses[200]}; "
        f"bot's last confirmation {bsdrain:.1f} s after the last ack",
    ]


MEASUREMENTS: dict[str, Callable[[Run], list[str]]] = {
    "leaderboard": measure_leaderboard, "answers": measure_answers, "subscribe": measure_subscribe,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and a shorter history")
    parser.add_argument("--requests", type=int, default=None, help="requests per measurement (default 1000)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--days", type=int, default=None, help="days of history in the channel (default 14)")
    parser.add_argument("--channels", type=int, default=1000, help="channels already subscribed")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--only", choices=("leaderboard", "answers", "subscribe"), action="append",
                        help="measure only this figure (repeatable; default: all three)")
    args = parser.parse_args()
    n = args.requests or (300 if args.quick else 1000)
    days = args.days or (7 if args.quick else 14)
    conc = args.concurrency
    measure = args.only or list(MEASUREMENTS)

    tmp = Path(tempfile.mkdtemp(prefix="mlsd-bench-http-"))
    db = tmp / "bench.db"
    url = f"sqlite:///{db}"
    print(f"seeding {url}: {args.members} members x {days} days in one channel, {args.channels} more channels ...",
          flush=True)
    seeded = asyncio.run(seed(url, TEAM_ID, members=args.members, days=days, channels=args.channels))
    print(f"seeded in {seeded.seconds:.1f} s", flush=True)

    standin = StandInProcess(admins=[])
    env = clean_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    MLSD_SLACK_API_URL=standin.api_url, MLSD_DATABASE_URL=url, MLSD_ADMINS=ADMIN)
    bot_port, floor_port = free_port(), free_port()
    bot = Target("mlsd-bot", Child("mlsd-bot", [*mlsd_bot(), "run", "slack", "--http", "--port", str(bot_port)],
                                   env, tmp / "bot.log"), bot_port)
    floor = Target("floor", Child("floor", [sys.executable, str(Path(__file__).with_name("_bolt_floor.py")),
                                            str(floor_port)], env, tmp / "floor.log"), floor_port)
    lines: list[str] = []
    try:
        for t in (bot, floor):
            t.child.wait_http(f"http://127.0.0.1:{t.port}/healthz")
        resp = standin.base_url + "/response/"
        channel = seeded.channel.channel

        # Warm both up (first-request imports, Bolt's auth.test, the bot's caches).
        for t in (bot, floor):
            warm = [command("leaderboard week", f"U{i % args.members:02d}", channel, f"{resp}w{i}")
                    for i in range(40)]
            phase(t, standin, warm, conc, 40 if t is bot else 0)

        for name in measure:
            lines += MEASUREMENTS[name](Run(bot, floor, standin, seeded, db, n, conc, args.members, args.channels))
    finally:
        for t in (bot, floor):
            t.child.stop()
        standin.stop()

    print()
    print(f"{'figure':<44} {'mlsd-bot':>14} {'bare Bolt':>14} {'ratio':>8}  target")
    for line in lines:
        print(line)
    print(f"\none run; read the ratios (load average {Path('/proc/loadavg').read_text().split()[0]}). "
          f"Logs and database: {tmp}")
    problems = log_errors(tmp / "bot.log")
    if problems:
        print(problems)
    return 0


def log_errors(log: Path) -> str:
    errors = [line for line in log.read_text(errors="replace").splitlines()
              if " ERROR " in line or "Traceback" in line]
    return f"bot log: {len(errors)} error line(s), first: {errors[0][:160]}" if errors else ""


if __name__ == "__main__":
    sys.exit(main())
