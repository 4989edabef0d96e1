"""An answer Slack was told about is an answer we stored.

A real database failure (a trigger that aborts every insert into `replies`,
as a full disk or a broken volume would) while a member answers: Slack must
not get its 200, so it redelivers; the redelivery, once the database is
healthy again, is stored exactly once and acknowledged with the ✅.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import select

from bot.store.models import ReplyRow
from tests.slack.conftest import ADMIN, CHANNEL, SlackWorld

ANSWER = ("I would shard the candidate index by region, cache the hot lists for ten minutes, "
          "and fall back to popularity when the ranker times out.")
BREAK_REPLIES = ("CREATE TRIGGER fail_replies BEFORE INSERT ON replies "
                 "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")


async def _thread(slack: SlackWorld) -> str:
    await slack.command(ADMIN, "subscribe serving at 09:00")
    calls = await slack.tick(hours=1)
    [daily] = [c for c in calls if c.method == "chat.postMessage"]
    return daily.ts


def _stored(slack: SlackWorld, ts: str) -> list[ReplyRow]:
    with slack.core.rt.store.session() as s:
        return list(s.exec(select(ReplyRow).where(ReplyRow.message_id == ts)))


async def test_an_answer_not_stored_is_not_acknowledged_and_its_redelivery_is_stored_once(slack: SlackWorld):
    thread = await _thread(slack)
    store = slack.core.rt.store
    with store.engine.begin() as conn:
        conn.execute(text(BREAK_REPLIES))
    event = {"type": "message", "channel": CHANNEL, "user": "UANA", "text": ANSWER, "ts": "1772500001.000100",
             "thread_ts": thread, "channel_type": "channel"}

    mark = slack.mark()
    status, _ = await slack.standin.post_event(slack.url, event, event_id="Ev0DURABLE")
    await slack.settle()
    assert status >= 500  # Slack will deliver it again
    assert not slack.since(mark, "reactions.add")  # no ✅ for an answer we don't have
    assert _stored(slack, event["ts"]) == []

    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER fail_replies"))
    calls = await slack.event(event, event_id="Ev0DURABLE", retry_num=1)
    assert [(c.args["timestamp"], c.args["name"]) for c in calls if c.method == "reactions.add"] == [
        (event["ts"], "white_check_mark")]
    calls = await slack.event(event, event_id="Ev0DURABLE", retry_num=2)  # a late extra retry: nothing new
    assert not [c for c in calls if c.method == "reactions.add"]
    [reply] = _stored(slack, event["ts"])
    assert reply.text == ANSWER and reply.is_answer
