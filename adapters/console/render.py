"""Messages as terminal text, for the demo transcript and `mlsd-bot console`."""

from __future__ import annotations

import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain import (
    Bold,
    ChannelMention,
    Code,
    Italic,
    Mention,
    Message,
    MessageLink,
    Plain,
    Text,
    Timestamp,
    UserText,
)

WIDTH = 88


def span_text(text: Text, zone: ZoneInfo) -> str:
    out: list[str] = []
    for span in text.spans:
        match span:
            case Mention():
                out.append(f"@{span.user_id}")
            case Timestamp():
                local = span.at.astimezone(zone)
                out.append(local.strftime("%a %d %b %H:%M") if span.style == "datetime"
                           else _relative(local))
            case ChannelMention():
                out.append(f"#{span.channel}")
            case MessageLink():
                out.append(f"[{span.label}]")
            case Bold() | Italic() | Plain() | UserText() | Code():
                out.append(span.text)
    return "".join(out)


def _relative(at: datetime) -> str:
    return at.strftime("%a %H:%M")


def _wrap(text: str, indent: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, WIDTH - len(indent), initial_indent=indent,
                                   subsequent_indent=indent) or [indent.rstrip()])
    return lines


def message_text(message: Message, zone: ZoneInfo, *, indent: str = "  ",
                 abbreviate: set[str] | None = None) -> str:
    """Render a Message as wrapped text; sections whose heading is in `abbreviate`
    are shortened to their first sentence (the demo shows each in full once)."""
    lines: list[str] = []
    if message.title:
        lines.append(f"{indent}┃ {message.title}")
    for section in message.sections:
        if section.heading:
            lines.append(f"{indent}┃ ── {section.heading}")
        body = span_text(section.text, zone)
        if abbreviate and section.heading in abbreviate and len(body) > 160:
            words = len(body.split())
            body = body.split(". ")[0].rstrip(".") + f". … ({words} words)"
        if body:
            lines.extend(_wrap(body, f"{indent}┃ "))
        lines.extend(
            f"{indent}┃   {field.label}: {span_text(field.value, zone)}" for field in section.fields
        )
    if message.buttons:
        lines.append(f"{indent}┃ " + "  ".join(f"[ {b.label} ]" for b in message.buttons))
    if message.image:
        lines.append(f"{indent}┃ 🖼  {message.image.filename} ({len(message.image.png):,} bytes PNG)")
    if message.footer:
        lines.append(f"{indent}┃ {span_text(message.footer, zone)}")
    return "\n".join(lines)
