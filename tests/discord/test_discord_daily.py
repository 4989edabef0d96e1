"""The daily loop on Discord: embed + thread, answers in the thread, reveal, leaderboard, faults."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from sqlmodel import select

from bot.store.models import PostRow, ReplyRow, VoteRow
from tests.discord.conftest import FAIR, GOOD, PACK, WEAK, close_world, open_world
from tests.discord.standin import embed_text


def _post(world) -> PostRow:
    with world.core.rt.store.session() as s:
        return s.exec(select(PostRow).where(PostRow.status != "skipped")).one()


def _acks(world, message: dict) -> list:
    return world.standin.calls_to(
        "PUT", rf"/channels/{message['channel_id']}/messages/{message['id']}/reactions/[^/]+/@me")


async def test_a_full_day_in_a_thread(world):
    standin = world.standin
    subscribed = await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    assert "Subscribed" in subscribed.text()
    await world.tick()  # 08:00: nothing yet
    assert standin.bot_messages_in(world.channel) == []

    report = await world.tick(hours=1)  # 09:00
    assert len(report.posted) == 1
    (post,) = standin.bot_messages_in(world.channel)
    embed = post["embeds"][0]
    assert embed["title"].startswith("Daily question · Serving")
    assert {f["name"] for f in embed["fields"]} == {"Difficulty", "Deadline"}
    assert re.search(r"<t:\d+:f>", embed_text(post))  # the deadline in each reader's own zone
    (thread,) = standin.threads()
    assert thread["id"] == post["id"] and thread["parent_id"] == str(world.channel)
    assert 1 <= len(thread["name"]) <= 100
    row = _post(world)
    assert (row.message_id, row.thread_id) == (post["id"], thread["id"])

    # Three members answer in the thread; carol starts short and edits it into an answer.
    alice = await world.say(world.alice, thread["id"], GOOD)
    bob = await world.say(world.bob, thread["id"], WEAK)
    carol = await world.say(world.carol, thread["id"], "hmm, thinking")
    assert [c.path.split("/reactions/")[1] for c in _acks(world, alice)] == ["✅/@me"]
    assert _acks(world, bob) and not _acks(world, carol)  # discussion gets no tick
    await standin.edit(carol, FAIR)
    outcome = await world.handled_event(f"edit:{carol['id']}:{carol['edited_timestamp']}")
    assert outcome.notes == ["answer"]
    assert _acks(world, carol)
    # bob votes for alice, then deletes his own answer.
    await standin.react(world.bob, alice, "👍")
    await standin.wait_for(lambda: any(e.event_id.startswith(f"reaction_add:{alice['id']}:{world.bob.id}:+1")
                                       for e in world.events))
    await standin.delete(bob)
    assert (await world.handled_event(f"delete:{bob['id']}")).notes == ["deleted"]

    report = await world.tick(hours=24)  # Tuesday 09:00: Monday's deadline passed
    assert report.revealed == [row.id]
    reveal = [m for m in standin.bot_messages_in(thread["id"]) if m["embeds"][0].get("title", "").startswith("Reveal")]
    assert len(reveal) == 1
    text = embed_text(reveal[0])
    assert "Sample answer" in text
    assert f"<@{world.alice.id}>" in text and "1 vote" in text
    assert f"<@{world.carol.id}>" in text
    assert f"<@{world.bob.id}>" not in text  # deleted before the deadline
    # ... and the thread is archived after a day of quiet.
    (archive,) = standin.calls_to("PATCH", rf"/channels/{thread['id']}")
    assert archive.json == {"auto_archive_duration": 1440}

    board = await world.command(world.carol, "leaderboard")
    lines = [ln for ln in board.text().splitlines() if " pts" in ln and "<@" in ln]
    assert str(world.alice.id) in lines[0] and str(world.carol.id) in lines[1]
    assert str(world.bob.id) not in board.text()


async def test_bot_messages_and_its_own_reactions_are_ignored(world):
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    await world.tick(hours=1)
    thread = world.standin.threads()[0]["id"]
    await world.say(world.alice, thread, GOOD)
    bot_events = [e for e in world.events if getattr(e, "from_bot", False)]
    assert bot_events, "the stand-in echoes the bot's own messages and reactions, as Discord does"
    for event in bot_events:
        assert world.handled[event.event_id].notes == ["ignored"]


async def test_without_thread_permission_answers_are_replies_to_the_post(world):
    standin = world.standin
    standin.deny_threads(world.channel)
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    await world.tick(hours=1)
    posts = standin.bot_messages_in(world.channel)
    post = posts[0]
    assert standin.threads() == []
    assert _post(world).thread_id == post["id"]
    (notice,) = [m for m in posts if "Create Public Threads" in embed_text(m)]
    assert notice["message_reference"]["message_id"] == post["id"]

    chatter = await standin.post(world.bob, world.channel, GOOD)  # in the channel, not a reply to the post
    answer = await world.say(world.alice, world.channel, GOOD, reply_to=post["id"])
    assert _acks(world, answer)  # counted, and ticked where it is: in the channel
    assert f"message:{chatter['id']}" not in world.handled and not _acks(world, chatter)

    await world.restart()  # the adapter forgets which posts fell back; Discord's 404 tells it again
    await world.tick(hours=24)
    reveals = [m for m in standin.bot_messages_in(world.channel) if "Sample answer" in embed_text(m)]
    assert len(reveals) == 1
    assert reveals[0]["message_reference"]["message_id"] == post["id"]
    assert [c.status for c in standin.calls_to("POST", rf"/channels/{post['id']}/messages")] == [404]
    assert f"<@{world.alice.id}>" in embed_text(reveals[0])
    assert f"<@{world.bob.id}>" not in embed_text(reveals[0])
    # Tuesday's post fell back too, but admins were told once (per run of the bot).
    assert len([m for m in standin.bot_messages_in(world.channel) if "Create Public Threads" in embed_text(m)]) == 2
    await world.tick(hours=24)
    assert len([m for m in standin.bot_messages_in(world.channel) if "Create Public Threads" in embed_text(m)]) == 2


async def test_a_forbidden_channel_pauses_the_subscription(world):
    world.standin.deny_channel(world.channel)
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    report = await world.tick(hours=1)
    assert report.posted == [] and report.failed
    (sub,) = world.subscriptions()
    assert sub.paused_reason == "missing_access"
    schedule = await world.command(world.alice, "schedule")
    assert "paused: missing_access" in schedule.text()


async def test_a_deleted_channel_pauses_with_its_reason(world):
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    del world.standin.channels[world.channel]
    await world.tick(hours=1)
    (sub,) = world.subscriptions()
    assert sub.paused_reason == "unknown_channel"


async def test_a_429_is_waited_out_and_the_question_posted_once(world):
    standin = world.standin
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    standin.rate_limit("POST", rf"/channels/{world.channel}/messages", retry_after=0.05)
    report = await world.tick(hours=1)
    assert len(report.posted) == 1 and not report.failed
    attempts = standin.calls_to("POST", rf"/channels/{world.channel}/messages")
    assert [c.status for c in attempts] == [429, 200]
    assert len(standin.bot_messages_in(world.channel)) == 1
    assert len(standin.threads()) == 1


def _long_pack(tmp_path: Path) -> Path:
    paragraphs = []
    for i in range(1, 23):
        words = " ".join(f"point{i}word{j}" for j in range(1, 24))
        paragraphs.append(f"Paragraph {i}: {words}.")
    sample = "\n\n".join(paragraphs)
    assert 7000 <= len(sample) <= 7600
    pack = yaml.safe_load(PACK.read_text())
    pack["questions"] = [{
        "id": "t-serving-long", "topic": "serving", "difficulty": "hard", "companies": ["Acme"],
        "prompt": "Serve a very detailed system.", "sample_answer": sample,
        "key_points": [{"text": "Caches", "terms": ["cache"]}, {"text": "Shards", "terms": ["shard"]},
                       {"text": "Measures p99", "terms": ["p99"]}, {"text": "Batches", "terms": ["batch"]}],
    }]
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(pack, sort_keys=False))
    return path


async def test_a_7000_character_sample_answer_is_split_never_cut(standin, clock, tmp_path):
    w = await open_world(standin, clock, tmp_path / "long.db", pack=_long_pack(tmp_path))
    try:
        sample = w.core.rt.bank.questions["t-serving-long"].sample_answer
        await w.command(w.admin, "subscribe", topic="serving", at="09:00")
        await w.tick(hours=1)
        thread = standin.threads()[0]["id"]
        await w.say(w.alice, thread, "I would cache and shard everything, and measure the p99 latency too.")
        await w.tick(hours=24)
        reveal = standin.bot_messages_in(thread)
        assert len(reveal) >= 2  # more than one Discord message, all in the thread
        for message in reveal:  # the stand-in refuses anything over the limits; check anyway
            total = sum(len(e.get("title") or "") + len(e.get("description") or "") for e in message["embeds"])
            assert total <= 6000 and len(message["embeds"]) <= 10
            assert all(len(e.get("description") or "") <= 4096 for e in message["embeds"])
        shown = " ".join(" ".join((e.get("description") or "").split()) for m in reveal for e in m["embeds"])
        assert " ".join(sample.split()) in shown
        with w.core.rt.store.session() as s:
            first = s.exec(select(PostRow).order_by(PostRow.id)).first()
            assert first is not None and first.status == "revealed"
    finally:
        await close_world(w)


async def test_answers_in_an_unrelated_thread_or_channel_are_ignored(world):
    await world.command(world.admin, "subscribe", topic="serving", at="09:00")
    await world.tick(hours=1)
    thread = world.standin.threads()[0]["id"]
    other = world.standin.add_channel("random")  # unknown to the client's cache: looked up once
    message = await world.standin.post(world.alice, other, GOOD)
    await world.say(world.bob, thread, "a quick question first")  # handled after the one above
    assert f"message:{message['id']}" not in world.handled and not _acks(world, message)
    assert world.standin.calls_to("GET", rf"/channels/{other}")
    with world.core.rt.store.session() as s:
        assert [r.text for r in s.exec(select(ReplyRow))] == ["a quick question first"]
        assert s.exec(select(VoteRow)).all() == []
