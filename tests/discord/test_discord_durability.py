"""No answer is acknowledged and then lost, and the bot never runs on deaf.

Discord never delivers a gateway event twice, so when the database refuses a
member's answer (a real failure: a trigger aborting every insert into
`replies`, as a full disk would) the adapter tries the same event again a few
times; the ✅ appears only on an answer that was stored, stored once however
many attempts it took. If it never goes in, the member is told in the thread.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import text
from sqlmodel import select

from adapters.discord.client import RECORD_RETRY_DELAYS
from bot.store.models import ProcessedEventRow, ReplyRow
from tests.discord.conftest import GOOD, DiscordWorld
from tests.discord.standin import embed_text

BREAK_REPLIES = ("CREATE TRIGGER fail_replies BEFORE INSERT ON replies "
                 "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
HEAL_REPLIES = "DROP TRIGGER fail_replies"


def _sql(world: DiscordWorld, statement: str) -> None:
    with world.core.rt.store.engine.begin() as conn:
        conn.execute(text(statement))


async def _thread(world: DiscordWorld) -> str:
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    await world.tick(hours=1)
    return world.standin.threads()[0]["id"]


async def _restart_with_pauses(world: DiscordWorld, heal_after: int | None) -> list[float]:
    """Restart the adapter with a pause between attempts that records its length and, after
    `heal_after` failed attempts, drops the database fault (None: it stays)."""
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == heal_after:
            _sql(world, HEAL_REPLIES)

    await world.stop()
    await world.start(sleep=pause)
    return pauses


def _stored(world: DiscordWorld, message_id: str) -> list[ReplyRow]:
    with world.core.rt.store.session() as s:
        return list(s.exec(select(ReplyRow).where(ReplyRow.message_id == message_id)))


def _ledger(world: DiscordWorld, event_id: str) -> list[str]:
    with world.core.rt.store.session() as s:
        return [r.key for r in s.exec(select(ProcessedEventRow)) if r.key.endswith(f":{event_id}")]


def _ticks(world: DiscordWorld, message: dict) -> list:
    return world.standin.calls_to("PUT", rf"/channels/{message['channel_id']}/messages/{message['id']}/reactions/.+")


def _replies_to(world: DiscordWorld, thread: str, message: dict) -> list[dict]:
    return [m for m in world.standin.bot_messages_in(thread)
            if (m.get("message_reference") or {}).get("message_id") == message["id"]]


async def test_an_answer_the_database_refused_twice_is_stored_once_on_the_third_attempt(world):
    thread = await _thread(world)
    pauses = await _restart_with_pauses(world, heal_after=2)
    _sql(world, BREAK_REPLIES)

    answer = await world.say(world.alice, thread, GOOD)

    assert pauses == list(RECORD_RETRY_DELAYS[:2])  # two refusals, then the third attempt went in
    assert world.handled[f"message:{answer['id']}"].notes == ["answer"]
    [reply] = _stored(world, answer["id"])
    assert reply.text == GOOD and reply.is_answer
    assert len(_ledger(world, f"message:{answer['id']}")) == 1
    assert len(_ticks(world, answer)) == 1  # acknowledged once, after it was stored
    assert _replies_to(world, thread, answer) == []  # nothing to apologise for


async def test_an_answer_that_cannot_be_stored_gets_no_tick_and_the_member_is_told_to_post_it_again(world):
    thread = await _thread(world)
    pauses = await _restart_with_pauses(world, heal_after=None)
    _sql(world, BREAK_REPLIES)

    answer = await world.say(world.alice, thread, GOOD)

    assert pauses == list(RECORD_RETRY_DELAYS)  # every attempt, then given up
    assert world.handled[f"message:{answer['id']}"].notes == ["not_recorded"]
    assert _stored(world, answer["id"]) == []
    assert _ledger(world, f"message:{answer['id']}") == []  # so a repost is not taken for a repeat
    assert _ticks(world, answer) == []  # no ✅ for an answer we do not have
    [told] = _replies_to(world, thread, answer)
    assert told["content"] == f"<@{world.alice.id}>"  # a mention in an embed would notify nobody
    shown = embed_text(told)
    assert "Your answer was not recorded." in shown and "Please post it again in this thread." in shown
    assert not re.search(r"Traceback|disk I/O|sqlite|Error", shown)

    # The member posts it again once the database is back: stored, ticked, once.
    _sql(world, HEAL_REPLIES)
    again = await world.say(world.alice, thread, GOOD)
    assert world.handled[f"message:{again['id']}"].notes == ["answer"]
    assert len(_stored(world, again["id"])) == 1 and len(_ticks(world, again)) == 1


async def test_a_short_chat_line_that_cannot_be_stored_gets_no_apology(world):
    thread = await _thread(world)
    await _restart_with_pauses(world, heal_after=None)
    _sql(world, BREAK_REPLIES)
    chat = await world.say(world.bob, thread, "thanks!")
    assert world.handled[f"message:{chat['id']}"].notes == ["not_recorded"]
    assert _replies_to(world, thread, chat) == []


async def test_a_vote_that_cannot_be_stored_is_named_to_the_voter(world):
    thread = await _thread(world)
    answer = await world.say(world.alice, thread, GOOD)
    await _restart_with_pauses(world, heal_after=None)
    _sql(world, "CREATE TRIGGER fail_votes BEFORE INSERT ON votes BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    await world.standin.react(world.bob, answer)
    await world.standin.wait_for(lambda: any(e.event_id.startswith(f"reaction_add:{answer['id']}:{world.bob.id}")
                                             for e in world.events), what="bob's vote to be handled")
    await world.settle()
    [told] = _replies_to(world, thread, answer)
    assert told["content"] == f"<@{world.bob.id}>"
    assert "Your 👍 vote on this answer was not recorded." in embed_text(told)


# ------------------------------------------------------------ gateway death


async def test_a_gateway_that_will_not_take_the_bot_back_is_reported_as_dead(world):
    adapter = world.adapter
    died = asyncio.ensure_future(adapter.died())
    await world.standin.close_gateway(4004, "Authentication failed.")  # may not be retried
    reason = await asyncio.wait_for(died, timeout=15)
    assert "4004" in reason and "will not come back" in reason
    assert adapter.client.is_closed()


async def test_a_resumable_close_is_left_to_discord_py_to_resume(world):
    died = asyncio.ensure_future(world.adapter.died())
    resumes = len(world.standin.resumes)
    await world.standin.close_gateway(4000, "Unknown error.")  # Discord: reconnect and resume
    await world.standin.wait_for(lambda: len(world.standin.resumes) > resumes, timeout=15, what="a RESUME")
    topics = await world.command(world.alice, "topics")  # still listening
    assert topics.replies
    assert not died.done()
    died.cancel()
