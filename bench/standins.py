"""A light Slack Web API stand-in for benchmarks, run in its own process.

tests/slack/standin.py is the faithful stand-in (Block Kit limits, faults,
Socket Mode); this one answers only what a benchmark needs, as cheaply as it
can, and in a separate process, so the stand-in's own CPU is not charged to the
load generator's clock or to the bot. It keeps counts per method and the set of
reactions added; the benchmark reads them from `GET /_bench/state`.

    python -m bench.standins --port 0 --admins UADMIN   # prints "ready <port>"

Requests to the bot are signed here too (`sign`), exactly as Slack signs them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

BOT_TOKEN = "xoxb-bench-bot-token"
SIGNING_SECRET = "bench-signing-secret"
TEAM_ID = "T0BENCH"
BOT_USER_ID = "UBOTBENCH"
ROOT = Path(__file__).resolve().parent.parent


def sign(body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackWebStandIn:
    """Web API methods, response_urls and file uploads; counts and reactions kept."""

    def __init__(self, admins: set[str], token: str = BOT_TOKEN) -> None:
        self.admins = admins
        self.token = token
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.reactions: set[tuple[str, str]] = set()
        self._ts = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response_url)
        app.router.add_post("/upload/{fid}", self._upload)
        app.router.add_get("/_bench/state", self._state)
        app.router.add_post("/_bench/reset", self._reset)
        return app

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else args.get("token")
        self.counts[method] += 1
        if token != self.token:
            self.errors[method] += 1
            return web.json_response({"ok": False, "error": "invalid_auth"})
        return web.json_response(self._answer(method, args, request))

    def _answer(self, method: str, args: dict[str, Any], request: web.Request) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://bench.slack.com/", "team": "Bench", "user": "mlsd-bot",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "BBENCH"}
        if method == "reactions.add":
            key = (str(args.get("channel")), str(args.get("timestamp")))
            if key in self.reactions:
                self.errors[method] += 1
                return {"ok": False, "error": "already_reacted"}
            self.reactions.add(key)
            return {"ok": True}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            n = next(self._ts)
            ts = f"{1772400000 + n}.{n:06d}"
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message_ts": ts,
                    "message": {"ts": ts, "text": args.get("text")}}
        if method == "users.info":
            user = str(args.get("user") or "")
            return {"ok": True, "user": {"id": user, "team_id": TEAM_ID, "name": user.lower(),
                                         "is_admin": user in self.admins, "is_owner": False,
                                         "is_primary_owner": False, "is_bot": False}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users") or "").split(",")[0]}}
        if method == "chat.getPermalink":
            return {"ok": True, "permalink": f"https://bench.slack.com/archives/{args.get('channel')}/p1"}
        if method == "files.getUploadURLExternal":
            n = next(self._ts)
            return {"ok": True, "file_id": f"F{n}", "upload_url": f"{request.url.origin()}/upload/F{n}"}
        return {"ok": True}

    async def _response_url(self, request: web.Request) -> web.Response:
        await request.read()
        self.counts["response_url"] += 1
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        self.counts["upload"] += 1
        return web.Response(text=f"OK - {len(data)}")

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response({"counts": dict(self.counts), "errors": dict(self.errors),
                                  "reactions": [list(r) for r in sorted(self.reactions)]})

    async def _reset(self, request: web.Request) -> web.Response:
        self.counts.clear()
        self.errors.clear()
        self.reactions.clear()
        return web.json_response({"ok": True})


async def _serve(port: int, admins: set[str]) -> None:
    runner = web.AppRunner(SlackWebStandIn(admins).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"ready {bound}", flush=True)
    await asyncio.Event().wait()


class StandInProcess:
    """The stand-in as a child process; `state()` reads its counts and reactions."""

    def __init__(self, admins: list[str]) -> None:
        cmd = [sys.executable, "-m", "bench.standins", "--port", "0", "--admins", ",".join(admins)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if not line or line[0] != "ready":
            raise RuntimeError("the Slack stand-in did not start")
        self.port = int(line[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.base_url}/api/"

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/_bench/state", timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.base_url}/_bench/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=10).close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--admins", default="")
    args = parser.parse_args()
    asyncio.run(_serve(args.port, {a for a in args.admins.split(",") if a}))


if __name__ == "__main__":
    main()
