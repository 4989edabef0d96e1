"""Wiring only: a discord.py client whose events and interactions go to the core.

`create_adapter(settings, core)` is what `mlsd-bot run` calls. `start()` logs in,
waits for the gateway's READY, syncs the `/mlsd` commands and returns; the
client keeps running in a task. `stop()` stops taking events, lets in-flight
handlers finish and closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.discord import inbound
from adapters.discord.commands import build_group
from adapters.discord.inbound import Where, emoji_for
from adapters.discord.outbound import DiscordPort
from adapters.discord.pace import Pace
from adapters.discord.render import ALLOWED_MENTIONS, AnswerModal, Part, custom_id, render
from bot.config import Settings
from bot.core import Core, NotRecorded
from bot.domain import (
    Bold,
    InboundEvent,
    Message,
    MessageKind,
    Outcome,
    ReactionAdded,
    ReactionRemoved,
    Reply,
    ReplyEdited,
    Section,
    Text,
    ThreadReply,
)
from bot.ports import AdapterError, PlatformError
from bot.render import ANSWER_PRIVATELY_ACTION

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"

# Replies that go to the whole channel when they succeed; everything else is ephemeral.
PUBLIC_COMMANDS = frozenset({"leaderboard", "subscribe", "unsubscribe"})

# Discord never delivers a gateway event twice, so a member's answer (edit, vote) that could
# not be stored is tried again here: after each of these pauses (seconds), then given up on
# and the member is told. Every attempt hands the core the same event, so its event-id ledger
# records it once however many attempts it took. About 2 s in all: a database that is still
# failing after that will not recover while the member waits.
RECORD_RETRY_DELAYS = (0.25, 0.5, 1.0)

# What a member reads when their words could not be stored: (what happened, what to do).
NOT_RECORDED: dict[type, tuple[str, str]] = {
    ThreadReply: ("Your answer was not recorded.",
                  "I could not save it just now. Please post it again in this thread."),
    ReplyEdited: ("Your edit was not recorded.",
                  "I could not save it just now, so the earlier version is what counts. "
                  "Please edit your message again."),
    ReactionAdded: ("Your {emoji} vote on this answer was not recorded.",
                    "I could not save it just now. Please remove your reaction and add it again."),
    ReactionRemoved: ("Taking back your {emoji} vote on this answer was not recorded.",
                      "I could not save it just now, so the vote still counts. "
                      "Please add the reaction and remove it again."),
}

MESSAGE_CONTENT_HELP = (
    "Discord refused the connection (close code 4014): the bot asks for the privileged "
    "Message Content intent, which is not enabled for this application. Open "
    "https://discord.com/developers/applications, pick the application, go to Bot -> "
    "Privileged Gateway Intents, turn on MESSAGE CONTENT INTENT, save, and start mlsd-bot again. "
    "(The bot needs it to read answers posted in question threads.)"
)


# The gateway close codes discord.py does not reconnect after, and what to do about them.
CLOSE_CODES = {
    4004: "authentication failed: Discord no longer accepts DISCORD_TOKEN (was it reset?); "
          "set the current bot token and start mlsd-bot again",
    4010: "invalid shard", 4011: "sharding required", 4012: "invalid gateway API version",
    4013: "invalid intents", 4014: "a privileged intent is not enabled for this application",
}


class DiscordStartError(AdapterError):  # type: ignore[valid-type,misc]
    """The Discord client could not start; the message says why and what to do."""


def intents() -> discord.Intents:
    """Exactly what the bot uses. Message content is privileged; presences and members are not needed."""
    chosen = discord.Intents.none()
    chosen.guilds = True  # channels and threads, so thread messages map to their channel
    chosen.guild_messages = True  # answers in threads, edits, deletes
    chosen.message_content = True  # the answers' text (privileged)
    chosen.guild_reactions = True  # peer votes
    return chosen


def point_at(settings: Settings) -> None:
    """Aim discord.py's REST and gateway clients (class attributes, read at request and
    connect time) at Discord or, in tests, at a local stand-in."""
    discord.http.Route.BASE = (settings.discord_api_url or DISCORD_API).rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url or DISCORD_GATEWAY)


def explain(exc: BaseException) -> str:
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return MESSAGE_CONTENT_HELP
    if isinstance(exc, discord.LoginFailure):
        return ("Discord rejected DISCORD_TOKEN (401). Copy the bot token again from the developer "
                "portal (Bot -> Reset Token) and set DISCORD_TOKEN.")
    if isinstance(exc, discord.ConnectionClosed):
        meaning = CLOSE_CODES.get(exc.code or 0, exc.reason or "no reason given")
        return f"the Discord gateway closed the connection (code {exc.code}: {meaning})."
    return f"could not connect to Discord: {exc.__class__.__name__}: {exc}"


class _Client(discord.Client):
    """Forwards the events the bot uses to the adapter."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        super().dispatch(event, *args, **kwargs)
        if event in ("raw_reaction_add", "raw_reaction_remove"):
            # Called while the gateway handles the event, so `sequence` is this event's own
            # number: a RESUME replay carries the same one, a new reaction a new one.
            ws = self.ws
            delivery = f"{ws.session_id}:{ws.sequence}" if ws is not None else "?"
            super().dispatch("mlsd_reaction", args[0], delivery)

    async def on_ready(self) -> None:
        self.adapter.ready.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.adapter.on_edit(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.adapter.on_delete(payload)

    async def on_mlsd_reaction(self, payload: discord.RawReactionActionEvent, delivery: str) -> None:
        await self.adapter.on_reaction(payload, delivery)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_interaction(interaction)


class DiscordAdapter:
    """The PlatformAdapter for Discord (see bot.ports.PlatformAdapter)."""

    def __init__(
        self,
        settings: Settings,
        core: Core,
        *,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = 60.0,
        archive_after_reveal: int | None = 1440,
        on_event: Callable[[InboundEvent, Outcome], None] | None = None,
        record_retry_delays: Sequence[float] = RECORD_RETRY_DELAYS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if settings.discord_token is None:
            raise DiscordStartError("DISCORD_TOKEN is not set.")
        point_at(settings)
        # The bot never joins voice: skip discord.py's warnings about missing voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        self.settings = settings
        self.core = core
        self.ready_timeout = ready_timeout
        self.on_event = on_event
        self.record_retry_delays = tuple(record_retry_delays)
        self._sleep = sleep  # the pause between attempts (a test drops its database fault there)
        self.ready = asyncio.Event()
        self._dead = asyncio.Event()
        self.death = ""  # why the client stopped on its own (see `died`)
        self.pace = Pace()  # every REST call waits its turn under Discord's global limit
        self.client = _Client(self, intents=intents(), allowed_mentions=ALLOWED_MENTIONS,
                              guild_ready_timeout=guild_ready_timeout, http_trace=self.pace.trace_config())
        self.tree = app_commands.CommandTree(self.client)
        self.tree.add_command(build_group(self.run_command))
        self.port = DiscordPort(self.client, archive_after_reveal=archive_after_reveal)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task[Any]] = set()
        self._parents: OrderedDict[int, int | None] = OrderedDict()  # channel id -> parent (threads)

    # ------------------------------------------------------------ start / stop

    async def start(self) -> None:
        token = self.settings.discord_token
        assert token is not None
        self._task = asyncio.create_task(self.client.start(token.get_secret_value()), name="discord-client")
        ready = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait({self._task, ready}, timeout=self.ready_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            error = self._task.exception() if self._task in done else None
            await self._close()
            raise DiscordStartError(explain(error) if error else
                                    f"no READY from the Discord gateway within {self.ready_timeout:.0f}s.")
        self._task.add_done_callback(self._client_ended)
        await self.sync_commands()
        user = self.client.user
        log.info("discord: connected as %s (%s) to %d guild(s)", user, user.id if user else "?",
                 len(self.client.guilds))

    async def sync_commands(self) -> None:
        guild_ids = self.settings.discord_guild_ids
        targets: list[discord.Object | None] = [discord.Object(id=g) for g in guild_ids] or [None]
        for guild in targets:
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            where = f"to guild {guild.id}" if guild else "globally"
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.error("discord: could not register /mlsd %s (%s %s). Is the bot in that server, invited "
                          "with the applications.commands scope?", where, exc.status, exc.text)
                continue
            except (aiohttp.ClientError, OSError) as exc:
                log.error("discord: could not register /mlsd %s: %s", where, exc)
                continue
            log.info("discord: /mlsd synced %s (%d command)", where, len(synced))

    def _client_ended(self, task: asyncio.Task[None]) -> None:
        """discord.py reconnects and resumes by itself after a dropped connection; its task ends
        only when it gives up (a close code it may not retry, such as 4004) or the client was
        closed behind our back. Either way the bot would run on deaf: say why, and let `died`
        wake whoever runs the process."""
        if self._stopping:
            return
        error = None if task.cancelled() else task.exception()
        self.death = (f"the Discord connection is gone and will not come back: {explain(error)}" if error
                      else "the Discord client closed unexpectedly; no more events will arrive.")
        # The explanation is the whole story for a close code; anything else gets its traceback.
        known = isinstance(error, discord.ConnectionClosed | discord.LoginFailure | discord.PrivilegedIntentsRequired)
        log.critical("discord: %s", self.death, exc_info=None if known else error)
        self._dead.set()

    async def died(self) -> str:
        """Wait until the client stops without `stop()` being called; returns why.

        `mlsd-bot run` waits on this next to SIGTERM and exits non-zero when it returns,
        so a supervisor (Docker, systemd) starts a fresh process instead of a deaf one.
        """
        await self._dead.wait()
        return self.death

    async def stop(self) -> None:
        self._stopping = True
        if not await self.idle(timeout=10):
            log.warning("discord: stopping with handlers still running")
        await self._close()

    async def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no handler is running (tests, and a graceful stop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = {t for t in self._inflight if not t.done() and t is not asyncio.current_task()}
            if not pending:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(pending, timeout=remaining)

    async def _close(self) -> None:
        await self.client.close()
        if self._task is not None:
            # Its error, if any, was already explained by start() or _client_ended.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, timeout=10)

    # ---------------------------------------------------------------- plumbing

    def _enter(self) -> bool:
        """Track a handler so stop() can let it finish; False once stopping."""
        if self._stopping:
            return False
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return True

    async def _handle(self, event: InboundEvent, channel_id: int | None = None) -> Outcome:
        """Hand the event to the core; `channel_id` is where the member's message lives, for
        telling them if their answer could not be stored."""
        outcome = await self._record(event, channel_id)
        if self.on_event is not None:
            self.on_event(event, outcome)
        return outcome

    async def _record(self, event: InboundEvent, channel_id: int | None) -> Outcome:
        """`Core.handle`, tried again (the same event) while the core says it could not store it."""
        attempts = len(self.record_retry_delays) + 1
        for attempt, delay in enumerate(self.record_retry_delays, start=1):
            try:
                return await self.core.handle(event)
            except NotRecorded as exc:
                log.warning("discord: %s (attempt %d of %d); trying again in %.2fs", exc, attempt, attempts, delay)
                await self._sleep(delay)
        try:
            return await self.core.handle(event)
        except NotRecorded as exc:
            log.error("discord: %s after %d attempts; telling the member to send it again", exc, attempts)
            await self._tell_not_recorded(event, channel_id)
            return Outcome(notes=["not_recorded"])

    async def _tell_not_recorded(self, event: InboundEvent, channel_id: int | None) -> None:
        """A reply to the member's message saying plainly that it did not count and what to do.

        Only in question threads: while the database fails, every message in every thread
        fails, and a chat message elsewhere (or a line too short to be an answer) needs no
        apology. A delete has no message left to reply to: it is only logged.
        """
        wording = NOT_RECORDED.get(type(event))
        if wording is None or channel_id is None or getattr(event, "from_bot", False):
            return
        if isinstance(event, ThreadReply) and len(event.text.strip()) < self.settings.min_answer_chars:
            return
        if not self._is_question_place(channel_id, getattr(event, "thread_id", None)):
            return
        user_id = event.user_id  # type: ignore[attr-defined]
        headline, advice = (w.format(emoji=emoji_for(getattr(event, "reaction", ""))) for w in wording)
        notice = Message(title=None, kind=MessageKind.ERROR, sections=(Section(Text.of(Bold(headline), " ", advice)),))
        try:
            await self.port.reply_to_message(event.channel, channel_id, event.message_id, notice,  # type: ignore[attr-defined]
                                             mention=user_id)
        except PlatformError as exc:
            log.error("discord: could not tell %s that %s was not recorded: %s", user_id, event.event_id, exc)

    def _is_question_place(self, channel_id: int, thread_id: str | None) -> bool:
        """A thread the bot started (daily questions), or a question post in fallback mode."""
        channel = self.client.get_channel(channel_id)
        user = self.client.user
        if isinstance(channel, discord.Thread):
            return user is None or channel.owner_id == user.id
        return thread_id is not None and self.port.is_fallback(thread_id)

    async def where(self, channel_id: int, guild_id: int | None, hint: object = None) -> Where | None:
        """The parent channel (and thread) of a channel id, from the cache or one REST lookup."""
        if guild_id is None:
            return None
        if channel_id in self._parents:
            parent = self._parents[channel_id]
            return Where(guild_id, parent, channel_id) if parent is not None else Where(guild_id, channel_id)
        channel = hint if isinstance(hint, discord.Thread | discord.abc.GuildChannel) else None
        channel = channel or self.client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.client.fetch_channel(channel_id)
            except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                log.debug("could not look up channel %s: %s", channel_id, exc)
                return Where(guild_id, channel_id)
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        self._parents[channel_id] = parent
        while len(self._parents) > 5000:
            self._parents.popitem(last=False)
        return Where(guild_id, parent, channel_id) if parent is not None else Where(guild_id, channel_id)

    # ----------------------------------------------------------- gateway events

    async def on_message(self, message: discord.Message) -> None:
        if not self._enter() or message.guild is None:
            return
        where = await self.where(message.channel.id, message.guild.id, message.channel)
        event = inbound.thread_reply(message, where) if where else None
        if event is None:
            return
        self.port.locate(event.message_id, message.channel.id)
        await self._handle(event, message.channel.id)

    async def on_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if not self._enter():
            return
        where = await self.where(payload.channel_id, payload.guild_id)
        event = inbound.reply_edited(payload, where) if where else None
        if event is None:
            return
        self.port.locate(event.message_id, payload.channel_id)
        await self._handle(event, payload.channel_id)

    async def on_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if not self._enter():
            return
        where = await self.where(payload.channel_id, payload.guild_id)
        if where is not None:
            await self._handle(inbound.reply_deleted(payload, where))

    async def on_reaction(self, payload: discord.RawReactionActionEvent, delivery: str) -> None:
        if not self._enter():
            return
        where = await self.where(payload.channel_id, payload.guild_id)
        if where is not None:
            user = self.client.user
            await self._handle(inbound.reaction(payload, where, user.id if user else None, delivery),
                               payload.channel_id)

    # ------------------------------------------------------------- interactions

    async def _interaction_where(self, interaction: discord.Interaction) -> Where | None:
        if interaction.channel_id is None:
            return None
        return await self.where(interaction.channel_id, interaction.guild_id, interaction.channel)

    async def run_command(self, interaction: discord.Interaction, text: str) -> None:
        """A `/mlsd` subcommand: acknowledge at once (Discord allows 3 s), run, follow up."""
        if not self._enter():
            return
        where = await self._interaction_where(interaction)
        ephemeral = text.split(" ", 1)[0] not in PUBLIC_COMMANDS
        try:
            if where is None:
                await interaction.response.send_message("Use `/mlsd` in a server channel.", ephemeral=True,
                                                        allowed_mentions=ALLOWED_MENTIONS)
                return
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        except discord.HTTPException as exc:
            # Expired (10062) or already answered (40060, a replay): nobody is waiting for this
            # one, so it is not run at all rather than changing things unannounced.
            log.warning("discord: interaction %s not acknowledged (%s %s); /mlsd %s not run",
                        interaction.id, exc.status, exc.text, text)
            return
        outcome = await self._handle(inbound.slash_command(interaction, text, where))
        await self._finish_deferred(interaction, outcome.reply, where, ephemeral)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Buttons and the private-answer form, routed by custom id so that buttons on old
        messages (and forms opened before a restart) keep working."""
        if interaction.type not in (discord.InteractionType.component, discord.InteractionType.modal_submit):
            return
        data = interaction.data or {}
        if inbound.split_custom_id(str(data.get("custom_id", ""))) is None or not self._enter():
            return
        where = await self._interaction_where(interaction)
        if where is None:
            return
        try:
            if interaction.type == discord.InteractionType.modal_submit:
                await self._on_form(interaction, where)
            else:
                await self._on_button(interaction, where)
        except discord.HTTPException as exc:
            log.warning("discord: could not answer interaction %s: %s %s", interaction.id, exc.status, exc.text)

    async def _on_button(self, interaction: discord.Interaction, where: Where) -> None:
        event = inbound.button_pressed(interaction, where)
        if event is None:
            return
        if event.action_id == ANSWER_PRIVATELY_ACTION:
            await interaction.response.send_modal(AnswerModal(custom_id(event.action_id, event.value)))
            return
        await interaction.response.defer()  # "deferred update": the message stays as it is
        reply = (await self._handle(event)).reply
        if reply is None:
            return
        parts = render(reply.message, where.ref)
        if reply.replace_original:
            await interaction.edit_original_response(**parts[0].edit_kwargs())
            parts = parts[1:]
        await self._follow_up(interaction, parts, reply.private)

    async def _on_form(self, interaction: discord.Interaction, where: Where) -> None:
        event = inbound.private_answer(interaction, where)
        if event is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self._handle(event)
        await self._finish_deferred(interaction, outcome.reply, where, True)

    async def _finish_deferred(self, interaction: discord.Interaction, reply: Reply | None, where: Where,
                               deferred_ephemeral: bool) -> None:
        """Replace the "thinking..." message with the reply; if the reply's visibility is not
        the one guessed at defer time, drop the placeholder and follow up instead."""
        try:
            if reply is None:
                await interaction.delete_original_response()
                return
            parts = render(reply.message, where.ref)
            if reply.private == deferred_ephemeral:
                await interaction.edit_original_response(**parts[0].edit_kwargs())
            else:
                await interaction.delete_original_response()
                await interaction.followup.send(**parts[0].send_kwargs(), ephemeral=reply.private)
            await self._follow_up(interaction, parts[1:], reply.private)
        except discord.HTTPException as exc:
            log.warning("discord: could not answer interaction %s: %s %s", interaction.id, exc.status, exc.text)

    @staticmethod
    async def _follow_up(interaction: discord.Interaction, parts: list[Part], ephemeral: bool) -> None:
        for part in parts:
            await interaction.followup.send(**part.send_kwargs(), ephemeral=ephemeral)


def create_adapter(settings: Settings, core: Core, **options: Any) -> DiscordAdapter:
    """What `mlsd-bot run discord` calls. Options are DiscordAdapter's keyword arguments."""
    options.setdefault("archive_after_reveal",
                       settings.discord_archive_after_reveal_minutes)
    return DiscordAdapter(settings, core, **options)
