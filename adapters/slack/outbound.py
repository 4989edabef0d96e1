"""The ChatPort on Slack: Messages out through the Web API, Slack errors in as the core's errors.

`channel_not_found`, `not_in_channel` and `is_archived` become
`ChannelUnavailable` (the core pauses the subscription); rate limits, 5xx and
connection errors are first retried by slack-sdk's retry handlers and, if
they persist, become `TransientPlatformError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import (
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import BlockKit, Rendered, escape
from bot.domain import ChannelRef, Message, Posted
from bot.ports import ChannelUnavailable, PlatformError, TransientPlatformError

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api/"
UNAVAILABLE = frozenset({"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"})
TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                       "request_timeout", "team_added_to_org"})
# The core speaks neutral reaction names; Slack's emoji names differ for some.
REACTIONS = {"white_check_mark": "white_check_mark", "hourglass": "hourglass_flowing_sand"}

ANSWER_VIEW = "mlsd_private_answer"
ANSWER_BLOCK = "answer"
ANSWER_INPUT = "answer_text"


class ServerErrorRetryHandler(AsyncRetryHandler):
    """Retry any 5xx once more (slack-sdk's own handler only knows 500 and 503)."""

    async def _can_retry_async(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code >= 500


def api_base_url(configured: str | None) -> str:
    """slack-sdk joins method names with urljoin, so the base needs its trailing slash."""
    url = (configured or SLACK_API_URL).strip()
    return url if url.endswith("/") else url + "/"


def make_client(token: str, api_url: str | None) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=api_base_url(api_url),
        timeout=30,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def _error_code(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")
    return "unknown_error"


@asynccontextmanager
async def slack_errors(what: str) -> AsyncIterator[None]:
    """Translate what slack-sdk raises into the core's PlatformError family."""
    try:
        yield
    except SlackApiError as exc:
        code = _error_code(exc)
        status = getattr(exc.response, "status_code", 0) or 0
        if code in UNAVAILABLE:
            raise ChannelUnavailable(code) from exc
        if status == 429 or code == "ratelimited":
            headers = getattr(exc.response, "headers", {}) or {}
            retry_after = headers.get("Retry-After") or headers.get("retry-after")
            raise TransientPlatformError(f"{what}: rate limited",
                                         retry_after=float(retry_after) if retry_after else None) from exc
        if status >= 500 or code in TRANSIENT:
            raise TransientPlatformError(f"{what}: {code} (HTTP {status})") from exc
        raise PlatformError(f"{what}: {code}") from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise TransientPlatformError(f"{what}: {type(exc).__name__}") from exc
    except SlackClientError as exc:
        raise PlatformError(f"{what}: {exc}") from exc


class SlackPort:
    """ChatPort for Slack. Message ids are Slack `ts` values; a post's thread is its own ts."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, kit: BlockKit | None = None) -> None:
        self.client = client
        self.kit = kit or BlockKit()

    # ----------------------------------------------------------- ChatPort

    async def send(self, channel: ChannelRef, message: Message) -> Posted:
        parts = self.kit.messages(message)
        first = await self._post(channel.channel, parts[0])
        await self._follow_ons(channel.channel, first, parts[1:])
        if message.image is not None:
            await self._upload_quietly(channel.channel, None, message)
        return Posted(first, first)

    async def reply(self, channel: ChannelRef, thread_id: str, message: Message) -> str:
        parts = self.kit.messages(message)
        first = await self._post(channel.channel, parts[0], thread_ts=thread_id)
        await self._follow_ons(channel.channel, thread_id, parts[1:])
        if message.image is not None:
            await self._upload_quietly(channel.channel, thread_id, message)
        return first

    async def send_private(self, channel: ChannelRef, user_id: str, message: Message) -> None:
        for part in self.kit.messages(message):
            async with slack_errors("chat.postEphemeral"):
                await self.client.chat_postEphemeral(
                    channel=channel.channel, user=user_id, text=part.text, blocks=part.blocks or None,
                )
        if message.image is not None:
            await self.upload_private_image(user_id, message)

    async def react(self, channel: ChannelRef, message_id: str, reaction: str) -> None:
        name = REACTIONS.get(reaction, reaction)
        try:
            async with slack_errors("reactions.add"):
                await self.client.reactions_add(channel=channel.channel, timestamp=message_id, name=name)
        except PlatformError as exc:
            if isinstance(exc.__cause__, SlackApiError) and _error_code(exc.__cause__) == "already_reacted":
                return
            raise

    async def update(self, channel: ChannelRef, message_id: str, message: Message) -> None:
        parts = self.kit.messages(message)
        async with slack_errors("chat.update"):
            await self.client.chat_update(channel=channel.channel, ts=message_id, text=parts[0].text,
                                          blocks=parts[0].blocks)
        await self._follow_ons(channel.channel, message_id, parts[1:])

    async def upload_image(
        self, channel: ChannelRef, thread_id: str | None, png: bytes, filename: str, title: str
    ) -> None:
        async with slack_errors("files_upload_v2"):
            await self.client.files_upload_v2(
                channel=channel.channel, thread_ts=thread_id, content=png, filename=filename,
                title=title, alt_txt=title,
            )

    # ------------------------------------------------------ Slack-only extras

    async def upload_private_image(self, user_id: str, message: Message) -> bool:
        """A chart for one member goes to their direct message with the bot (ephemeral
        messages can't carry files). Returns False when it could not be delivered."""
        image = message.image
        if image is None:
            return False
        try:
            async with slack_errors("conversations.open"):
                opened = await self.client.conversations_open(users=user_id)
            dm = (opened.get("channel") or {}).get("id")
            if not dm:
                return False
            async with slack_errors("files_upload_v2"):
                await self.client.files_upload_v2(
                    channel=dm, content=image.png, filename=image.filename,
                    title=message.title or image.alt_text, alt_txt=image.alt_text,
                )
            return True
        except PlatformError as exc:
            log.warning("could not send a chart to %s: %s", user_id, exc)
            return False

    async def publish_home(self, user_id: str, message: Message) -> None:
        view = {"type": "home", "blocks": self.kit.view_blocks(message)}
        async with slack_errors("views.publish"):
            await self.client.views_publish(user_id=user_id, view=view)

    async def open_answer_modal(self, trigger_id: str, channel: ChannelRef, post_id: str,
                                prompt: str | None = None) -> None:
        async with slack_errors("views.open"):
            await self.client.views_open(trigger_id=trigger_id, view=answer_modal(channel, post_id, prompt))

    # --------------------------------------------------------------- helpers

    async def _post(self, channel: str, part: Rendered, thread_ts: str | None = None) -> str:
        async with slack_errors("chat.postMessage"):
            resp = await self.client.chat_postMessage(
                channel=channel, text=part.text, blocks=part.blocks or None, thread_ts=thread_ts,
                unfurl_links=False, unfurl_media=False,
            )
        return str(resp.get("ts") or "")

    async def _follow_ons(self, channel: str, thread_ts: str, parts: list[Rendered]) -> None:
        """The rest of a long message goes in the same thread. The first part is out
        already, so a failure here is logged, not raised: raising would make the core
        send the whole message again."""
        for i, part in enumerate(parts, 2):
            try:
                await self._post(channel, part, thread_ts=thread_ts)
            except PlatformError as exc:
                log.error("part %s of a long message in %s was not posted: %s", i, channel, exc)

    async def _upload_quietly(self, channel: str, thread_ts: str | None, message: Message) -> None:
        image = message.image
        assert image is not None
        try:
            async with slack_errors("files_upload_v2"):
                await self.client.files_upload_v2(
                    channel=channel, thread_ts=thread_ts, content=image.png, filename=image.filename,
                    title=message.title or image.alt_text, alt_txt=image.alt_text,
                )
        except PlatformError as exc:
            log.warning("chart %s not uploaded to %s: %s", image.filename, channel, exc)


def answer_modal(channel: ChannelRef, post_id: str, prompt: str | None = None) -> dict[str, Any]:
    """Blind mode: a text area whose submission is the member's private answer."""
    intro = ("Your answer stays private until the reveal. Submit again before the deadline "
             "to replace it.")
    blocks: list[Any] = []
    if prompt:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=prompt[:3000])))
    blocks.append(SectionBlock(text=MarkdownTextObject(text=f"_{escape(intro)}_")))
    blocks.append(InputBlock(
        block_id=ANSWER_BLOCK,
        label=PlainTextObject(text="Your answer"),
        element=PlainTextInputElement(action_id=ANSWER_INPUT, multiline=True, max_length=3000,
                                      placeholder=PlainTextObject(text="Requirements, data, model, serving…")),
    ))
    view = View(
        type="modal", callback_id=ANSWER_VIEW,
        title=PlainTextObject(text="Answer privately"),
        submit=PlainTextObject(text="Submit"), close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"post_id": post_id, "team": channel.workspace, "channel": channel.channel}),
        blocks=blocks,
    )
    return view.to_dict()
