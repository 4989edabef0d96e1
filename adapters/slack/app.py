"""Slack wiring: a slack-bolt AsyncApp whose listeners hand domain events to the core.

Socket Mode by default (SLACK_APP_TOKEN); HTTP mode (`--http --port P`) serves
Bolt's `/slack/events` from an aiohttp server. Events (answers, edits, votes)
are stored before Slack is answered; commands, buttons and forms acknowledge
first and work after, so Slack always gets its answer within 3 seconds.
Translation lives in `inbound.py` (payload -> event) and `outbound.py`
(Message -> Web API); this module only connects them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from adapters.slack import inbound
from adapters.slack.ack_first import AckFirst
from adapters.slack.blocks import BlockKit, Rendered
from adapters.slack.outbound import ANSWER_VIEW, SlackPort, make_client, slack_errors
from adapters.slack.repeats import SkipRepeats
from bot.command_parser import ADMIN_COMMANDS, CommandError, parse
from bot.config import Settings
from bot.core import Core, NotRecorded
from bot.domain import ChannelRef, Message, Plain, Reply, Text
from bot.ports import AdapterError, ChannelUnavailable, PlatformError
from bot.render import ANSWER_PRIVATELY_ACTION, error

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
ADMIN_CACHE_SECONDS = 300


class SlackSetupError(AdapterError):
    """The Slack adapter cannot start: the message says which setting to fix."""


def create_adapter(settings: Settings, core: Core, *, http_port: int | None = None,
                   http_host: str = "0.0.0.0") -> SlackAdapter:
    """Socket Mode when `http_port` is None, else HTTP on `http_host:http_port` (0: any free port)."""
    return SlackAdapter(settings, core, http_port=http_port, http_host=http_host)


class SlackAdapter:
    def __init__(self, settings: Settings, core: Core, *, http_port: int | None, http_host: str) -> None:
        if settings.slack_bot_token is None:
            raise SlackSetupError("SLACK_BOT_TOKEN is not set.")
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        self.mode = "socket" if http_port is None else "http"
        if self.mode == "http" and not secret:
            raise SlackSetupError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information -> App Credentials).")
        if self.mode == "socket" and settings.slack_app_token is None:
            raise SlackSetupError(
                "Socket Mode needs SLACK_APP_TOKEN (an app-level token with connections:write). "
                "Or receive events over HTTP: mlsd-bot run slack --http --port 3000.")
        self.settings = settings
        self.core = core
        self.http_host = http_host
        self.http_port = http_port
        self.client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        self.kit = BlockKit()
        self.port = SlackPort(self.client, self.kit)
        self.bot_user_id: str | None = None
        self.bot_name = "mlsd-bot"
        # Events are processed before Slack gets its 200 (or its Socket Mode ack): an
        # answer is stored before Slack considers it delivered, so a crash in between
        # makes Slack redeliver it instead of losing it. Recording takes milliseconds;
        # listeners that do slower work (commands, buttons, forms) ack first and hand
        # the rest to a background task.
        self.app = AsyncApp(client=self.client, signing_secret=secret, process_before_response=True)
        self.repeats = SkipRepeats()
        self._admins: dict[str, tuple[bool, float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ack_first = AckFirst()
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._started = False
        self._register()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.client.session is None:
            # One keep-alive connection pool for every Web API call: without it slack-sdk opens a
            # new aiohttp session (and TCP connection) per call, which costs more CPU than the call.
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
        try:
            await self._connect()
        except BaseException:
            await self._close_session()
            raise

    async def _close_session(self) -> None:
        session, self.client.session = self.client.session, None
        if session is not None:
            await session.close()

    async def _connect(self) -> None:
        try:
            async with slack_errors("auth.test"):
                auth = await self.client.auth_test()
        except PlatformError as exc:
            raise SlackSetupError(f"Slack did not accept SLACK_BOT_TOKEN ({exc}).") from exc
        self.bot_user_id = auth.get("user_id")
        self.bot_name = auth.get("user") or self.bot_name
        self.kit.permalink_base = auth.get("url")
        if self.mode == "http":
            await self._start_http()
        else:
            await self._start_socket()
        self._started = True
        log.info("Slack adapter running (%s mode) as %s in %s", self.mode, auth.get("user"), auth.get("team"))

    async def _start_http(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._http_events)
        web_app.router.add_get(HEALTH_PATH, self._http_health)
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=10)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.http_host, self.http_port or 0)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise SlackSetupError(f"cannot listen on {self.http_host}:{self.http_port} ({exc.strerror}).") from exc
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.http_port = sockets[0].getsockname()[1]
        log.info("Slack events on http://%s:%s%s", self.http_host, self.http_port, EVENTS_PATH)

    async def _start_socket(self) -> None:
        assert self.settings.slack_app_token is not None
        handler = AsyncSocketModeHandler(self.app, app_token=self.settings.slack_app_token.get_secret_value())
        try:
            # Ask for the websocket URL ourselves: a bad app token fails here, at start,
            # instead of in the client's endless reconnect loop.
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
        except SlackApiError as exc:
            await handler.client.close()
            code = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
            raise SlackSetupError(f"Slack did not accept SLACK_APP_TOKEN ({code}).") from exc
        await handler.connect_async()
        self._socket = handler

    async def stop(self) -> None:
        """Stop taking events, let in-flight handlers finish, then close connections."""
        socket, runner = self._socket, self._runner
        self._socket = self._runner = None
        if socket is not None:
            await socket.close_async()
        if runner is not None:
            await runner.cleanup()
        if not await self.idle(timeout=15):
            log.warning("Slack adapter stopped with %s handler(s) still running", len(self._tasks))
        await self._close_session()
        self._started = False

    async def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no listener is running (tests and shutdown). False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0)
            pending = {t for t in self._tasks if not t.done() and t is not asyncio.current_task()}
            if not pending:
                quiet += 1
                continue
            quiet = 0
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(pending, timeout=remaining)
        return True

    # ----------------------------------------------------------------- HTTP

    async def _http_events(self, request: web.Request) -> web.Response:
        with self.ack_first.request():
            bolt_request = await to_bolt_request(request)
            bolt_response = await self.app.async_dispatch(bolt_request)
            return await to_aiohttp_response(bolt_response)

    async def _http_health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    # ------------------------------------------------------------ listeners

    def _register(self) -> None:
        app = self.app
        app.use(self.repeats)
        # Bolt tries listeners in this order and each miss costs a matcher call: the busiest
        # first (commands and thread replies), so under a burst an ack doesn't pay for the rest.
        app.command(re.compile(r"^/mlsd"))(self._on_command)
        app.event("message")(self._on_message)
        app.event("reaction_added")(self._on_reaction)
        app.event("reaction_removed")(self._on_reaction)
        app.action(re.compile(r".*"))(self._on_action)
        app.view(ANSWER_VIEW)(self._on_answer_submitted)
        app.event("app_home_opened")(self._on_home_opened)
        # Bolt runs the first matching listener: anything else is acknowledged and ignored
        # (an unhandled event would get a 404, and Slack would keep redelivering it).
        app.event(re.compile(r".*"))(self._ignore)

    async def _ignore(self, body: dict) -> None:
        log.debug("ignored Slack event %s", (body.get("event") or {}).get("type"))

    async def _on_message(self, body: dict, context: Any) -> None:
        async with self._work("message event", body):
            event = inbound.message_event(body, context.bot_user_id or self.bot_user_id)
            if event is not None:
                await self.core.handle(event)

    async def _on_reaction(self, body: dict, context: Any) -> None:
        async with self._work("reaction event", body):
            event = inbound.reaction_event(body, context.bot_user_id or self.bot_user_id)
            if event is not None:
                await self.core.handle(event)

    async def _on_home_opened(self, body: dict, event: dict) -> None:
        self._spawn(self._publish_home(body, event))

    async def _publish_home(self, body: dict, event: dict) -> None:
        async with self._work("app_home_opened", body):
            if event.get("tab", "home") != "home" or not event.get("user"):
                return
            view = await self.core.home_view("slack", inbound.team_id(body), str(event["user"]))
            await self.port.publish_home(str(event["user"]), view)

    async def _on_command(self, ack: Any, body: dict, respond: Any) -> None:
        await ack()
        self._spawn(self._run_command(body, respond))

    async def _run_command(self, body: dict, respond: Any) -> None:
        async with self._work("/mlsd", body, respond):
            admin = await self._is_platform_admin(str(body.get("user_id") or ""), str(body.get("text") or ""))
            event = inbound.slash_command(body, admin)
            outcome = await self.core.handle(event)
            if outcome.reply is not None:
                await self._deliver(outcome.reply, event.channel, event.user_id, respond)

    async def _on_action(self, ack: Any, body: dict, respond: Any) -> None:
        await ack()
        self._spawn(self._run_action(body, respond))

    async def _run_action(self, body: dict, respond: Any) -> None:
        async with self._work("button", body, respond):
            event = inbound.button_pressed(body)
            if event is None:
                return
            if event.action_id == ANSWER_PRIVATELY_ACTION:
                await self.port.open_answer_modal(str(body.get("trigger_id") or ""), event.channel,
                                                  event.value, inbound.prompt_of(body))
                return
            outcome = await self.core.handle(event)
            if outcome.reply is not None:
                await self._deliver(outcome.reply, event.channel, event.user_id, respond)

    async def _on_answer_submitted(self, ack: Any, body: dict) -> None:
        await ack()  # closes the modal; the result follows as an ephemeral message
        self._spawn(self._run_answer_submitted(body))

    async def _run_answer_submitted(self, body: dict) -> None:
        async with self._work("private answer", body):
            event = inbound.private_answer(body)
            if event is None:
                log.warning("a private answer without a question id was ignored")
                return
            outcome = await self.core.handle(event)
            if outcome.reply is not None:
                await self._tell(event.channel, event.user_id, self.kit.messages(outcome.reply.message))

    # -------------------------------------------------------------- helpers

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a listener's slow part after its ack (once pending acks are out, see ack_first),
        tracked so `idle`/`stop` wait for it."""
        task = asyncio.create_task(self._after_acks(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_acks(self, work: Coroutine[Any, Any, None]) -> None:
        async with self.ack_first.turn():
            await work

    @asynccontextmanager
    async def _work(self, what: str, body: Mapping[str, Any], respond: Any = None) -> AsyncIterator[None]:
        """Track a running listener (for `idle`/`stop`) and turn an error into a log
        line with context plus, where someone is waiting, a polite answer (through the
        response_url, or as an ephemeral message after a form submission)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        except NotRecorded:
            # Fail the listener: Bolt answers 500 and Slack redelivers the event later,
            # and that redelivery must not be skipped as a repeat.
            self.repeats.forget(str(body.get("event_id") or ""))
            log.error("Slack %s not recorded (team=%s channel=%s); Slack will redeliver it", what,
                      inbound.team_id(body), _channel_of(body))
            raise
        except Exception:
            log.exception("Slack %s failed (team=%s channel=%s user=%s)", what, inbound.team_id(body),
                          _channel_of(body), _user_of(body))
            try:
                if respond is not None and body.get("response_url"):
                    await respond(text=SORRY, response_type="ephemeral", replace_original=False)
                elif body.get("type") == "view_submission":
                    answer = inbound.private_answer(body)
                    if answer is not None:
                        await self._tell(answer.channel, answer.user_id, self.kit.messages(error(SORRY)))
            except Exception:  # the apology is best effort
                log.warning("could not tell the user about the failure", exc_info=True)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _is_platform_admin(self, user_id: str, text: str) -> bool:
        """users.info's admin/owner flags, asked only for commands that need them."""
        try:
            if parse(text).name not in ADMIN_COMMANDS:
                return False
        except CommandError:
            return False
        cached = self._admins.get(user_id)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            async with slack_errors("users.info"):
                resp = await self.client.users_info(user=user_id)
        except PlatformError as exc:
            log.warning("users.info for %s failed (%s): treated as not a workspace admin", user_id, exc)
            return False
        user = resp.get("user") or {}
        is_admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._admins[user_id] = (is_admin, time.monotonic() + ADMIN_CACHE_SECONDS)
        return is_admin

    async def _deliver(self, reply: Reply, channel: ChannelRef, user_id: str, respond: Any) -> None:
        message = reply.message
        if reply.private or reply.replace_original:
            charted = False
            if message.image is not None:
                charted = await self.port.upload_private_image(user_id, message)
            parts = self.kit.messages(_with_chart_note(message, charted))
            for i, part in enumerate(parts):
                replace = reply.replace_original and i == 0
                ok = await _respond(respond, text=part.text, blocks=part.blocks,
                                    response_type=None if replace else "ephemeral", replace_original=replace)
                if not ok:
                    await self._tell(channel, user_id, [part])
            return
        try:
            await self.port.send(channel, message)
        except ChannelUnavailable as exc:
            # Not a member of this channel (yet): show the result where the command was
            # typed and say how to let the bot post here.
            for part in self.kit.messages(message):
                await _respond(respond, text=part.text, blocks=part.blocks, response_type="in_channel",
                               replace_original=False)
            hint = error(f"I can't post in this channel yet ({exc.reason}). Invite me with "
                         f"`/invite @{self.bot_name}`; a paused subscription resumes when you subscribe again.")
            for part in self.kit.messages(hint):
                await _respond(respond, text=part.text, blocks=part.blocks, response_type="ephemeral",
                               replace_original=False)

    async def _tell(self, channel: ChannelRef, user_id: str, parts: list[Rendered]) -> None:
        """An ephemeral message without a response_url; the bot's DM if that fails."""
        for part in parts:
            try:
                async with slack_errors("chat.postEphemeral"):
                    await self.client.chat_postEphemeral(channel=channel.channel, user=user_id,
                                                         text=part.text, blocks=part.blocks or None)
            except PlatformError as exc:
                log.info("ephemeral to %s in %s failed (%s); sending it as a DM", user_id, channel.channel, exc)
                async with slack_errors("chat.postMessage"):
                    await self.client.chat_postMessage(channel=user_id, text=part.text, blocks=part.blocks or None)


async def _respond(respond: Any, **kwargs: Any) -> bool:
    """Answer through the payload's response_url; False when that did not work."""
    if respond is None:
        return False
    try:
        resp = await respond(**{k: v for k, v in kwargs.items() if v is not None}, unfurl_links=False)
    except Exception as exc:  # an expired or missing response_url
        log.info("response_url failed: %s", exc)
        return False
    status = getattr(resp, "status_code", 200)
    if status != 200:
        log.info("response_url answered HTTP %s", status)
        return False
    return True


def _with_chart_note(message: Message, charted: bool) -> Message:
    if not charted:
        return message
    note = Text.of("Your chart is in your direct messages with me.")
    footer = note if message.footer is None else Text((*message.footer.spans, Plain(" · "), *note.spans))
    return replace(message, footer=footer)


def _channel_of(body: Mapping[str, Any]) -> str:
    event = body.get("event") or {}
    return str(body.get("channel_id") or event.get("channel") or (event.get("item") or {}).get("channel")
               or inbound.action_channel(body) or "")


def _user_of(body: Mapping[str, Any]) -> str:
    event = body.get("event") or {}
    user = body.get("user")
    return str(body.get("user_id") or event.get("user") or (user.get("id") if isinstance(user, Mapping) else "")
               or "")
