"""The gateway side: intents, the privileged-intent error, RESUME replays, where requests go."""

from __future__ import annotations

import discord
import pytest
from sqlmodel import select

from adapters.discord.client import DiscordStartError, create_adapter
from bot.store.models import ReplyRow, VoteRow
from tests.discord.conftest import GOOD, WEAK, build_core, discord_settings
from tests.discord.standin import DiscordStandIn

GUILDS, GUILD_MESSAGES, GUILD_REACTIONS, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 10, 1 << 15
MEMBERS, PRESENCES = 1 << 1, 1 << 8


async def test_identifies_with_only_the_intents_it_needs(world):
    (identify,) = world.standin.identifies
    intents = identify["intents"]
    assert intents == GUILDS | GUILD_MESSAGES | GUILD_REACTIONS | MESSAGE_CONTENT
    assert not intents & (MEMBERS | PRESENCES)
    assert identify["token"] == "test-token"


async def test_every_request_went_to_the_stand_in(world):
    assert world.standin.api_url == discord.http.Route.BASE
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == world.standin.gateway_url
    # The autouse `_no_network` guard would have failed any connection elsewhere; and the
    # stand-in saw the login, the application lookup and the command sync.
    paths = [c.path for c in world.standin.calls]
    assert paths[:2] == ["/users/@me", "/oauth2/applications/@me"]


async def test_a_missing_message_content_intent_stops_start_with_a_clear_error(clock, tmp_path):
    standin = await DiscordStandIn(message_content_enabled=False).start()
    core = build_core(discord_settings(standin, tmp_path / "x.db"), clock)
    try:
        adapter = create_adapter(core.rt.settings, core, guild_ready_timeout=0.05)
        with pytest.raises(DiscordStartError) as failure:
            await adapter.start()
        message = str(failure.value)
        assert "4014" in message and "Message Content intent" in message
        assert "https://discord.com/developers/applications" in message
        assert "Privileged Gateway Intents" in message
        assert adapter.client.is_closed()
    finally:
        core.rt.store.close()
        await standin.close()


async def test_a_rejected_token_says_so(standin, clock, tmp_path):
    core = build_core(discord_settings(standin, tmp_path / "x.db", discord_token="wrong"), clock)
    try:
        adapter = create_adapter(core.rt.settings, core, guild_ready_timeout=0.05)
        with pytest.raises(DiscordStartError, match="rejected DISCORD_TOKEN"):
            await adapter.start()
    finally:
        core.rt.store.close()


async def _day_with_one_answer_and_a_vote(world):
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    await world.tick(hours=1)
    thread = world.standin.threads()[0]["id"]
    answer = await world.say(world.alice, thread, GOOD)
    other = await world.say(world.bob, thread, WEAK)
    await world.standin.react(world.bob, answer)
    await world.standin.wait_for(lambda: sum(e.event_id.startswith(f"reaction_add:{answer['id']}:{world.bob.id}")
                                             for e in world.events) == 1)
    await world.settle()
    return thread, answer, other


def _ticks(world, message):
    return world.standin.calls_to("PUT", rf"/channels/{message['channel_id']}/messages/{message['id']}/reactions/.+")


async def test_a_replay_after_resume_is_counted_once(world):
    standin = world.standin
    thread, answer, other = await _day_with_one_answer_and_a_vote(world)
    events_before = len(world.events)

    # The connection drops; on RESUME Discord sends again the last events it is not sure
    # arrived: bob's answer, the bot's tick on it, and bob's vote.
    await standin.reconnect(replay_last=4)
    marker = await world.say(world.carol, thread, "a marker after the replay")
    assert len(standin.identifies) == 1  # resumed, not a new session
    assert standin.resumes[-1]["session_id"] == standin.session_id

    replays = [(e, o) for e, o in zip(world.events[events_before:], world.outcomes[events_before:], strict=True)
               if not getattr(e, "from_bot", False) and e.event_id != f"message:{marker['id']}"]
    kinds = sorted(e.event_id.split(":")[0] for e, _ in replays)
    assert kinds == ["message", "reaction_add"]
    assert {e.event_id for e, _ in replays} <= {e.event_id for e in world.events[:events_before]}
    assert all(outcome.duplicate for _, outcome in replays)
    assert len(_ticks(world, other)) == 1  # a replayed event makes no platform call
    assert len(_ticks(world, answer)) == 1
    with world.core.rt.store.session() as s:
        assert len(s.exec(select(ReplyRow).where(ReplyRow.message_id == other["id"])).all()) == 1
        assert len(s.exec(select(VoteRow)).all()) == 1


async def test_events_missed_while_disconnected_arrive_on_resume(world):
    standin = world.standin
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    await world.tick(hours=1)
    thread = standin.threads()[0]["id"]
    standin.hold()  # the connection silently drops what follows
    message = await standin.post(world.alice, thread, GOOD)
    assert f"message:{message['id']}" not in world.handled
    await standin.reconnect()  # RESUME with the last sequence number the client saw
    await world.handled_event(f"message:{message['id']}")
    assert len(_ticks(world, message)) == 1
    assert len(standin.identifies) == 1


async def test_taking_a_vote_back_and_giving_it_again_counts(world):
    _, answer, _ = await _day_with_one_answer_and_a_vote(world)
    await world.standin.unreact(world.bob, answer)
    await world.standin.wait_for(lambda: any(e.event_id.startswith("reaction_remove") for e in world.events))
    await world.settle()
    with world.core.rt.store.session() as s:
        assert s.exec(select(VoteRow)).all() == []
    await world.standin.react(world.bob, answer)
    await world.standin.wait_for(lambda: sum(e.event_id.startswith(f"reaction_add:{answer['id']}:{world.bob.id}")
                                             for e in world.events) == 2)
    await world.settle()
    with world.core.rt.store.session() as s:
        assert len(s.exec(select(VoteRow)).all()) == 1


async def test_a_replayed_interaction_is_not_run_twice(world):
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    posted = await world.command(world.admin, "post_now")
    assert "posted today's question" in posted.text()
    frame = next(f for f in world.standin.frames
                 if f["t"] == "INTERACTION_CREATE" and f["d"]["id"] == str(posted.id))
    await world.standin.reconnect(replay=[frame])
    await world.command(world.alice, "topics")  # handled after the replay
    attempts = world.standin.calls_to("POST", rf"/interactions/{posted.id}/.+/callback")
    assert [c.status for c in attempts] == [200, 400]  # Discord: "already acknowledged"
    assert [e.event_id for e in world.events].count(f"interaction:{posted.id}") == 1
    assert len(world.standin.bot_messages_in(world.channel)) == 1
