"""A Discord stand-in on 127.0.0.1: REST + gateway, enough for the real discord.py client.

REST records every call (`calls`) and answers the way Discord does for the
endpoints the bot uses; it checks Discord's message limits and refuses (400,
and a note in `violations`) anything Discord would refuse. The gateway speaks
HELLO / IDENTIFY / heartbeat ACK / READY / GUILD_CREATE / dispatch / RESUME
(replaying what the client missed, or on request what it already saw).
Faults (429s, 403s, 404s) are injected per method and path.

Facts verified against discord.py 2.7.1 (see issue 5): JSON responses need
`Content-Type: application/json` exactly; a 429 needs a `Via` header and a
JSON `retry_after`; interaction callbacks are `?with_response=1` and answer
`{"interaction": ..., "resource": ...}`; a thread started from a message has
that message's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
MESSAGE_CONTENT_INTENT = 1 << 15
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Permission bits.
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
READ_HISTORY = 1 << 16
ADD_REACTIONS = 1 << 6
USE_APP_COMMANDS = 1 << 31
MANAGE_GUILD = 1 << 5
MEMBER_PERMS = VIEW_CHANNEL | SEND_MESSAGES | READ_HISTORY | ADD_REACTIONS | USE_APP_COMMANDS


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any
    files: list[tuple[str, int]] = field(default_factory=list)  # (filename, size)
    status: int = 0
    at: float = 0.0  # loop time the request arrived


# Discord's global rate limit: requests per second per bot, interaction endpoints excluded.
GLOBAL_LIMIT = 50
OUTSIDE_GLOBAL_LIMIT = ("/interactions/", "/webhooks/")


def busiest_second(times: list[float]) -> int:
    """The most requests that arrived within any one second (a sliding window)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


@dataclass
class User:
    id: int
    name: str
    manage_guild: bool = False
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.name, "discriminator": "0", "global_name": self.name,
                "avatar": None, "bot": self.bot, "public_flags": 0}

    def member(self, with_user: bool = False, permissions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"roles": [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False,
                                "mute": False, "flags": 0, "nick": None, "avatar": None, "pending": False,
                                "premium_since": None, "communication_disabled_until": None}
        if with_user:
            data["user"] = self.payload()
        if permissions:
            data["permissions"] = str(MEMBER_PERMS | (MANAGE_GUILD if self.manage_guild else 0))
        return data


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int | None  # None: every time


@dataclass
class Interaction:
    id: int
    token: str
    type: int
    payload: dict[str, Any]
    dispatched_at: float
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    first_callback_at: float | None = None
    original: dict[str, Any] | None = None
    original_deleted: bool = False
    followups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def callback_types(self) -> list[int]:
        return [c["type"] for c in self.callbacks]

    @property
    def answered_in(self) -> float | None:
        return None if self.first_callback_at is None else self.first_callback_at - self.dispatched_at

    @property
    def replies(self) -> list[dict[str, Any]]:
        """What the user ended up seeing: the original response (unless deleted, or still
        "thinking") and the follow-ups, in order."""
        out = []
        if self.original is not None and not self.original_deleted and not self.original["flags"] & LOADING:
            out.append(self.original)
        return out + self.followups

    def text(self) -> str:
        return "\n".join(embed_text(m) for m in self.replies)


def embed_text(message: dict[str, Any]) -> str:
    """Everything readable in a message: content, titles, descriptions, fields, footers."""
    parts = [message.get("content") or ""]
    for e in message.get("embeds") or []:
        parts += [e.get("title") or "", e.get("description") or ""]
        for f in e.get("fields") or []:
            parts += [f.get("name") or "", f.get("value") or ""]
        parts.append((e.get("footer") or {}).get("text") or "")
    return "\n".join(p for p in parts if p)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row.get("components", [])
            if "custom_id" in c]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204:
        return web.Response(status=204)
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)


class DiscordStandIn:
    def __init__(self, *, message_content_enabled: bool = True, global_limit: int | None = GLOBAL_LIMIT) -> None:
        self.message_content_enabled = message_content_enabled
        self.global_limit = global_limit
        self.global_429s = 0  # answers refused for the global limit (each also a violation)
        self.refuse_identify_code: int | None = None  # close a new IDENTIFY with this code
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self.app_id = next(self._ids)
        self.guild_id = next(self._ids)
        self.bot = User(self.app_id, "mlsd-bot", bot=True)
        self.users: dict[int, User] = {self.bot.id: self.bot}
        self.channels: dict[int, dict[str, Any]] = {}
        self.channel_id = self.add_channel("ml-practice")
        self.messages: dict[int, dict[str, Any]] = {}
        self.reactions: list[tuple[int, int, str]] = []  # (message, user, emoji)
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # guild id (None: global) -> commands
        self.interactions: dict[str, Interaction] = {}
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.connections = 0
        self.session_id = ""
        self._sessions = itertools.count(1)
        self._seq = 0
        self._log: list[dict[str, Any]] = []
        self._replay_extra: list[dict[str, Any]] = []
        self.holding = False  # True: dispatches are kept (lost in transit) until the next RESUME
        self._ws: web.WebSocketResponse | None = None
        self._changed: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            (m, re.compile(p + "$"), h) for m, p, h in [
                ("GET", r"/users/@me", self._me),
                ("GET", r"/oauth2/applications/@me", self._application),
                ("GET", r"/gateway(/bot)?", self._gateway_info),
                ("PUT", r"/applications/(?P<app>\d+)/commands", self._put_commands),
                ("PUT", r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands", self._put_commands),
                ("GET", r"/channels/(?P<c>\d+)", self._get_channel),
                ("PATCH", r"/channels/(?P<c>\d+)", self._edit_channel),
                ("POST", r"/channels/(?P<c>\d+)/messages", self._create_message),
                ("GET", r"/channels/(?P<c>\d+)/messages/(?P<m>\d+)", self._get_message),
                ("PATCH", r"/channels/(?P<c>\d+)/messages/(?P<m>\d+)", self._edit_message),
                ("POST", r"/channels/(?P<c>\d+)/messages/(?P<m>\d+)/threads", self._start_thread),
                ("PUT", r"/channels/(?P<c>\d+)/messages/(?P<m>\d+)/reactions/(?P<e>[^/]+)/@me", self._react),
                ("DELETE", r"/channels/(?P<c>\d+)/messages/(?P<m>\d+)/reactions/(?P<e>[^/]+)/@me", self._unreact),
                ("POST", r"/users/@me/channels", self._create_dm),
                ("POST", r"/interactions/(?P<i>\d+)/(?P<t>[^/]+)/callback", self._callback),
                ("POST", r"/webhooks/(?P<app>\d+)/(?P<t>[^/]+)", self._followup),
                ("PATCH", r"/webhooks/(?P<app>\d+)/(?P<t>[^/]+)/messages/(?P<m>@original|\d+)", self._edit_hook),
                ("DELETE", r"/webhooks/(?P<app>\d+)/(?P<t>[^/]+)/messages/(?P<m>@original|\d+)", self._delete_hook),
            ]
        ]

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> DiscordStandIn:
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def touch(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
        """Wait until `predicate()` is truthy (re-checked after every call or gateway frame)."""
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"stand-in: timed out waiting for {what or predicate}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # ------------------------------------------------------------- the world

    def new_id(self) -> int:
        return next(self._ids)

    def add_user(self, name: str, manage_guild: bool = False) -> User:
        user = User(self.new_id(), name, manage_guild=manage_guild)
        self.users[user.id] = user
        return user

    def add_channel(self, name: str) -> int:
        cid = self.new_id()
        self.channels[cid] = {
            "id": str(cid), "type": 0, "guild_id": str(self.guild_id), "name": name, "position": len(self.channels),
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
            "last_message_id": None, "rate_limit_per_user": 0, "default_auto_archive_duration": 1440, "flags": 0,
        }
        return cid

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] == 11]

    def messages_in(self, channel_id: int | str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id) and not m.get("deleted")]

    def bot_messages_in(self, channel_id: int | str) -> list[dict[str, Any]]:
        """What the bot posted there itself (not its answers to interactions)."""
        return [m for m in self.messages_in(channel_id)
                if m["author"]["id"] == str(self.bot.id) and "interaction_metadata" not in m]

    def guild_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id), "name": "Study Group", "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": str(self.new_id()), "afk_channel_id": None, "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": [{"id": str(self.guild_id), "name": "@everyone", "permissions": str(MEMBER_PERMS),
                       "position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False,
                       "flags": 0}],
            "emojis": [], "stickers": [], "features": [], "mfa_level": 0, "system_channel_id": None,
            "system_channel_flags": 0, "rules_channel_id": None, "vanity_url_code": None, "description": None,
            "banner": None, "premium_tier": 0, "preferred_locale": "en-US", "public_updates_channel_id": None,
            "nsfw_level": 0, "premium_progress_bar_enabled": False, "unavailable": False,
            "member_count": len(self.users), "large": False, "joined_at": "2026-01-01T00:00:00+00:00",
            "channels": [c for c in self.channels.values() if c["type"] != 11],
            "threads": [t for t in self.threads() if not t["thread_metadata"]["archived"]],
            "members": [self.bot.member(with_user=True)], "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        }

    # ------------------------------------------------------------ faults

    def fail(self, method: str, path: str, status: int, code: int = 0, message: str = "error",
             times: int | None = 1, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Answer `method path` (a regex on the path after /api/v10) with an error."""
        self.faults.append(Fault(method, re.compile(path + "$"), status,
                                 body if body is not None else {"message": message, "code": code},
                                 headers or {}, times))

    def rate_limit(self, method: str, path: str, retry_after: float = 0.05, times: int = 1) -> None:
        self.fail(method, path, 429, times=times, headers={"Via": "1.1 google"},
                  body={"message": "You are being rate limited.", "retry_after": retry_after, "global": False})

    def deny_threads(self, channel_id: int) -> None:
        self.fail("POST", rf"/channels/{channel_id}/messages/\d+/threads", 403, 50013, "Missing Permissions",
                  times=None)

    def deny_channel(self, channel_id: int) -> None:
        self.fail("POST", rf"/channels/{channel_id}/messages", 403, 50001, "Missing Access", times=None)

    def _fault(self, method: str, path: str) -> web.Response | None:
        for fault in self.faults:
            if fault.method == method and fault.path.match(path) and fault.times != 0:
                if fault.times is not None:
                    fault.times -= 1
                return _json(fault.body, fault.status, fault.headers)
        return None

    # ----------------------------------------------------------------- REST

    async def _rest(self, request: web.Request) -> web.Response:
        path = request.path[len(API_PREFIX):]
        body: Any = None
        files: list[tuple[str, int]] = []
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read()  # type: ignore[union-attr]
                    files.append((part.filename or "", len(data)))  # type: ignore[union-attr]
        call = Call(request.method, path, dict(request.query), body, files, at=asyncio.get_running_loop().time())
        self.calls.append(call)
        try:
            response = self._over_global_limit(call) or self._fault(request.method, path)
            if response is None:
                for method, pattern, handler in self._routes:
                    match = pattern.match(path)
                    if method == request.method and match:
                        response = await handler(request, call, **match.groupdict())
                        break
                else:
                    response = _error(404, 0, f"stand-in: no route for {request.method} {path}")
            call.status = response.status
            return response
        finally:
            self.touch()

    def bot_calls(self) -> list[Call]:
        """The calls that count against the bot's global rate limit."""
        return [c for c in self.calls if not c.path.startswith(OUTSIDE_GLOBAL_LIMIT)]

    def _over_global_limit(self, call: Call) -> web.Response | None:
        """Discord's answer to the 51st request in a second: 429 with `global: true`."""
        if self.global_limit is None or call.path.startswith(OUTSIDE_GLOBAL_LIMIT):
            return None
        recent = 0
        for earlier in reversed(self.calls):
            if call.at - earlier.at >= 1.0:
                break
            if earlier is not call and not earlier.path.startswith(OUTSIDE_GLOBAL_LIMIT):
                recent += 1
        if recent < self.global_limit:
            return None
        self.global_429s += 1
        self.violations.append(f"global rate limit: {call.method} {call.path} was request {recent + 1} "
                               "within one second")
        return _json({"message": "You are being rate limited.", "retry_after": 0.1, "global": True}, 429,
                     {"Via": "1.1 google", "X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})

    def calls_to(self, method: str, path: str) -> list[Call]:
        pattern = re.compile(path + "$")
        return [c for c in self.calls if c.method == method and pattern.match(c.path)]

    async def _me(self, request: web.Request, call: Call) -> web.Response:
        if request.headers.get("Authorization") != "Bot test-token":
            return _error(401, 0, "401: Unauthorized")
        return _json({**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def _application(self, request: web.Request, call: Call) -> web.Response:
        return _json({"id": str(self.app_id), "name": "mlsd-bot", "icon": None, "description": "",
                      "summary": "", "bot_public": True, "bot_require_code_grant": False,
                      "verify_key": "00", "owner": self.add_user("owner").payload(), "team": None,
                      "flags": 0, "rpc_origins": [], "interactions_endpoint_url": None})

    async def _gateway_info(self, request: web.Request, call: Call) -> web.Response:
        return _json({"url": self.gateway_url, "shards": 1,
                      "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                              "max_concurrency": 1}})

    async def _put_commands(self, request: web.Request, call: Call, app: str, guild: str | None = None
                            ) -> web.Response:
        out = []
        for cmd in call.json or []:
            out.append({"id": str(self.new_id()), "application_id": app, "version": "1", "type": 1,
                        "default_member_permissions": None, "dm_permission": True, "nsfw": False,
                        "options": [], **cmd, **({"guild_id": guild} if guild else {})})
        self.commands[guild] = out
        return _json(out)

    async def _get_channel(self, request: web.Request, call: Call, c: str) -> web.Response:
        channel = self.channels.get(int(c))
        return _json(channel) if channel else _error(404, 10003, "Unknown Channel")

    async def _edit_channel(self, request: web.Request, call: Call, c: str) -> web.Response:
        channel = self.channels.get(int(c))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        meta = channel.get("thread_metadata")
        for key, value in (call.json or {}).items():
            if meta is not None and key in ("archived", "auto_archive_duration", "locked"):
                meta[key] = value
            else:
                channel[key] = value
        if meta is not None:
            await self.dispatch("THREAD_UPDATE", channel)
        return _json(channel)

    # messages

    def _check(self, body: dict[str, Any], where: str) -> str | None:
        """What Discord would refuse in a message body (None: fine)."""
        problems = []
        content = body.get("content") or ""
        if len(content) > 2000:
            problems.append(f"content {len(content)} > 2000")
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            problems.append(f"{len(embeds)} embeds > 10")
        total = 0
        for i, e in enumerate(embeds):
            title, desc = e.get("title") or "", e.get("description") or ""
            fields = e.get("fields") or []
            footer = (e.get("footer") or {}).get("text") or ""
            if len(title) > 256:
                problems.append(f"embed {i} title {len(title)} > 256")
            if len(desc) > 4096:
                problems.append(f"embed {i} description {len(desc)} > 4096")
            if len(fields) > 25:
                problems.append(f"embed {i} has {len(fields)} fields > 25")
            if len(footer) > 2048:
                problems.append(f"embed {i} footer {len(footer)} > 2048")
            for f in fields:
                if not f.get("name") or not f.get("value"):
                    problems.append(f"embed {i} has an empty field")
                if len(f.get("name", "")) > 256 or len(f.get("value", "")) > 1024:
                    problems.append(f"embed {i} field too long")
            total += len(title) + len(desc) + len(footer) + sum(len(f.get("name", "")) + len(f.get("value", ""))
                                                               for f in fields)
            if not (title or desc or fields or footer or e.get("image")):
                problems.append(f"embed {i} is empty")
        if total > 6000:
            problems.append(f"embeds total {total} > 6000")
        for row in body.get("components") or []:
            for comp in row.get("components", []):
                if len(comp.get("custom_id", "")) > 100 or len(comp.get("label", "")) > 80:
                    problems.append("component id/label too long")
        mentions = body.get("allowed_mentions")
        if mentions is None:
            problems.append("no allowed_mentions")
        elif {"everyone", "roles"} & set(mentions.get("parse", [])):
            problems.append(f"allowed_mentions can ping everyone/roles: {mentions}")
        if not (content or embeds or body.get("components")) and where != "edit":
            problems.append("empty message")
        if problems:
            note = f"{where}: " + "; ".join(problems)
            self.violations.append(note)
            return note
        return None

    def _message(self, channel_id: int | str, author: User, *, content: str = "", embeds: Any = None,
                 components: Any = None, flags: int = 0, reference: dict[str, Any] | None = None,
                 files: list[tuple[str, int]] | None = None, msg_type: int = 0) -> dict[str, Any]:
        mid = self.new_id()
        message: dict[str, Any] = {
            "id": str(mid), "channel_id": str(channel_id), "guild_id": str(self.guild_id),
            "author": author.payload(), "content": content, "timestamp": _now(), "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": [{"id": str(self.new_id()), "filename": name, "size": size, "url": f"http://127.0.0.1/{name}",
                             "proxy_url": f"http://127.0.0.1/{name}"} for name, size in files or []],
            "embeds": embeds or [], "pinned": False, "type": msg_type, "flags": flags,
            "components": components or [],
        }
        if not author.bot:
            message["member"] = author.member()
        if reference:
            message["message_reference"] = {"guild_id": str(self.guild_id), **reference}
            message["type"] = 19
        self.messages[mid] = message
        return message

    def _is_channel(self, channel_id: int) -> bool:
        return channel_id in self.channels

    async def _create_message(self, request: web.Request, call: Call, c: str) -> web.Response:
        if not self._is_channel(int(c)):
            return _error(404, 10003, "Unknown Channel")
        body = call.json or {}
        if problem := self._check(body, f"POST /channels/{c}/messages"):
            return _json({"code": 50035, "message": "Invalid Form Body", "errors": problem}, 400)
        reference = body.get("message_reference")
        if reference and int(reference["message_id"]) not in self.messages:
            if reference.get("fail_if_not_exists", True):
                return _error(400, 50035, "Unknown message reference")
            reference = None
        message = self._message(c, self.bot, content=body.get("content") or "", embeds=body.get("embeds"),
                                components=body.get("components"), flags=body.get("flags") or 0,
                                reference={"message_id": str(reference["message_id"]), "channel_id": c}
                                if reference else None, files=call.files)
        await self.dispatch("MESSAGE_CREATE", message)
        return _json(message)

    async def _get_message(self, request: web.Request, call: Call, c: str, m: str) -> web.Response:
        message = self.messages.get(int(m))
        if message is None or message["channel_id"] != c or message.get("deleted"):
            return _error(404, 10008, "Unknown Message")
        return _json(message)

    async def _edit_message(self, request: web.Request, call: Call, c: str, m: str) -> web.Response:
        message = self.messages.get(int(m))
        if message is None or message["channel_id"] != c:
            return _error(404, 10008, "Unknown Message")
        body = call.json or {}
        if problem := self._check(body, "edit"):
            return _json({"code": 50035, "message": "Invalid Form Body", "errors": problem}, 400)
        self._apply_edit(message, body, call.files)
        return _json(message)

    def _apply_edit(self, message: dict[str, Any], body: dict[str, Any], files: list[tuple[str, int]]) -> None:
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "attachments" in body or files:
            message["attachments"] = [{"id": str(self.new_id()), "filename": n, "size": s} for n, s in files]
        message["edited_timestamp"] = _now()

    async def _start_thread(self, request: web.Request, call: Call, c: str, m: str) -> web.Response:
        body = call.json or {}
        name = body.get("name") or ""
        if not 1 <= len(name) <= 100:
            self.violations.append(f"thread name length {len(name)}")
            return _error(400, 50035, "Invalid Form Body")
        if int(m) not in self.messages:
            return _error(404, 10008, "Unknown Message")
        thread = {
            "id": m, "type": 11, "guild_id": str(self.guild_id), "parent_id": c, "owner_id": str(self.bot.id),
            "name": name, "last_message_id": None, "message_count": 0, "member_count": 1,
            "rate_limit_per_user": 0, "flags": 0, "total_message_sent": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                "archive_timestamp": _now(), "locked": False},
        }
        self.channels[int(m)] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, 201)

    async def _react(self, request: web.Request, call: Call, c: str, m: str, e: str) -> web.Response:
        if int(m) not in self.messages or self.messages[int(m)]["channel_id"] != c:
            return _error(404, 10008, "Unknown Message")
        self.reactions.append((int(m), self.bot.id, e))
        await self.dispatch("MESSAGE_REACTION_ADD", self._reaction_payload(c, m, self.bot, e))
        return _json(None, 204)

    async def _unreact(self, request: web.Request, call: Call, c: str, m: str, e: str) -> web.Response:
        return _json(None, 204)

    async def _create_dm(self, request: web.Request, call: Call) -> web.Response:
        user = self.users[int(call.json["recipient_id"])]
        cid = self.new_id()
        self.channels[cid] = {"id": str(cid), "type": 1, "recipients": [user.payload()], "last_message_id": None}
        return _json(self.channels[cid])

    # interactions

    def _interaction(self, token: str) -> Interaction:
        return self.interactions[token]

    def _response(self, record: Interaction, data: dict[str, Any], files: list[tuple[str, int]],
                  flags: int = 0) -> dict[str, Any]:
        message = self._message(record.payload["channel_id"], self.bot, content=data.get("content") or "",
                                embeds=data.get("embeds"), components=data.get("components"),
                                flags=flags | (data.get("flags") or 0), files=files)
        message["interaction_metadata"] = {"id": str(record.id), "type": record.type,
                                           "user": record.payload["member"]["user"]}
        return message

    async def _callback(self, request: web.Request, call: Call, i: str, t: str) -> web.Response:
        record = self._interaction(t)
        if record.callbacks:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = call.json or {}
        kind = body["type"]
        data = body.get("data") or {}
        record.callbacks.append(body)
        record.first_callback_at = asyncio.get_running_loop().time()
        message = None
        if kind == 4:
            if problem := self._check(data, "interaction response"):
                return _json({"code": 50035, "message": "Invalid Form Body", "errors": problem}, 400)
            message = record.original = self._response(record, data, call.files)
        elif kind == 5:
            message = record.original = self._response(record, {"flags": data.get("flags")}, [], LOADING)
        elif kind in (6, 7):
            record.original = self.messages[int(record.payload["message"]["id"])]
            if kind == 7:
                self._apply_edit(record.original, data, call.files)
                message = record.original
        original = record.original
        response: dict[str, Any] = {
            "interaction": {"id": i, "type": record.type,
                            "response_message_id": original["id"] if original else None,
                            "response_message_loading": kind == 5,
                            "response_message_ephemeral": bool(original and original["flags"] & EPHEMERAL)},
            "resource": {"type": kind, **({"message": message} if message else {})},
        }
        return _json(response)

    async def _followup(self, request: web.Request, call: Call, app: str, t: str) -> web.Response:
        record = self._interaction(t)
        body = call.json or {}
        if not record.callbacks:
            self.violations.append("follow-up before the interaction was acknowledged")
        if problem := self._check(body, "follow-up"):
            return _json({"code": 50035, "message": "Invalid Form Body", "errors": problem}, 400)
        message = self._response(record, body, call.files)
        record.followups.append(message)
        return _json(message)

    def _hook_message(self, record: Interaction, m: str) -> dict[str, Any] | None:
        if m == "@original":
            return record.original
        return next((f for f in record.followups if f["id"] == m), None)

    async def _edit_hook(self, request: web.Request, call: Call, app: str, t: str, m: str) -> web.Response:
        record = self._interaction(t)
        message = self._hook_message(record, m)
        if message is None or (m == "@original" and record.original_deleted):
            return _error(404, 10008, "Unknown Message")
        body = call.json or {}
        if problem := self._check(body, "edit"):
            return _json({"code": 50035, "message": "Invalid Form Body", "errors": problem}, 400)
        self._apply_edit(message, body, call.files)
        message["flags"] &= ~LOADING
        return _json(message)

    async def _delete_hook(self, request: web.Request, call: Call, app: str, t: str, m: str) -> web.Response:
        record = self._interaction(t)
        if m == "@original":
            record.original_deleted = True
        return _json(None, 204)

    # ------------------------------------------------------------- gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                msg = json.loads(frame.data)
                op, data = msg.get("op"), msg.get("d")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif op == 2:
                    await self._identify(ws, data)
                elif op == 6:
                    await self._resume(ws, data)
                self.touch()
        finally:
            if self._ws is ws:
                self._ws = None
            self.touch()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if self.refuse_identify_code is not None:
            await ws.close(code=self.refuse_identify_code, message=b"Refused.")
            return
        if data.get("intents", 0) & MESSAGE_CONTENT_INTENT and not self.message_content_enabled:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.session_id = f"session-{next(self._sessions)}"
        self._seq = 0
        self._log = []
        await self.dispatch("READY", {
            "v": 10, "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}], "session_id": self.session_id,
            "resume_gateway_url": self.gateway_url, "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [], "relationships": [], "user_settings": {}, "session_type": "normal",
        })
        await self.dispatch("GUILD_CREATE", self.guild_payload())

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.resumes.append(data)
        if data.get("session_id") != self.session_id:
            await ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return
        missed = [f for f in self._log if f["s"] > (data.get("seq") or 0)]
        for frame in [*self._replay_extra, *missed]:
            await ws.send_str(json.dumps(frame))
        self._replay_extra = []
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": self._seq, "d": {}}))

    async def close_gateway(self, code: int, reason: str = "closed by the stand-in") -> None:
        """Close the client's gateway connection with a close code, as Discord does: 4004
        (authentication failed) and 4010-4014 may not be retried; 1001 or 4000 may be resumed."""
        assert self._ws is not None, "no gateway connection to close"
        await self._ws.close(code=code, message=reason.encode())

    def hold(self) -> None:
        """From now on, events are lost in transit: the client gets them on its next RESUME."""
        self.holding = True

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send a gateway event (or keep it for a RESUME if the client is not connected)."""
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._log.append(frame)
        if self._ws is not None and not self._ws.closed and not self.holding:
            await self._ws.send_str(json.dumps(frame))
        self.touch()
        return self._seq

    @property
    def frames(self) -> list[dict[str, Any]]:
        """The dispatches of the current gateway session, in order."""
        return list(self._log)

    async def reconnect(self, replay_last: int = 0, replay: list[dict[str, Any]] | None = None) -> None:
        """Ask the client to reconnect (op 7); on its RESUME, replay the last `replay_last`
        events (or the `replay` frames) it already received, as Discord may after a flaky
        connection."""
        self._replay_extra = list(replay or []) + (self._log[-replay_last:] if replay_last else [])
        self.holding = False
        connections = self.connections
        assert self._ws is not None
        await self._ws.send_str(json.dumps({"op": 7, "d": None, "s": None, "t": None}))
        await self.wait_for(lambda: self.connections > connections and len(self.resumes) > 0, what="a RESUME")

    # ----------------------------------------------- what members do (events)

    async def post(self, user: User, channel_id: int | str, content: str,
                   reply_to: int | str | None = None) -> dict[str, Any]:
        """A member posts a message (in a channel or a thread)."""
        reference = {"message_id": str(reply_to), "channel_id": str(channel_id)} if reply_to else None
        message = self._message(channel_id, user, content=content, reference=reference)
        channel = self.channels.get(int(channel_id))
        if channel is not None and channel["type"] == 11:
            message["position"] = channel["message_count"]
            channel["message_count"] += 1
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def edit(self, message: dict[str, Any], content: str) -> None:
        message["content"] = content
        message["edited_timestamp"] = _now()
        await self.dispatch("MESSAGE_UPDATE", dict(message))

    async def delete(self, message: dict[str, Any]) -> None:
        message["deleted"] = True
        await self.dispatch("MESSAGE_DELETE", {"id": message["id"], "channel_id": message["channel_id"],
                                               "guild_id": str(self.guild_id)})

    def _reaction_payload(self, channel_id: str, message_id: str, user: User, emoji: str) -> dict[str, Any]:
        message = self.messages.get(int(message_id), {})
        return {"user_id": str(user.id), "channel_id": str(channel_id), "message_id": str(message_id),
                "guild_id": str(self.guild_id), "emoji": {"id": None, "name": emoji},
                "member": user.member(with_user=True), "burst": False, "burst_colors": [], "type": 0,
                "message_author_id": message.get("author", {}).get("id")}

    async def react(self, user: User, message: dict[str, Any], emoji: str = "👍") -> None:
        self.reactions.append((int(message["id"]), user.id, emoji))
        await self.dispatch("MESSAGE_REACTION_ADD",
                            self._reaction_payload(message["channel_id"], message["id"], user, emoji))

    async def unreact(self, user: User, message: dict[str, Any], emoji: str = "👍") -> None:
        payload = self._reaction_payload(message["channel_id"], message["id"], user, emoji)
        payload.pop("member")
        await self.dispatch("MESSAGE_REACTION_REMOVE", payload)

    def _interaction_payload(self, kind: int, user: User, channel_id: int | str, data: dict[str, Any],
                             message: dict[str, Any] | None = None) -> Interaction:
        iid = self.new_id()
        token = f"token-{iid}"
        channel = self.channels[int(channel_id)]
        payload: dict[str, Any] = {
            "id": str(iid), "application_id": str(self.app_id), "type": kind, "data": data,
            "guild_id": str(self.guild_id), "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
            "channel_id": str(channel_id), "channel": channel,
            "member": user.member(with_user=True, permissions=True), "token": token, "version": 1,
            "app_permissions": str(MEMBER_PERMS), "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": str(self.guild_id)}, "context": 0,
            "attachment_size_limit": 26214400,
        }
        if message is not None:
            payload["message"] = message
        record = Interaction(iid, token, kind, payload, asyncio.get_running_loop().time())
        self.interactions[token] = record
        return record

    def _command(self, guild: bool = True) -> dict[str, Any]:
        synced = self.commands.get(str(self.guild_id)) or self.commands.get(None) or []
        found = next((c for c in synced if c["name"] == "mlsd"), None)
        assert found is not None, "the bot has not registered /mlsd"
        return found

    async def slash(self, user: User, sub: str, channel_id: int | str | None = None, **options: Any
                    ) -> Interaction:
        """A member runs `/mlsd <sub> option:value ...`; returns the interaction record."""
        command = self._command()
        spec = next(o for o in command["options"] if o["name"] == sub)
        types = {o["name"]: o["type"] for o in spec.get("options", [])}
        opts = [{"name": k, "type": types[k], "value": v} for k, v in options.items() if v is not None]
        data = {"id": command["id"], "name": "mlsd", "type": 1, "guild_id": command.get("guild_id"),
                "options": [{"name": sub, "type": 1, "options": opts}]}
        record = self._interaction_payload(2, user, channel_id or self.channel_id, data)
        await self.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def autocomplete(self, user: User, sub: str, option: str, typed: str, **others: Any) -> Interaction:
        command = self._command()
        spec = next(o for o in command["options"] if o["name"] == sub)
        types = {o["name"]: o["type"] for o in spec.get("options", [])}
        opts = [{"name": k, "type": types[k], "value": v} for k, v in others.items()]
        opts.append({"name": option, "type": types[option], "value": typed, "focused": True})
        data = {"id": command["id"], "name": "mlsd", "type": 1, "guild_id": command.get("guild_id"),
                "options": [{"name": sub, "type": 1, "options": opts}]}
        record = self._interaction_payload(4, user, self.channel_id, data)
        await self.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def press(self, user: User, message: dict[str, Any], custom_id: str) -> Interaction:
        """A member clicks a button on `message`."""
        data = {"custom_id": custom_id, "component_type": 2}
        record = self._interaction_payload(3, user, message["channel_id"], data, message=message)
        await self.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def submit(self, user: User, channel_id: int | str, custom_id: str, values: dict[str, str]
                     ) -> Interaction:
        """A member submits a modal form."""
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in values.items()]
        record = self._interaction_payload(5, user, channel_id, {"custom_id": custom_id, "components": rows})
        await self.dispatch("INTERACTION_CREATE", record.payload)
        return record
