"""Many channels due at once: posts go out at close to Discord's global limit, never over it.

The stand-in answers like Discord: the 51st request within a second gets a 429
with `global: true` (and a note in `violations`, which every test checks).
"""

from __future__ import annotations

import asyncio

import discord

from adapters.discord.pace import PACE_PER_SECOND, Pace
from bot.domain import ChannelRef, Message, MessageKind, Section, Text
from tests.discord.standin import GLOBAL_LIMIT, busiest_second

SENDS = 150  # about 3 s of posts at the pace


def _ref(world) -> ChannelRef:
    return ChannelRef("discord", str(world.standin.guild_id), str(world.channel))


def _notice(n: int) -> Message:
    return Message(title=None, sections=(Section(Text.of(f"notice {n}")),), kind=MessageKind.NOTICE)


async def test_a_burst_of_posts_stays_under_the_global_limit_at_close_to_its_pace(world):
    standin = world.standin
    before = len(standin.calls)
    sends = asyncio.gather(*(world.adapter.port.send(_ref(world), _notice(n)) for n in range(SENDS)))
    # A member's command meanwhile: interaction calls are outside the global limit and do not queue.
    command = await standin.slash(world.alice, "topics")
    await standin.wait_for(lambda: command.callbacks, timeout=30, what="/mlsd topics to be acknowledged")
    await sends
    await world.settle()

    posts = [c for c in standin.calls[before:] if c.method == "POST" and c.path.endswith("/messages")]
    assert len(posts) == SENDS and all(c.status == 200 for c in posts)
    assert standin.global_429s == 0
    assert busiest_second([c.at for c in standin.bot_calls()]) <= GLOBAL_LIMIT
    # Paced, not trickled: some second carried (nearly) the full pace, well above half the limit.
    assert busiest_second([c.at for c in posts]) >= 0.8 * PACE_PER_SECOND
    [callback] = standin.calls_to("POST", rf"/interactions/{command.id}/.+/callback")
    assert callback.at < posts[-1].at  # acknowledged while the posts were still going out


def test_only_rest_calls_made_with_the_bot_token_are_paced():
    pace = Pace()
    base = discord.http.Route.BASE
    assert pace.applies_to(f"{base}/channels/1/messages")
    assert not pace.applies_to(f"{base}/interactions/1/token/callback")
    assert not pace.applies_to(f"{base}/webhooks/1/token/messages/@original")
    assert not pace.applies_to("wss://gateway.discord.gg/?v=10&encoding=json")
