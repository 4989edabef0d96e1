"""Message -> Discord embeds, buttons and files, within Discord's limits.

A Message becomes one or more `Part`s (one Discord message each). Text is
split at paragraph, line or word boundaries into more embeds and, past the
per-message budget, into more messages: never cut. Anything a member wrote
(`UserText`) is escaped so it can neither ping nor inject markdown, and every
send carries `ALLOWED_MENTIONS`, which never pings @everyone or a role.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import discord

from adapters.discord.inbound import ANSWER_INPUT_ID
from bot.domain import (
    Bold,
    Button,
    ChannelMention,
    ChannelRef,
    Code,
    Image,
    Italic,
    Mention,
    Message,
    MessageKind,
    MessageLink,
    Plain,
    Text,
    Timestamp,
    UserText,
)

# Discord's documented limits.
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
THREAD_NAME_MAX = 100

# Below this much room, a block starts a fresh embed instead of being split to fill the gap.
MIN_SPLIT = 200
BLANK = "\u200b"

ALLOWED_MENTIONS = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False)

COLOURS: dict[MessageKind, int] = {
    MessageKind.DAILY_POST: 0x5865F2,
    MessageKind.REVEAL: 0x57F287,
    MessageKind.QUIZ: 0xFEE75C,
    MessageKind.QUIZ_RESULT: 0xFEE75C,
    MessageKind.LEADERBOARD: 0xF1C40F,
    MessageKind.STATS: 0x1ABC9C,
    MessageKind.DIGEST: 0x1ABC9C,
    MessageKind.HELP: 0x5865F2,
    MessageKind.NOTICE: 0x99AAB5,
    MessageKind.ERROR: 0xED4245,
    MessageKind.REMINDER: 0xE67E22,
}

BUTTON_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
    "default": discord.ButtonStyle.secondary,
}


# ----------------------------------------------------------------- inline text


def escape_user_text(text: str) -> str:
    """A member's words, shown literally: no markdown, no live mentions."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def _inline_code(text: str) -> str:
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text.replace('``', '` `')} ``"


def message_url(guild_id: str, channel_id: str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def markdown(text: Text, ref: ChannelRef) -> str:
    """Spans -> Discord markdown; `ref` gives the guild for message links."""
    out: list[str] = []
    for span in text.spans:
        match span:
            case UserText():
                out.append(escape_user_text(span.text))
            case Plain():
                out.append(span.text)
            case Bold():
                out.append(f"**{discord.utils.escape_markdown(span.text)}**" if span.text else "")
            case Italic():
                out.append(f"*{discord.utils.escape_markdown(span.text)}*" if span.text else "")
            case Mention():
                out.append(f"<@{span.user_id}>")
            case Timestamp():
                style = "R" if span.style == "relative" else "f"
                at = span.at if span.at.tzinfo else span.at.replace(tzinfo=UTC)  # the core's times are UTC
                out.append(f"<t:{int(at.timestamp())}:{style}>")
            case Code():
                out.append(_inline_code(span.text))
            case ChannelMention():
                out.append(f"<#{span.channel}>")
            case MessageLink():
                if span.message_id:
                    url = message_url(ref.workspace, span.channel, span.message_id)
                    out.append(f"[{discord.utils.escape_markdown(span.label)}]({url})")
                else:
                    out.append(span.label)
    return "".join(out)


def plain(text: Text) -> str:
    """For places without markdown (embed footers): readable, never a live mention."""
    return discord.utils.escape_mentions(text.plain())


# ------------------------------------------------------------------- splitting

_OPEN_TOKEN = re.compile(r"<[^<>\s]*$")


def split_point(text: str, limit: int) -> tuple[str, str]:
    """Split `text` so the head fits in `limit`: at a paragraph, line or word if one is
    near the end, else hard (never inside an escape or a `<...>` token). Nothing is lost
    but the one whitespace character the split happens on."""
    if len(text) <= limit:
        return text, ""
    window = text[: limit + 1]
    floor = limit // 2
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep, 0, limit + 1)
        if at >= floor and at > 0:
            return text[:at], text[at + len(sep):]
    at = limit
    token = _OPEN_TOKEN.search(text[:at])
    if token and token.start() > 0:
        at = token.start()
    while at > 1 and text[at - 1] == "\\":
        at -= 1
    return text[:at], text[at:]


@dataclass
class _Embed:
    title: str | None = None
    description: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    footer: str | None = None
    image: str | None = None
    sealed: bool = False  # text after fields goes to a new embed, so reading order holds

    def size(self) -> int:
        return (len(self.title or "") + len(self.description) + len(self.footer or "")
                + sum(len(n) + len(v) for n, v in self.fields))


@dataclass
class Part:
    """One Discord message: embeds plus, on the part that carries them, buttons and the image."""

    embeds: list[discord.Embed]
    buttons: tuple[Button, ...] = ()
    image: Image | None = None

    def files(self) -> list[discord.File]:
        if self.image is None:
            return []
        return [discord.File(io.BytesIO(self.image.png), filename=safe_filename(self.image.filename),
                             description=self.image.alt_text[:1024] or None)]

    def view(self) -> discord.ui.View | None:
        return build_view(self.buttons)

    def send_kwargs(self) -> dict[str, Any]:
        """For channel.send / followup.send (a new message)."""
        kwargs: dict[str, Any] = {"embeds": self.embeds, "allowed_mentions": ALLOWED_MENTIONS}
        view = self.view()
        if view is not None:
            kwargs["view"] = view
        files = self.files()
        if files:
            kwargs["files"] = files
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """For message.edit / edit_original_response: replaces embeds, buttons and files."""
        return {"content": None, "embeds": self.embeds, "view": self.view(),
                "attachments": self.files(), "allowed_mentions": ALLOWED_MENTIONS}


def safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "image.png"
    return cleaned if "." in cleaned else cleaned + ".png"


def custom_id(action_id: str, value: str) -> str:
    cid = f"{action_id}:{value}"
    if len(cid) > CUSTOM_ID_MAX:
        raise ValueError(f"button id longer than Discord's {CUSTOM_ID_MAX} characters: {cid!r}")
    return cid


def build_view(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """Buttons with stable custom ids; the client routes presses by id (restart-safe).

    The view is stopped before it is sent so discord.py does not keep it in memory:
    presses arrive through `on_interaction`, not through the view store.
    """
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for b in buttons[:25]:
        view.add_item(discord.ui.Button(
            label=b.label[:BUTTON_LABEL_MAX], custom_id=custom_id(b.action_id, b.value),
            style=BUTTON_STYLES.get(b.style, discord.ButtonStyle.secondary),
        ))
    view.stop()
    return view


class _Packer:
    def __init__(self, reserve: int) -> None:
        self.parts: list[list[_Embed]] = [[]]
        self.reserve = reserve  # footer room kept free in every message

    @property
    def part(self) -> list[_Embed]:
        return self.parts[-1]

    def _part_room(self) -> int:
        return EMBED_TOTAL_MAX - self.reserve - sum(e.size() for e in self.part)

    def _new_embed(self) -> _Embed:
        if len(self.part) >= EMBEDS_MAX or self._part_room() < MIN_SPLIT:
            self.parts.append([])
        embed = _Embed()
        self.part.append(embed)
        return embed

    def _current(self) -> _Embed:
        if not self.part or self.part[-1].sealed:
            return self._new_embed()
        return self.part[-1]

    def title(self, title: str) -> None:
        self._current().title = title

    def text(self, block: str) -> None:
        block = block.strip("\n")
        while block:
            embed = self._current()
            sep = "\n\n" if embed.description else ""
            room = min(DESCRIPTION_MAX - len(embed.description), self._part_room()) - len(sep)
            if len(block) <= room:
                embed.description += sep + block
                return
            if room >= MIN_SPLIT or (room > 0 and not embed.description):
                head, block = split_point(block, room)
                embed.description += sep + head
            self._new_embed()

    def fields(self, fields: list[tuple[str, str]]) -> None:
        for name, value in fields:
            name = name[:FIELD_NAME_MAX] or BLANK
            chunks: list[str] = []
            rest = value or BLANK
            while rest:
                head, rest = split_point(rest, FIELD_VALUE_MAX)
                chunks.append(head or BLANK)
            for i, chunk in enumerate(chunks):
                label = name if i == 0 else BLANK
                embed = self.part[-1] if self.part else self._new_embed()
                if len(embed.fields) >= FIELDS_MAX or self._part_room() < len(label) + len(chunk):
                    embed = self._new_embed()
                embed.fields.append((label, chunk))
        if self.part:
            self.part[-1].sealed = True


def render(message: Message, ref: ChannelRef) -> list[Part]:
    """Render a Message into Discord messages that each respect every embed limit."""
    footer = plain(message.footer) if message.footer else None
    extra_blocks: list[str] = []
    if footer and len(footer) > FOOTER_MAX:
        extra_blocks.append(f"*{discord.utils.escape_markdown(footer)}*")
        footer = None
    packer = _Packer(reserve=len(footer or ""))
    if message.title:
        if len(message.title) <= TITLE_MAX:
            packer.title(message.title)
        else:
            packer.text(f"**{discord.utils.escape_markdown(message.title)}**")
    for section in message.sections:
        body = markdown(section.text, ref)
        if section.heading:
            body = f"**{discord.utils.escape_markdown(section.heading)}**" + (f"\n{body}" if body else "")
        if body.strip():
            packer.text(body)
        if section.fields:
            packer.fields([(f.label, markdown(f.value, ref)) for f in section.fields])
    for block in extra_blocks:
        packer.text(block)
    if packer.parts == [[]]:
        packer.text(BLANK)
    drafts = [p for p in packer.parts if p]
    colour = COLOURS.get(message.kind, COLOURS[MessageKind.NOTICE])
    if footer:
        drafts[-1][-1].footer = footer
    if message.image is not None:
        drafts[-1][-1].image = f"attachment://{safe_filename(message.image.filename)}"
    parts: list[Part] = []
    for i, draft in enumerate(drafts):
        last = i == len(drafts) - 1
        parts.append(Part(
            embeds=[_to_embed(e, colour) for e in draft],
            buttons=message.buttons if last else (),
            image=message.image if last else None,
        ))
    return parts


def _to_embed(draft: _Embed, colour: int) -> discord.Embed:
    embed = discord.Embed(title=draft.title, description=draft.description or None, colour=colour)
    for name, value in draft.fields:
        embed.add_field(name=name, value=value, inline=len(value) <= 60)
    if draft.footer:
        embed.set_footer(text=draft.footer)
    if draft.image:
        embed.set_image(url=draft.image)
    return embed


def thread_name(message: Message) -> str:
    name = (message.thread_name or message.title or "Daily question").strip() or "Daily question"
    return name if len(name) <= THREAD_NAME_MAX else name[: THREAD_NAME_MAX - 1] + "…"


# ------------------------------------------------------------------ the modal


class AnswerModal(discord.ui.Modal):
    """Blind mode's private answer form. Its submission is routed by custom id in the
    client (so a form opened before a restart still counts), not by `on_submit`."""

    def __init__(self, modal_id: str) -> None:
        super().__init__(title="Your answer (private until the reveal)", custom_id=modal_id, timeout=3600)
        self.answer: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            label="Answer", custom_id=ANSWER_INPUT_ID, style=discord.TextStyle.paragraph,
            placeholder="Your design: requirements, data, model, serving, metrics ...",
            required=True, max_length=4000,
        )
        self.add_item(self.answer)
