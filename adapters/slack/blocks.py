"""Platform-neutral Messages -> Slack Block Kit, within Slack's limits.

Every piece of text is escaped (`&`, `<`, `>`); text a member wrote is also
defused so `@channel`, `@here` and `@everyone` can never go out live. Long text
is split across sections (3,000 characters each) on paragraph, line or word
boundaries, and a message with more than 50 blocks becomes several messages:
nothing is ever cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain import (
    Bold,
    Button,
    ChannelMention,
    Code,
    Italic,
    Mention,
    Message,
    MessageLink,
    Plain,
    Section,
    Span,
    Text,
    Timestamp,
    UserText,
)

MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_HEADER_CHARS = 150
MAX_BUTTON_LABEL = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTONS = 25
MAX_FALLBACK_CHARS = 3000

# Spaces inside a token that must stay whole (a date, a link, a short bold run)
# are held as NUL while splitting, so the splitter never breaks inside them.
_KEEP = "\x00"
_PING_WORDS = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
# Documented date tokens only. "relative" reads "today/tomorrow at 9:00 AM" in the
# reader's own zone; "datetime" spells the full date.
_TIMESTAMP_FORMATS = {"datetime": "{date_long} at {time}", "relative": "{date_short_pretty} at {time}"}


def escape(text: str) -> str:
    """Slack's three control characters, as its formatting guide asks."""
    return text.replace(_KEEP, "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defuse(text: str) -> str:
    """Escaped text that can't ping a channel: `@everyone` -> `@\u200beveryone`."""
    return _PING_WORDS.sub("@\u200b\\1", escape(text))


def unescape(text: str) -> str:
    """Slack's escaping undone, for text arriving from Slack."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _keep(token: str) -> str:
    return token.replace(" ", _KEEP)


def _wrap(text: str, marker: str) -> str:
    """Bold/italic per line, with the markers hugging the words (Slack needs that)."""
    out = []
    for line in text.split("\n"):
        core = line.strip()
        if not core:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()):]
        wrapped = f"{marker}{core}{marker}"
        out.append(lead + (_keep(wrapped) if len(wrapped) <= 300 else wrapped) + trail)
    return "\n".join(out)


@dataclass(frozen=True)
class Rendered:
    """One Slack message: its blocks and the plain `text` fallback Slack asks for."""

    blocks: list[dict]
    text: str


@dataclass
class BlockKit:
    """Renders Messages; `permalink_base` (auth.test's `url`) turns MessageLinks into links."""

    permalink_base: str | None = None

    # ------------------------------------------------------------------ spans

    def span(self, span: Span) -> str:
        match span:
            case UserText():
                return defuse(span.text)
            case Plain():
                return escape(span.text)
            case Bold():
                return _wrap(escape(span.text), "*")
            case Italic():
                return _wrap(escape(span.text), "_")
            case Code():
                body = escape(span.text).replace("`", "'")
                return f"`{body}`" if "\n" not in body else f"```{body}```"
            case Mention():
                return f"<@{span.user_id}>"
            case ChannelMention():
                return f"<#{span.channel}>"
            case Timestamp():
                at = span.at if span.at.tzinfo else span.at.replace(tzinfo=UTC)
                fmt = _TIMESTAMP_FORMATS.get(span.style, _TIMESTAMP_FORMATS["datetime"])
                fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
                return _keep(f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>")
            case MessageLink():
                url = self.permalink(span.channel, span.message_id)
                label = escape(span.label)
                return _keep(f"<{url}|{label}>") if url else label
        return escape(getattr(span, "text", ""))

    def permalink(self, channel: str, message_id: str) -> str | None:
        if not self.permalink_base or not message_id or "." not in message_id:
            return None
        base = self.permalink_base if self.permalink_base.endswith("/") else self.permalink_base + "/"
        return f"{base}archives/{channel}/p{message_id.replace('.', '')}"

    def mrkdwn(self, text: Text) -> str:
        """A Text as mrkdwn, with protected spaces still held as NUL."""
        return "".join(self.span(s) for s in text.spans)

    # ---------------------------------------------------------------- blocks

    def blocks(self, message: Message) -> list[Block]:
        out: list[Block] = []
        if message.title:
            title = message.title.replace("\n", " ").strip()
            if len(title) <= MAX_HEADER_CHARS:
                out.append(HeaderBlock(text=PlainTextObject(text=title, emoji=True)))
            else:
                out.extend(_sections(f"*{_keep(escape(title))}*"))
        for section in message.sections:
            out.extend(self._section(section))
        if message.buttons:
            out.extend(self._actions(message.buttons))
        if message.footer and message.footer.spans:
            for chunk in split_text(self.mrkdwn(message.footer), MAX_SECTION_CHARS):
                out.append(ContextBlock(elements=[MarkdownTextObject(text=chunk)]))
        return out

    def _section(self, section: Section) -> list[Block]:
        body = self.mrkdwn(section.text)
        if section.heading:
            heading = f"*{_keep(escape(section.heading.strip()))}*"
            body = f"{heading}\n{body}" if body.strip() else heading
        chunks = split_text(body, MAX_SECTION_CHARS) if body.strip() else []
        fields: list[MarkdownTextObject] = []
        overflow: list[str] = []
        for f in section.fields:
            value = self.mrkdwn(f.value)
            text = f"*{_keep(escape(f.label))}*\n{value}"
            if len(text) <= MAX_FIELD_CHARS:
                fields.append(MarkdownTextObject(text=text.replace(_KEEP, " ")))
            else:
                overflow.append(text)
        out: list[Block] = [SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks]
        groups = [fields[i:i + MAX_FIELDS] for i in range(0, len(fields), MAX_FIELDS)]
        if groups and out:
            last = out.pop()
            out.append(SectionBlock(text=last.text, fields=groups.pop(0)))  # type: ignore[attr-defined]
        out.extend(SectionBlock(fields=g) for g in groups)
        for text in overflow:
            out.extend(_sections(text))
        return out

    def _actions(self, buttons: Sequence[Button]) -> list[Block]:
        seen: dict[str, int] = {}
        for b in buttons:
            seen[b.action_id] = seen.get(b.action_id, 0) + 1
        elements = []
        for i, b in enumerate(buttons):
            # Slack wants action ids unique within a block; inbound strips the suffix.
            action_id = f"{b.action_id}:{i}" if seen[b.action_id] > 1 else b.action_id
            label = b.label if len(b.label) <= MAX_BUTTON_LABEL else b.label[: MAX_BUTTON_LABEL - 1] + "…"
            elements.append(ButtonElement(
                text=PlainTextObject(text=label, emoji=True), action_id=action_id,
                value=b.value[:MAX_BUTTON_VALUE],
                style=b.style if b.style in ("primary", "danger") else None,
            ))
        return [ActionsBlock(elements=elements[i:i + MAX_BUTTONS]) for i in range(0, len(elements), MAX_BUTTONS)]

    # -------------------------------------------------------------- messages

    def messages(self, message: Message) -> list[Rendered]:
        """The Slack messages to send for one Message, in order (follow-ons go in its thread)."""
        blocks = [b.to_dict() for b in self.blocks(message)]
        chunks = [blocks[i:i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)] or [[]]
        first = self.fallback_text(message)
        out = [Rendered(chunks[0], first)]
        follow = f"{escape(message.title)} (continued)" if message.title else "(continued)"
        out.extend(Rendered(c, follow) for c in chunks[1:])
        return out

    def fallback_text(self, message: Message) -> str:
        """The `text` Slack shows in notifications and reads to screen readers: the same
        escaped mrkdwn as the blocks (mentions and dates included), shortened at a boundary."""
        lines: list[str] = [escape(message.title)] if message.title else []
        for section in message.sections:
            if section.heading:
                lines.append(escape(section.heading))
            if section.text.spans:
                lines.append(self.mrkdwn(section.text))
            lines.extend(f"{escape(f.label)}: {self.mrkdwn(f.value)}" for f in section.fields)
        if message.footer and message.footer.spans:
            lines.append(self.mrkdwn(message.footer))
        text = "\n".join(line for line in lines if line.strip())
        chunks = split_text(text, MAX_FALLBACK_CHARS - 1) or ["mlsd-bot"]
        return chunks[0] + ("…" if len(chunks) > 1 else "")

    def view_blocks(self, message: Message, limit: int = MAX_VIEW_BLOCKS) -> list[dict]:
        """Blocks for a view (App Home, modal): one surface, so long content is trimmed with a note."""
        blocks = [b.to_dict() for b in self.blocks(message)]
        if len(blocks) > limit:
            note = SectionBlock(text=MarkdownTextObject(text="_More in `/mlsd stats` and `/mlsd schedule`._"))
            blocks = [*blocks[: limit - 1], note.to_dict()]
        return blocks


def _sections(text: str) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=c)) for c in split_text(text, MAX_SECTION_CHARS)]


def split_text(text: str, limit: int) -> list[str]:
    """Split on paragraph, then line, then word boundaries; a word longer than
    `limit` is broken (outside any entity) rather than dropped. Protected spaces
    (NUL) are restored in the result."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut, skip = -1, 0
        for sep in ("\n\n", "\n", " "):
            at = rest.rfind(sep, 0, limit + len(sep))
            if at > limit // 3:
                cut, skip = at, len(sep)
                break
        if cut == -1:
            for sep in ("\n", " "):
                at = rest.rfind(sep, 0, limit + len(sep))
                if at > 0:
                    cut, skip = at, len(sep)
                    break
        if cut == -1:
            cut = limit
            amp = rest.rfind("&", max(0, cut - 6), cut)
            if amp > 0 and ";" not in rest[amp:cut]:
                cut = amp
            lt = rest.rfind("<", 0, cut)
            if lt > 0 and ">" not in rest[lt:cut]:
                cut = lt  # not inside a <@U…> / <!date…> / <url|label> token
        piece = rest[:cut]
        if piece.strip():
            chunks.append(piece)
        rest = rest[cut + skip:]
    if rest.strip():
        chunks.append(rest)
    return [c.replace(_KEEP, " ") for c in chunks]
