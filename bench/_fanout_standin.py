"""The platform side of bench/fanout.py: a Slack or Discord stand-in in its own process.

Why a separate process: the platform is remote in production, so its CPU must
not land on the bot's event loop (nor its stalls in the bot's stall figure).
It reuses the test stand-ins (tests/slack/standin.py, tests/discord/standin.py)
and adds what a fan-out needs: every answer takes `latency` seconds, Discord's
global limit of 50 requests per second is enforced (429, `"global": true`,
`retry_after` and the headers discord.py reads), and a control server reports
when each post landed.

Run by `StandInProcess` (below); on its own:
    python bench/_fanout_standin.py slack|discord --channels 1000 --latency 0.05
It prints one JSON line (urls, ids), then serves until killed.

Times are `time.monotonic()`, which on Linux is one clock for every process,
so the bot process can subtract its own instants from them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.discord.standin import API_PREFIX, DiscordStandIn, _json
from tests.slack.standin import SlackStandIn

GLOBAL_LIMIT = 50  # Discord: requests per second per bot
GLOBAL_WINDOW = 1.0


class Tally:
    """What landed and when, since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ok = 0  # successful requests (2xx / Slack ok:true)
        self.posts = 0  # the fan-out's posts (Slack chat.postMessage; Discord messages in parent channels)
        self.rejected = 0  # 429s
        self.failed = 0  # any other error
        self.by_kind: collections.Counter[str] = collections.Counter()
        self.first_arrival: float | None = None
        self.last_ok: float | None = None
        self.last_post: float | None = None
        self.inflight = 0
        self.peak_inflight = 0
        self.sample: dict[str, Any] | None = None
        self.cpu = time.process_time()

    def arrive(self) -> None:
        now = time.monotonic()
        if self.first_arrival is None:
            self.first_arrival = now
        self.inflight += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)

    def leave(self, kind: str, status: str, post: bool, sample: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        self.inflight -= 1
        self.by_kind[f"{kind} {status}"] += 1
        if status == "ok":
            self.ok += 1
            self.last_ok = now
            if post:
                self.posts += 1
                self.last_post = now
                if self.sample is None and sample is not None:
                    self.sample = sample
        elif status == "429":
            self.rejected += 1
        else:
            self.failed += 1

    def stats(self) -> dict[str, Any]:
        return {"ok": self.ok, "posts": self.posts, "rejected": self.rejected, "failed": self.failed,
                "by_kind": dict(self.by_kind), "first_arrival": self.first_arrival, "last_ok": self.last_ok,
                "last_post": self.last_post, "peak_inflight": self.peak_inflight,
                "cpu": time.process_time() - self.cpu}


class SlowSlack(SlackStandIn):
    """The Slack stand-in, answering every Web API call after `latency` seconds."""

    def __init__(self, latency: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.latency = latency
        self.tally = Tally()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.tally.arrive()
        status, sample = "error", None
        try:
            await asyncio.sleep(self.latency)
            response = await super()._api(request)
            if response.status == 429:
                status = "429"
            elif response.status == 200 and response.body is not None:
                body = json.loads(bytes(response.body))  # type: ignore[arg-type]
                status = "ok" if body.get("ok") else f"error:{body.get('error')}"
                if status == "ok" and method == "chat.postMessage" and self.tally.sample is None:
                    sample = next((c.args for c in reversed(self.calls) if c.method == method), None)
            return response
        finally:
            self.tally.leave(method, status, post=method == "chat.postMessage", sample=sample)


class LimitedDiscord(DiscordStandIn):
    """The Discord stand-in, answering after `latency` seconds and enforcing the global limit.

    The limit is a sliding window on arrivals: at most 50 requests are served in any
    one second; beyond that the answer is Discord's global 429.
    """

    def __init__(self, latency: float, limit: int = GLOBAL_LIMIT, **kw: Any) -> None:
        super().__init__(**kw)
        self.latency = latency
        self.limit = limit
        self.admitted: collections.deque[float] = collections.deque()
        self.tally = Tally()
        self.parents: set[str] = set()

    def _admit(self) -> float:
        """0 when this request may go through now, else how long until it could."""
        now = time.monotonic()
        while self.admitted and self.admitted[0] <= now - GLOBAL_WINDOW:
            self.admitted.popleft()
        if len(self.admitted) < self.limit:
            self.admitted.append(now)
            return 0.0
        return max(self.admitted[0] + GLOBAL_WINDOW - now, 0.001)

    async def _rest(self, request: web.Request) -> web.Response:
        path = request.path[len(API_PREFIX):]
        kind = _discord_kind(request.method, path, self.parents)
        self.tally.arrive()
        status = "error"
        try:
            wait = self._admit()
            await asyncio.sleep(self.latency)
            if wait:
                status = "429"
                return _json({"message": "You are being rate limited.", "retry_after": round(wait, 3),
                              "global": True, "code": 0}, 429,
                             {"Retry-After": str(max(1, round(wait + 0.5))), "X-RateLimit-Global": "true",
                              "X-RateLimit-Scope": "global", "Via": "1.1 google"})
            response = await super()._rest(request)
            status = "ok" if 200 <= response.status < 300 else str(response.status)
            return response
        finally:
            self.tally.leave(kind, status, post=kind == "POST message")


def _discord_kind(method: str, path: str, parents: set[str]) -> str:
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages":
        return "POST message" if parts[1] in parents else "POST message in thread"
    if method == "POST" and len(parts) == 5 and parts[-1] == "threads":
        return "POST thread"
    return f"{method} {parts[0] if parts else ''}"


async def serve(platform: str, channels: int, latency: float) -> None:
    standin: SlowSlack | LimitedDiscord
    info: dict[str, Any] = {"platform": platform}
    if platform == "slack":
        standin = SlowSlack(latency)
        await standin.start()
        info.update(api_url=standin.api_url, bot_token=standin.bot_token, team_id=standin.team_id,
                    signing_secret=standin.signing_secret,
                    channels=[f"C{i:07d}" for i in range(1, channels + 1)])
    else:
        standin = LimitedDiscord(latency)
        ids = [standin.add_channel(f"practice-{i}") for i in range(1, channels + 1)]
        standin.parents = {str(i) for i in ids}
        await standin.start()
        info.update(api_url=standin.api_url, gateway_url=standin.gateway_url, guild_id=standin.guild_id,
                    channels=[str(i) for i in ids])

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(standin.tally.stats())

    async def sample(_: web.Request) -> web.Response:
        return web.json_response(standin.tally.sample or {})

    async def reset(_: web.Request) -> web.Response:
        standin.tally.reset()
        return web.json_response({"ok": True})

    control = web.Application()
    control.router.add_get("/stats", stats)
    control.router.add_get("/sample", sample)
    control.router.add_post("/reset", reset)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    info["control_url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    print(json.dumps(info), flush=True)
    await asyncio.Event().wait()


class StandInProcess:
    """The bot process's handle on a stand-in child: start it, read its tallies, stop it.

    The control calls are blocking (urllib) on purpose: they are made only
    outside the measured windows, and so never touch the bot's event loop.
    """

    def __init__(self, platform: str, channels: int, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), platform, "--channels", str(channels),
             "--latency", str(latency)],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {platform} stand-in did not start (exit {self.proc.wait()})")
        self.info: dict[str, Any] = json.loads(line)

    def _call(self, path: str, post: bool = False) -> dict[str, Any]:
        req = urllib.request.Request(self.info["control_url"] + path, data=b"" if post else None,
                                     method="POST" if post else "GET")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self._call("/stats")

    def sample(self) -> dict[str, Any]:
        return self._call("/sample")

    def reset(self) -> None:
        self._call("/reset", post=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("platform", choices=("slack", "discord"))
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.platform, args.channels, args.latency))


if __name__ == "__main__":
    main()
