"""Plain domain types shared by the core, the adapters and the scheduler.

Everything here is a frozen dataclass or an enum with no behaviour beyond
small conveniences, so adapters can build inbound events and read outbound
messages without touching any business rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Topic(StrEnum):
    FORMULATION = "formulation"
    DATA = "data"
    MODELING = "modeling"
    SERVING = "serving"
    EXPERIMENTATION = "experimentation"
    MONITORING = "monitoring"

    @property
    def title(self) -> str:  # type: ignore[override]
        return TOPIC_TITLES[self]


TOPIC_TITLES: dict[Topic, str] = {
    Topic.FORMULATION: "Problem formulation & requirements",
    Topic.DATA: "Data pipelines & feature engineering",
    Topic.MODELING: "Modeling & offline evaluation",
    Topic.SERVING: "Serving architecture",
    Topic.EXPERIMENTATION: "Online experimentation & A/B testing",
    Topic.MONITORING: "Monitoring & retraining",
}

TOPIC_SLUGS: tuple[str, ...] = tuple(t.value for t in Topic)


class Difficulty(StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


class Platform(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    CONSOLE = "console"


# --------------------------------------------------------------------------
# Content


@dataclass(frozen=True)
class KeyPoint:
    """One point a strong answer makes, and what the default grader matches it with.

    `text` states the point; `ask` is the question the reveal puts to a member who
    missed it. `terms` are phrases any one of which supports the point;
    `all_of` are synonym groups that must all occur in one sentence (an action and
    its object: "fall back" + "cached"). `examples` are other wordings of the point
    the semantic matcher compares answers with; `counter_examples` are sentences
    that sound close but do not make it.
    """

    text: str
    terms: tuple[str, ...] = ()
    all_of: tuple[tuple[str, ...], ...] = ()
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    ask: str = ""

    @property
    def question(self) -> str:
        """How the reveal asks about a missed point."""
        if self.ask:
            return self.ask
        text = self.text.rstrip(".")
        return f"Did you cover this: {text[:1].lower()}{text[1:]}?"


@dataclass(frozen=True)
class Question:
    id: str
    topic: Topic
    difficulty: Difficulty
    companies: tuple[str, ...]
    prompt: str
    sample_answer: str
    key_points: tuple[KeyPoint, ...]
    follow_ups: tuple[str, ...] = ()
    source: str = "built-in"


@dataclass(frozen=True)
class QuizItem:
    id: str
    topic: Topic
    prompt: str
    choices: tuple[str, ...]
    answer: int
    explanation: str
    difficulty: Difficulty = Difficulty.MEDIUM
    readiness: bool = False
    source: str = "built-in"


# --------------------------------------------------------------------------
# Addresses


@dataclass(frozen=True)
class ChannelRef:
    """One channel on one workspace/guild: the unit a leaderboard belongs to."""

    platform: str
    workspace: str
    channel: str


# --------------------------------------------------------------------------
# Inbound events: an adapter turns a platform payload into one of these.


@dataclass(frozen=True)
class ThreadReply:
    """A message posted in the thread of a daily question."""

    channel: ChannelRef
    thread_id: str
    message_id: str
    user_id: str
    text: str
    event_id: str
    user_name: str = ""
    from_bot: bool = False


@dataclass(frozen=True)
class ReplyEdited:
    channel: ChannelRef
    message_id: str
    user_id: str
    text: str
    event_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class ReplyDeleted:
    channel: ChannelRef
    message_id: str
    event_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class ReactionAdded:
    channel: ChannelRef
    message_id: str
    user_id: str
    reaction: str
    event_id: str
    from_bot: bool = False


@dataclass(frozen=True)
class ReactionRemoved:
    channel: ChannelRef
    message_id: str
    user_id: str
    reaction: str
    event_id: str
    from_bot: bool = False


@dataclass(frozen=True)
class SlashCommand:
    """`/mlsd <text>` typed by a user; `is_platform_admin` is the adapter's finding."""

    channel: ChannelRef
    user_id: str
    text: str
    event_id: str
    user_name: str = ""
    is_platform_admin: bool = False


@dataclass(frozen=True)
class ButtonPressed:
    channel: ChannelRef
    user_id: str
    action_id: str
    value: str
    event_id: str
    message_id: str | None = None
    user_name: str = ""
    is_platform_admin: bool = False


@dataclass(frozen=True)
class PrivateAnswer:
    """A blind-mode answer submitted through a form instead of the thread."""

    channel: ChannelRef
    post_id: int
    user_id: str
    text: str
    event_id: str
    user_name: str = ""


InboundEvent = (
    ThreadReply
    | ReplyEdited
    | ReplyDeleted
    | ReactionAdded
    | ReactionRemoved
    | SlashCommand
    | ButtonPressed
    | PrivateAnswer
)


# --------------------------------------------------------------------------
# Outbound messages: platform-neutral blocks an adapter renders.


@dataclass(frozen=True)
class Plain:
    """Bot-authored text, safe to render as markup."""

    text: str


@dataclass(frozen=True)
class Bold:
    text: str


@dataclass(frozen=True)
class Italic:
    text: str


@dataclass(frozen=True)
class UserText:
    """Text a user wrote: adapters must escape it so it can never ping or inject markup."""

    text: str


@dataclass(frozen=True)
class Mention:
    user_id: str


@dataclass(frozen=True)
class Timestamp:
    """A moment shown in each reader's own time zone where the platform can."""

    at: datetime
    style: str = "relative"  # "relative" | "datetime"


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class ChannelMention:
    """A clickable channel name (`<#C123>` on both Slack and Discord)."""

    channel: str

    @property
    def text(self) -> str:
        return f"#{self.channel}"


@dataclass(frozen=True)
class MessageLink:
    """A link to a message the bot posted earlier, e.g. "already posted: see here"."""

    channel: str
    message_id: str
    label: str

    @property
    def text(self) -> str:
        return self.label


Span = Plain | Bold | Italic | UserText | Mention | Timestamp | Code | MessageLink | ChannelMention


@dataclass(frozen=True)
class Text:
    """A run of inline spans. Plain strings passed to `Text.of` become `Plain`."""

    spans: tuple[Span, ...]

    @classmethod
    def of(cls, *parts: Span | str) -> Text:
        return cls(tuple(Plain(p) if isinstance(p, str) else p for p in parts))

    def plain(self) -> str:
        """Text without markup, for logs, console and fallbacks."""
        out: list[str] = []
        for span in self.spans:
            if isinstance(span, Mention):
                out.append(f"@{span.user_id}")
            elif isinstance(span, Timestamp):
                out.append(span.at.strftime("%Y-%m-%d %H:%M UTC"))
            else:
                out.append(span.text)
        return "".join(out)


@dataclass(frozen=True)
class Field:
    label: str
    value: Text


@dataclass(frozen=True)
class Section:
    """A paragraph, optionally with a heading and short label/value fields."""

    text: Text
    heading: str | None = None
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str
    style: str = "default"  # "default" | "primary" | "danger"


@dataclass(frozen=True)
class Image:
    png: bytes
    filename: str
    alt_text: str


class MessageKind(StrEnum):
    DAILY_POST = "daily_post"
    REVEAL = "reveal"
    QUIZ = "quiz"
    QUIZ_RESULT = "quiz_result"
    LEADERBOARD = "leaderboard"
    STATS = "stats"
    DIGEST = "digest"
    HELP = "help"
    NOTICE = "notice"
    ERROR = "error"
    REMINDER = "reminder"


@dataclass(frozen=True)
class Message:
    title: str | None
    sections: tuple[Section, ...] = ()
    buttons: tuple[Button, ...] = ()
    image: Image | None = None
    footer: Text | None = None
    kind: MessageKind = MessageKind.NOTICE
    thread_name: str | None = None  # a platform that opens threads names it after this

    def plain(self) -> str:
        parts: list[str] = []
        if self.title:
            parts.append(self.title)
        for s in self.sections:
            if s.heading:
                parts.append(s.heading)
            if s.text.spans:
                parts.append(s.text.plain())
            parts.extend(f"{f.label}: {f.value.plain()}" for f in s.fields)
        if self.buttons:
            parts.append("  ".join(f"[{b.label}]" for b in self.buttons))
        if self.footer:
            parts.append(self.footer.plain())
        return "\n".join(parts)


@dataclass(frozen=True)
class Reply:
    """What the core answers to a command or a button press."""

    message: Message
    private: bool = True
    replace_original: bool = False  # a button's result replaces the message that had it


@dataclass(frozen=True)
class Posted:
    """Where a top-level message landed. `thread_id` is where its replies go."""

    message_id: str
    thread_id: str


@dataclass
class Outcome:
    """What handling an inbound event did; adapters mostly need `reply`."""

    reply: Reply | None = None
    duplicate: bool = False
    notes: list[str] = field(default_factory=list)
