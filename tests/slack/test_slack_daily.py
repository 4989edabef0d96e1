"""The practice loop as a Slack channel lives it: real Bolt listeners, the real core,
the stand-in's Web API, and a FakeClock that moves the day along."""

from __future__ import annotations

import json

from sqlmodel import select

from bot.domain import Question
from bot.store.models import ReplyRow, SubscriptionRow, VoteRow
from tests.slack.conftest import ADMIN, CHANNEL, SlackWorld

ANA, BEN, CHEN, DEE = "UANA", "UBEN", "UCHEN", "UDEE"
GOOD = ("I would split the latency budget across retrieval and ranking, cache the candidate "
        "lists, and fall back to popular items when the ranker is slow.")
WEAK = "I would make the model faster somehow and hope it all works out fine."
BETTER = WEAK + " Also a canary rollout and a cache of the candidates."


async def _posted_question(slack: SlackWorld, text: str = "subscribe serving at 09:00") -> str:
    """Subscribe, let 09:00 arrive, return the daily post's ts (its thread)."""
    await slack.command(ADMIN, text)
    calls = await slack.tick(hours=1)
    [daily] = [c for c in calls if c.method == "chat.postMessage"]
    assert daily.args["channel"] == CHANNEL and "thread_ts" not in daily.args
    return daily.ts


def _question_of(slack: SlackWorld, post) -> Question:
    footer = post.blocks[-1] if post.blocks[-1]["type"] == "context" else post.blocks[-2]
    question_id = footer["elements"][0]["text"].removeprefix("Question ")
    return slack.core.rt.bank.questions[question_id]


async def test_a_full_day_in_a_channel(slack: SlackWorld):
    calls = await slack.command(ADMIN, "subscribe serving at 09:00")
    assert "Subscribed" in calls[-1].all_text
    assert await slack.tick() == []  # 08:00: nothing yet

    calls = await slack.tick(hours=1)  # 09:00
    [daily] = [c for c in calls if c.method == "chat.postMessage"]
    thread = daily.ts
    assert daily.blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                         "text": "Daily question · Serving architecture"}}
    question = _question_of(slack, daily)
    assert question.prompt in daily.all_text
    assert "<!date^" in daily.all_text and "Deadline" in daily.all_text

    # three members answer in the thread; each answer gets a ✅, discussion doesn't
    ana, calls = await slack.say(ANA, GOOD, thread_ts=thread)
    assert [(c.args["timestamp"], c.args["name"]) for c in calls if c.method == "reactions.add"] == [
        (ana, "white_check_mark")]
    ben, _ = await slack.say(BEN, WEAK, thread_ts=thread)
    chen, _ = await slack.say(CHEN, GOOD.replace("ranker", "model"), thread_ts=thread)
    _, calls = await slack.say(DEE, "nice question!", thread_ts=thread)
    assert not [c for c in calls if c.method == "reactions.add"]

    # Ben improves his answer, Chen deletes his, Ana votes for Ben, and the bot's own ✅ is no vote
    calls = await slack.edit(BEN, ben, thread, WEAK, BETTER)
    assert [c.method for c in calls] == []  # already acknowledged: no second ✅
    await slack.delete(CHEN, chen, thread, GOOD)
    await slack.react(ANA, ben, "+1::skin-tone-3", item_user=BEN)
    await slack.react(slack.standin.bot_user_id, ana, "white_check_mark")
    await slack.react(DEE, ana, "tada")
    await slack.react(DEE, ana, "tada", removed=True)

    # the deadline: the reveal goes in the thread and names who answered
    calls = await slack.tick(hours=24)
    [reveal] = [c for c in calls if c.method == "chat.postMessage" and c.args.get("thread_ts")]
    assert reveal.args["thread_ts"] == thread
    text = reveal.all_text
    assert "Reveal · Serving architecture" in reveal.blocks[0]["text"]["text"]
    assert f"<@{ANA}>" in text and f"<@{BEN}>" in text
    assert f"<@{CHEN}>" not in text  # deleted answers don't count
    assert f"<@{DEE}>" not in text  # discussion isn't an answer
    assert "1 vote" in text
    assert question.sample_answer in text

    calls = await slack.command(DEE, "leaderboard")
    [board] = [c for c in calls if c.method == "chat.postMessage"]
    body = board.texts()[1]
    assert body.index(f"<@{ANA}>") < body.index(f"<@{BEN}>")
    assert "pts" in body and f"<@{DEE}>" not in body

    with slack.core.rt.store.session() as s:
        replies = s.exec(select(ReplyRow)).all()
        votes = s.exec(select(VoteRow)).all()
    assert {r.message_id: (r.deleted, r.text) for r in replies if r.message_id in (ben, chen)} == {
        ben: (False, BETTER), chen: (True, GOOD.replace("ranker", "model"))}
    assert [(v.message_id, v.reaction) for v in votes] == [(ben, "+1")]


async def test_a_retried_event_is_counted_once_and_calls_nothing(slack: SlackWorld):
    thread = await _posted_question(slack)
    ts, first = await slack.say(ANA, GOOD, thread_ts=thread, event_id="Ev0RETRY")
    assert [c.method for c in first] == ["reactions.add"]
    # Slack thinks we missed it and delivers the same event again
    _, again = await slack.say(ANA, GOOD, thread_ts=thread, ts=ts, event_id="Ev0RETRY", retry_num=1)
    assert again == []
    # after a restart the adapter has forgotten it; the core's ledger still knows
    slack.adapter.repeats.clear()
    _, after_restart = await slack.say(ANA, GOOD, thread_ts=thread, ts=ts, event_id="Ev0RETRY", retry_num=2)
    assert after_restart == []
    with slack.core.rt.store.session() as s:
        assert len(s.exec(select(ReplyRow)).all()) == 1


async def test_messages_the_core_does_not_need_are_ignored_quietly(slack: SlackWorld):
    thread = await _posted_question(slack)
    for event in (
        {"type": "message", "channel": CHANNEL, "user": ANA, "text": GOOD, "ts": slack.ts()},  # top level
        {"type": "message", "channel": CHANNEL, "bot_id": "BOTHER", "subtype": "bot_message",
         "text": GOOD, "ts": slack.ts(), "thread_ts": thread},
        {"type": "message", "subtype": "channel_join", "channel": CHANNEL, "user": ANA, "ts": slack.ts()},
        {"type": "message", "channel": CHANNEL, "user": ANA, "text": GOOD, "ts": slack.ts(),
         "thread_ts": "1234.5678"},  # a thread the bot doesn't track
    ):
        assert await slack.event(event) == []
    with slack.core.rt.store.session() as s:
        assert s.exec(select(ReplyRow)).all() == []


async def test_quiz_buttons_grade_and_the_result_replaces_the_buttons(slack: SlackWorld):
    calls = await slack.command(ANA, "quiz serving")
    [quiz] = [c for c in calls if c.method == "response_url"]
    buttons = quiz.buttons()
    right = next(b for b in buttons if b["value"].endswith(":1"))  # bank choice 1, "one", wherever shown
    calls = await slack.press(ANA, right, ephemeral=True)
    [result] = [c for c in calls if c.method == "response_url"]
    assert result.args["replace_original"] is True
    assert "✅ Right" in result.all_text and "Because 1 is right for serving." in result.all_text
    assert result.buttons() == []
    # a double click changes nothing and says so
    calls = await slack.press(ANA, next(b for b in buttons if b is not right), ephemeral=True)
    [again] = [c for c in calls if c.method == "response_url"]
    assert again.args.get("replace_original") is False and "already answered" in again.all_text


async def test_a_readiness_check_walks_through_with_new_buttons_each_time(slack: SlackWorld):
    calls = await slack.command(ANA, "quiz readiness")
    [quiz] = [c for c in calls if c.method == "response_url"]
    assert "1/6" in quiz.all_text
    for step in range(2, 7):
        calls = await slack.press(ANA, quiz.buttons()[0], ephemeral=True)
        [quiz] = [c for c in calls if c.method == "response_url"]
        assert quiz.args["replace_original"] is True
        assert f"{step}/6" in quiz.all_text
    calls = await slack.press(ANA, quiz.buttons()[0], ephemeral=True)
    [summary] = [c for c in calls if c.method == "response_url"]
    assert "Readiness summary" in summary.all_text and summary.buttons() == []


async def test_blind_mode_answers_through_a_modal_and_can_be_resubmitted(slack: SlackWorld):
    await slack.command(ADMIN, "subscribe serving at 09:00 blind")
    calls = await slack.tick(hours=1)
    [daily] = [c for c in calls if c.method == "chat.postMessage"]
    [button] = daily.buttons()
    assert button["text"]["text"] == "Answer privately" and button["style"] == "primary"
    message = {"ts": daily.ts, "blocks": daily.blocks, "text": daily.args["text"]}

    calls = await slack.press(ANA, button, message=message)
    [opened] = [c for c in calls if c.method == "views.open"]
    view = opened.args["view"]
    assert view["type"] == "modal" and view["callback_id"] == "mlsd_private_answer"
    assert _question_of(slack, daily).prompt in json.dumps(view["blocks"])  # the question, for reference
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["element"]["type"] == "plain_text_input" and field["element"]["multiline"] is True
    assert json.loads(view["private_metadata"])["post_id"] == button["value"]

    sneaky = GOOD + " <!channel> @everyone & <https://evil.example|click>"

    async def submit(text: str) -> tuple[str, list]:
        payload = slack.standin.view_submission_payload(
            view, user=ANA, values={field["block_id"]: {field["element"]["action_id"]: {
                "type": "plain_text_input", "value": text}}})
        return await slack.interact(payload)

    body, calls = await submit(sneaky)
    assert body == ""  # the modal closes at once
    [told] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert told.args["user"] == ANA and told.args["channel"] == CHANNEL
    assert "Your answer is recorded" in told.all_text
    body, calls = await submit(sneaky + " Also a canary.")
    [told] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert "Your answer is updated" in told.all_text
    assert [c for c in calls if c.method == "chat.postMessage"] == []  # nothing shows in the channel

    calls = await slack.tick(hours=24)
    [reveal] = [c for c in calls if c.method == "chat.postMessage" and c.args.get("thread_ts") == daily.ts]
    text = reveal.all_text
    assert "Also a canary." in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert "<https://evil" not in text


async def test_app_home_shows_the_members_progress_when_opened(slack: SlackWorld):
    thread = await _posted_question(slack)
    await slack.say(ANA, GOOD, thread_ts=thread)
    await slack.tick(hours=24)
    calls = await slack.event({"type": "app_home_opened", "user": ANA, "channel": "DHOME", "tab": "home"})
    [published] = [c for c in calls if c.method == "views.publish"]
    assert published.args["user_id"] == ANA
    view = published.args["view"]
    assert view["type"] == "home"
    text = published.all_text
    assert "mlsd-bot · your practice" in text and f"<#{CHANNEL}>" in text
    assert "#1 of 1" in text and "Next questions" in text and "<!date^" in text
    # the Messages tab is not ours to draw
    assert await slack.event({"type": "app_home_opened", "user": ANA, "channel": "DHOME", "tab": "messages"}) == []


async def test_a_deleted_channel_pauses_the_subscription(slack: SlackWorld):
    await slack.command(ADMIN, "subscribe serving at 09:00")
    slack.standin.delete_channel(CHANNEL)
    calls = await slack.tick(hours=1)
    assert [(c.method, c.error) for c in calls] == [("chat.postMessage", "channel_not_found")]
    with slack.core.rt.store.session() as s:
        sub = s.exec(select(SubscriptionRow)).one()
    assert sub.paused_reason == "channel_not_found"
    assert await slack.tick(hours=24) == []  # no retry storm
    calls = await slack.command(ADMIN, "schedule")
    assert "paused: channel_not_found" in calls[-1].all_text


async def test_rate_limited_then_delivered_once(slack: SlackWorld):
    await slack.command(ADMIN, "subscribe serving at 09:00")
    slack.standin.rate_limit("chat.postMessage", retry_after=1)
    calls = [c for c in await slack.tick(hours=1) if c.method == "chat.postMessage"]
    assert [(c.method, c.status) for c in calls] == [("chat.postMessage", 429), ("chat.postMessage", 200)]
    assert len(slack.standin.calls_to("chat.postMessage")) == 2  # the subscribe notice + the question


async def test_a_server_error_on_the_acknowledgement_is_retried(slack: SlackWorld):
    thread = await _posted_question(slack)
    slack.standin.server_error("reactions.add", status=503)
    _, calls = await slack.say(ANA, GOOD, thread_ts=thread)
    assert [(c.method, c.status) for c in calls] == [("reactions.add", 503), ("reactions.add", 200)]


async def test_a_late_answer_gets_the_hourglass(slack: SlackWorld):
    thread = await _posted_question(slack)
    slack.clock.advance(hours=25)  # past the deadline, before the reveal has run
    ts, calls = await slack.say(ANA, GOOD, thread_ts=thread)
    assert [(c.args["timestamp"], c.args["name"]) for c in calls if c.method == "reactions.add"] == [
        (ts, "hourglass_flowing_sand")]


async def test_a_failing_form_submission_is_answered_politely(slack: SlackWorld, monkeypatch):
    await slack.command(ADMIN, "subscribe serving at 09:00 blind")
    calls = await slack.tick(hours=1)
    [daily] = [c for c in calls if c.method == "chat.postMessage"]
    [button] = daily.buttons()
    calls = await slack.press(ANA, button, message={"ts": daily.ts, "blocks": daily.blocks})
    [opened] = [c for c in calls if c.method == "views.open"]

    async def broken(event):
        raise RuntimeError("boom")

    monkeypatch.setattr(slack.core, "handle", broken)
    payload = slack.standin.view_submission_payload(opened.args["view"], user=ANA, values={
        "answer": {"answer_text": {"type": "plain_text_input", "value": GOOD}}})
    body, calls = await slack.interact(payload)
    assert body == ""
    [told] = [c for c in calls if c.method == "chat.postEphemeral"]
    assert told.args["user"] == ANA and "Sorry, something went wrong" in told.all_text
