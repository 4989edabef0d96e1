"""The floor: a bare slack-bolt AsyncApp served the way mlsd-bot serves it.

Same transport (aiohttp, `/slack/events`, Bolt's request/response adapters),
same signing secret and `process_before_response=True`. Its `/mlsd` handler
only acks; its `message` handler only adds a reaction on the stand-in and
returns. Whatever mlsd-bot costs beyond this is the project's own cost.

    SLACK_BOT_TOKEN=... SLACK_SIGNING_SECRET=... MLSD_SLACK_API_URL=... python bench/_bolt_floor.py PORT
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build_app() -> AsyncApp:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["MLSD_SLACK_API_URL"])
    app = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"],
                   process_before_response=True)

    @app.command("/mlsd")
    async def command(ack: Any) -> None:
        await ack()

    @app.event("message")
    async def message(event: dict, client: AsyncWebClient) -> None:
        await client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="white_check_mark")

    return app


async def serve(port: int) -> None:
    app = build_app()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", health)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
