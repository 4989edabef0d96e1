"""A Slack stand-in on 127.0.0.1: the Web API, response_urls, file uploads and a
Socket Mode websocket, plus helpers that sign requests exactly as Slack does.

It records every call and answers the way Slack answers, including Slack's
Block Kit limits (a message over 50 blocks or a section over 3,000 characters
gets `invalid_blocks`), so a test sees what a real workspace would.

Use it inside an event loop::

    async with SlackStandIn() as slack:
        ...  # settings.slack_api_url = slack.api_url

or from synchronous code (e.g. to drive a `mlsd-bot run slack --http` process)::

    slack = SlackStandIn().start_in_thread()
    status, _ = slack.post_command_sync("http://127.0.0.1:3000/slack/events", "help", user="U1")
    slack.wait_for_sync("response_url")
    slack.stop_thread()

Faults: `fail(method, error)`, `rate_limit(method, retry_after)`, `server_error(method,
status)` and `delete_channel(channel)`. The Socket Mode helpers (`send_envelope`,
`wait_ack`) are coroutines for the loop the stand-in runs in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-standin-bot-token"
APP_TOKEN = "xapp-standin-app-token"
SIGNING_SECRET = "standin-signing-secret"
TEAM_ID = "T0STANDIN"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
APP_ID = "A0STANDIN"


@dataclass
class Call:
    """One request the bot made to the stand-in."""

    method: str  # a Web API method ("chat.postMessage"), "response_url" or "upload"
    args: dict[str, Any]
    token: str | None = None
    status: int = 200
    ok: bool = True
    error: str | None = None
    path: str = ""
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> str:
        """The ts Slack gave a posted message."""
        return str(self.response.get("ts") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.args.get("blocks") or (self.args.get("view") or {}).get("blocks") or [])

    def texts(self) -> list[str]:
        """Every text in the call's blocks (sections, fields, context, header)."""
        out: list[str] = []
        for b in self.blocks:
            if isinstance(b.get("text"), dict):
                out.append(b["text"].get("text", ""))
            out.extend(f.get("text", "") for f in b.get("fields") or [])
            for e in b.get("elements") or []:
                if isinstance(e.get("text"), str):
                    out.append(e["text"])
                elif isinstance(e.get("text"), dict):
                    out.append(e["text"].get("text", ""))
        return out

    @property
    def all_text(self) -> str:
        return "\n".join([str(self.args.get("text") or ""), *self.texts()])

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements") or []]


@dataclass
class Fault:
    kind: str  # "error" | "ratelimit" | "status"
    error: str = ""
    retry_after: int = 1
    status: int = 500


@dataclass
class _Socket:
    ws: web.WebSocketResponse


class SlackStandIn:
    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        admins: Iterable[str] = ("UOWNER",),
        host: str = "127.0.0.1",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.host = host
        self.port = 0
        self.admins = set(admins)
        self.unavailable: dict[str, str] = {}  # channel -> error (e.g. a deleted channel)
        self.faults: dict[str, deque[Fault]] = {}
        self.uploads: dict[str, bytes] = {}
        self.reactions: set[tuple[str, str, str]] = set()
        self.acks: dict[str, dict[str, Any]] = {}
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._sockets: list[_Socket] = []
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ack_events: dict[str, asyncio.Event] = {}

    # ----------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> SlackStandIn:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{rid}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._loop = asyncio.get_running_loop()
        return self

    async def stop(self) -> None:
        for sock in list(self._sockets):
            await sock.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, port: int = 0) -> SlackStandIn:
        """Serve from a background thread with its own event loop (for sync tests)."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start(port))
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="slack-standin", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Slack stand-in did not start")
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What MLSD_SLACK_API_URL should be (with the trailing slash slack-sdk needs)."""
        return f"{self.base_url}/api/"

    # ---------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, *methods: str, ok: bool | None = True) -> list[Call]:
        return [c for c in self.calls if c.method in methods and (ok is None or c.ok == ok)]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0, **match: Any) -> list[Call]:
        """Wait until `count` successful calls to `method` (whose args contain `match`) arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._matching(method, match)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} x {method} {match or ''}; got {self.methods()}")
            await asyncio.sleep(0.01)

    def wait_for_sync(self, method: str, count: int = 1, timeout: float = 10.0, **match: Any) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            found = self._matching(method, match)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} x {method} {match or ''}; got {self.methods()}")
            time.sleep(0.02)

    def _matching(self, method: str, match: dict[str, Any]) -> list[Call]:
        return [c for c in self.calls_to(method) if all(c.args.get(k) == v for k, v in match.items())]

    # -------------------------------------------------------------- faults

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls to `method` answer {"ok": false, "error": error}."""
        self.faults.setdefault(method, deque()).extend(Fault("error", error=error) for _ in range(times))

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls answer HTTP 429 with Retry-After."""
        self.faults.setdefault(method, deque()).extend(
            Fault("ratelimit", retry_after=retry_after) for _ in range(times))

    def server_error(self, method: str, status: int = 503, times: int = 1) -> None:
        self.faults.setdefault(method, deque()).extend(Fault("status", status=status) for _ in range(times))

    def delete_channel(self, channel: str, error: str = "channel_not_found") -> None:
        self.unavailable[channel] = error

    # ------------------------------------------------------------- Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        token = _bearer(request) or args.pop("token", None)
        call = Call(method, args, token=token, path=request.path)
        fault = self._next_fault(method)
        if fault is not None:
            return self._record_fault(call, fault)
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return self._answer(call, {"ok": False, "error": "invalid_auth" if token else "not_authed"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        body = handler(args) if handler else {"ok": True}
        return self._answer(call, body)

    def _next_fault(self, method: str) -> Fault | None:
        queue = self.faults.get(method)
        return queue.popleft() if queue else None

    def _record_fault(self, call: Call, fault: Fault) -> web.Response:
        if fault.kind == "ratelimit":
            call.status, call.ok, call.error = 429, False, "ratelimited"
            self._record(call)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(fault.retry_after)})
        if fault.kind == "status":
            call.status, call.ok, call.error = fault.status, False, f"http_{fault.status}"
            self._record(call)
            return web.Response(status=fault.status, text="upstream trouble")
        return self._answer(call, {"ok": False, "error": fault.error})

    def _answer(self, call: Call, body: dict[str, Any]) -> web.Response:
        call.response = body
        call.ok = bool(body.get("ok"))
        call.error = body.get("error")
        self._record(call)
        return web.json_response(body)

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _new_ts(self) -> str:
        n = next(self._ts)
        return f"{1772400000 + n}.{n:06d}"

    def _channel_error(self, args: dict[str, Any]) -> dict[str, Any] | None:
        channel = str(args.get("channel") or args.get("channel_id") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.unavailable:
            return {"ok": False, "error": self.unavailable[channel]}
        return None

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://standin.slack.com/", "team": "Stand-in Team", "user": "mlsd-bot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        problem = self._channel_error(args) or _message_problem(args)
        if problem:
            return problem
        ts = self._new_ts()
        return {"ok": True, "channel": args["channel"], "ts": ts,
                "message": {"text": args.get("text"), "ts": ts, "bot_id": self.bot_id,
                            "thread_ts": args.get("thread_ts")}}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        problem = self._channel_error(args) or _message_problem(args)
        if problem:
            return problem
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._new_ts()}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        problem = self._channel_error(args) or _message_problem(args)
        if problem:
            return problem
        return {"ok": True, "channel": args["channel"], "ts": args.get("ts"), "text": args.get("text")}

    def _m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("message_ts") or "").replace(".", "")
        return {"ok": True, "channel": args.get("channel"),
                "permalink": f"https://standin.slack.com/archives/{args.get('channel')}/p{ts}"}

    def _m_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        problem = self._channel_error(args)
        if problem:
            return problem
        key = (str(args.get("channel")), str(args.get("timestamp")), str(args.get("name")))
        if key in self.reactions:
            return {"ok": False, "error": "already_reacted"}
        self.reactions.add(key)
        return {"ok": True}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user") or "")
        if not user:
            return {"ok": False, "error": "user_not_found"}
        admin = user in self.admins
        return {"ok": True, "user": {"id": user, "team_id": self.team_id, "name": user.lower(),
                                     "real_name": f"User {user}", "tz": "Europe/Berlin",
                                     "is_admin": admin, "is_owner": False, "is_primary_owner": False,
                                     "is_bot": False}}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return self._view(args)

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return self._view(args)

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view") or {}
        blocks = view.get("blocks") or []
        if len(blocks) > 100 or _blocks_problem(blocks):
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {
                "messages": [_blocks_problem(blocks) or "too many blocks"]}}
        return {"ok": True, "view": {**view, "id": f"V{next(self._ids):06d}", "hash": uuid.uuid4().hex}}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):06d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.base_url}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        problem = self._channel_error(args) if args.get("channel_id") else None
        if problem:
            return problem
        files = args.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title"), "name": f.get("title")}
                                      for f in files or []]}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://{self.host}:{self.port}/socket?ticket={uuid.uuid4().hex}"}

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        file_id = request.match_info["file_id"]
        self.uploads[file_id] = data
        self._record(Call("upload", {"file_id": file_id, "size": len(data)}, path=request.path))
        return web.Response(text=f"OK - {len(data)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await request.json()
        call = Call("response_url", args, path=request.path)
        problem = _message_problem(args)
        if problem:
            call.ok, call.error, call.status = False, problem["error"], 400
            self._record(call)
            return web.Response(status=400, text=problem["error"])
        self._record(call)
        return web.Response(text="ok")

    # --------------------------------------------------------- Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sock = _Socket(ws)
        self._sockets.append(sock)
        self._record(Call("socket.connect", {"ticket": request.query.get("ticket")}, path=request.path))
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "debug_info": {"host": "standin"}, "connection_info": {"app_id": APP_ID}})
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    envelope_id = data.get("envelope_id")
                    if envelope_id:
                        self.acks[envelope_id] = data
                        event = self._ack_events.get(envelope_id)
                        if event is not None:
                            event.set()
        finally:
            self._sockets.remove(sock)
        return ws

    async def socket_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._sockets:
            if time.monotonic() > deadline:
                raise AssertionError("the bot never opened the Socket Mode websocket")
            await asyncio.sleep(0.01)

    async def send_envelope(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0,
                            retry_reason: str = "") -> str:
        """Push an envelope ("events_api", "slash_commands", "interactive") down the websocket."""
        await self.socket_connected()
        envelope_id = str(uuid.uuid4())
        self._ack_events[envelope_id] = asyncio.Event()
        await self._sockets[-1].ws.send_json({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt, "retry_reason": retry_reason,
        })
        return envelope_id

    async def wait_ack(self, envelope_id: str, timeout: float = 3.0) -> dict[str, Any]:
        """The bot's ack of an envelope; Slack gives it 3 seconds."""
        await asyncio.wait_for(self._ack_events[envelope_id].wait(), timeout)
        return self.acks[envelope_id]

    # ------------------------------------------- requests Slack sends the bot

    def sign(self, body: str, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        base = f"v0:{ts}:{body}".encode()
        digest = hmac.new((secret or self.signing_secret).encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    def new_response_url(self) -> str:
        return f"{self.base_url}/response/{next(self._ids)}"

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token", "team_id": self.team_id, "api_app_id": APP_ID,
            "event": {"event_ts": event.get("ts") or f"{time.time():.6f}", **event},
            "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }

    def command_form(self, text: str, *, user: str, channel: str, command: str = "/mlsd",
                     user_name: str | None = None) -> dict[str, str]:
        return {
            "token": "legacy-verification-token", "team_id": self.team_id, "team_domain": "standin",
            "channel_id": channel, "channel_name": "practice", "user_id": user,
            "user_name": user_name or user.lower(), "command": command, "text": text, "api_app_id": APP_ID,
            "is_enterprise_install": "false", "response_url": self.new_response_url(),
            "trigger_id": f"{next(self._ids)}.{uuid.uuid4().hex[:12]}",
        }

    def action_payload(self, *, user: str, channel: str, action_id: str, value: str,
                       message: dict[str, Any] | None = None, ephemeral: bool = False) -> dict[str, Any]:
        message_ts = (message or {}).get("ts") or self._new_ts()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": APP_ID, "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                          "is_ephemeral": ephemeral},
            "trigger_id": f"{next(self._ids)}.{uuid.uuid4().hex[:12]}",
            "team": {"id": self.team_id, "domain": "standin"},
            "channel": {"id": channel, "name": "practice"},
            "response_url": self.new_response_url(),
            "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                         "action_ts": f"{time.time():.6f}", "text": {"type": "plain_text", "text": value}}],
        }
        if message is not None and not ephemeral:
            payload["message"] = message
        return payload

    def view_submission_payload(self, view: dict[str, Any], *, user: str, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "view_submission", "team": {"id": self.team_id, "domain": "standin"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": APP_ID, "token": "legacy-verification-token",
            "trigger_id": f"{next(self._ids)}.{uuid.uuid4().hex[:12]}",
            "view": {**view, "id": view.get("id") or "V000001", "team_id": self.team_id,
                     "state": {"values": values}, "hash": uuid.uuid4().hex},
        }

    @staticmethod
    def encode_event(body: dict[str, Any]) -> tuple[str, str]:
        return json.dumps(body), "application/json"

    @staticmethod
    def encode_form(form: dict[str, str]) -> tuple[str, str]:
        return urllib.parse.urlencode(form), "application/x-www-form-urlencoded"

    @staticmethod
    def encode_interaction(payload: dict[str, Any]) -> tuple[str, str]:
        return urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"

    def _headers(self, body: str, content_type: str, *, timestamp: int | None, secret: str | None,
                 retry_num: int | None) -> dict[str, str]:
        headers = {"Content-Type": content_type, **self.sign(body, timestamp, secret)}
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return headers

    async def post(self, url: str, body: str, content_type: str, *, timestamp: int | None = None,
                   secret: str | None = None, retry_num: int | None = None) -> tuple[int, str]:
        """POST a body to the bot signed like Slack; returns (status, response text)."""
        headers = self._headers(body, content_type, timestamp=timestamp, secret=secret, retry_num=retry_num)
        async with aiohttp.ClientSession() as session, session.post(url, data=body.encode(),
                                                                     headers=headers) as resp:
            return resp.status, await resp.text()

    def post_sync(self, url: str, body: str, content_type: str, *, timestamp: int | None = None,
                  secret: str | None = None, retry_num: int | None = None) -> tuple[int, str]:
        headers = self._headers(body, content_type, timestamp=timestamp, secret=secret, retry_num=retry_num)
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    async def post_event(self, url: str, event: dict[str, Any], *, event_id: str | None = None,
                         retry_num: int | None = None) -> tuple[int, str]:
        return await self.post(url, *self.encode_event(self.event_body(event, event_id)), retry_num=retry_num)

    async def post_command(self, url: str, text: str, *, user: str, channel: str) -> tuple[int, str]:
        return await self.post(url, *self.encode_form(self.command_form(text, user=user, channel=channel)))

    async def post_interaction(self, url: str, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.post(url, *self.encode_interaction(payload))

    def post_event_sync(self, url: str, event: dict[str, Any], *, event_id: str | None = None,
                        retry_num: int | None = None) -> tuple[int, str]:
        return self.post_sync(url, *self.encode_event(self.event_body(event, event_id)), retry_num=retry_num)

    def post_command_sync(self, url: str, text: str, *, user: str, channel: str) -> tuple[int, str]:
        return self.post_sync(url, *self.encode_form(self.command_form(text, user=user, channel=channel)))

    def post_interaction_sync(self, url: str, payload: dict[str, Any]) -> tuple[int, str]:
        return self.post_sync(url, *self.encode_interaction(payload))


# ------------------------------------------------------------------ helpers


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else None


async def _read_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            args.update(await request.json())
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    for key in ("blocks", "view", "files", "attachments"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _message_problem(args: dict[str, Any]) -> dict[str, Any] | None:
    blocks = args.get("blocks")
    if not args.get("text") and not blocks:
        return {"ok": False, "error": "no_text"}
    if blocks:
        if len(blocks) > 50:
            return {"ok": False, "error": "invalid_blocks", "response_metadata": {
                "messages": ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]}}
        problem = _blocks_problem(blocks)
        if problem:
            return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": [problem]}}
    return None


def _blocks_problem(blocks: list[dict[str, Any]]) -> str | None:
    """Slack's per-block limits, the ones a renderer can get wrong."""
    for i, b in enumerate(blocks):
        text = (b.get("text") or {}).get("text") if isinstance(b.get("text"), dict) else None
        kind = b.get("type")
        if kind == "section":
            if text is not None and not (1 <= len(text) <= 3000):
                return f"section {i}: text must be 1-3000 characters (got {len(text)})"
            fields = b.get("fields") or []
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return f"section {i}: at most 10 fields of 2000 characters"
            if text is None and not fields:
                return f"section {i}: needs text or fields"
        elif kind == "header":
            if text is None or len(text) > 150:
                return f"header {i}: text must be at most 150 characters"
        elif kind == "actions":
            elements = b.get("elements") or []
            ids = [e.get("action_id") for e in elements]
            if len(elements) > 25 or len(ids) != len(set(ids)):
                return f"actions {i}: at most 25 elements with unique action_ids"
            for e in elements:
                if len((e.get("text") or {}).get("text", "")) > 75 or len(e.get("value") or "") > 2000:
                    return f"actions {i}: button text <= 75, value <= 2000"
        elif kind == "context":
            elements = b.get("elements") or []
            if len(elements) > 10 or any(len(e.get("text", "")) > 3000 for e in elements):
                return f"context {i}: at most 10 elements of 3000 characters"
    return None
