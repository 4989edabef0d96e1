"""Buttons and forms: quiz answers (also after a restart) and blind mode's private answer modal."""

from __future__ import annotations

from sqlmodel import select

from bot.store.models import QuizAttemptRow
from tests.discord.conftest import GOOD
from tests.discord.standin import EPHEMERAL, custom_ids, embed_text

DEFERRED_UPDATE = 6  # acknowledge a component; the message is edited afterwards
MODAL = 9


def _answer_button(world, quiz_message: dict) -> str:
    """The custom id of the right answer, from the quiz item in the bank."""
    session, item_id, _ = custom_ids(quiz_message)[0].split(":", 1)[1].split(":")
    item = world.core.rt.bank.quiz[item_id]
    return f"mlsd_quiz:{session}:{item_id}:{item.answer}"


async def test_a_quiz_answer_is_graded_in_place(world):
    started = await world.command(world.alice, "quiz", topic="serving")
    (quiz,) = started.replies
    press = await world.press(world.alice, quiz, _answer_button(world, quiz))
    assert press.callback_types == [DEFERRED_UPDATE]
    assert press.answered_in is not None and press.answered_in < 3.0
    assert press.followups == []  # the result replaces the quiz message itself
    graded = press.original
    assert graded is not None and graded["id"] == quiz["id"]
    assert "✅ Right" in embed_text(graded)
    assert custom_ids(graded) == []  # buttons gone once answered
    assert graded["flags"] & EPHEMERAL


async def test_pressing_twice_changes_nothing(world):
    started = await world.command(world.alice, "quiz", topic="data")
    (quiz,) = started.replies
    button = custom_ids(quiz)[0]
    await world.press(world.alice, quiz, button)
    again = await world.press(world.alice, quiz, button)
    assert "already answered" in embed_text(again.replies[-1])
    with world.core.rt.store.session() as s:
        assert len(s.exec(select(QuizAttemptRow)).all()) == 1


async def test_someone_elses_quiz_button_is_refused_privately(world):
    started = await world.command(world.alice, "quiz", topic="data")
    (quiz,) = started.replies
    press = await world.press(world.bob, quiz, custom_ids(quiz)[0])
    (reply,) = press.followups
    assert reply["flags"] & EPHEMERAL
    assert "belongs to someone else" in embed_text(reply)


async def test_quiz_buttons_still_work_after_a_restart(world):
    started = await world.command(world.alice, "quiz", topic="readiness")
    (quiz,) = started.replies
    await world.restart()
    assert len(world.standin.identifies) == 2  # a new process: a fresh gateway session
    press = await world.press(world.alice, quiz, _answer_button(world, quiz))
    assert press.callback_types == [DEFERRED_UPDATE]
    text = embed_text(press.original)
    assert "✅ Right" in text and "2/6" in text  # graded, and the readiness check goes on
    assert len(custom_ids(press.original)) >= 2


async def test_a_button_that_is_not_ours_is_left_alone(world):
    started = await world.command(world.alice, "help")
    (message,) = started.replies
    record = await world.standin.press(world.alice, message, "someone_else:1")
    await world.command(world.bob, "topics")  # handled after the press
    assert record.callbacks == []


async def test_blind_mode_answers_go_through_a_private_form(world):
    standin = world.standin
    await world.command(world.admin, "subscribe", topic="serving", at="09:00", blind=True)
    await world.tick(hours=1)
    (post,) = standin.bot_messages_in(world.channel)
    (button,) = custom_ids(post)
    assert button.startswith("mlsd_answer_privately:")
    assert len(standin.threads()) == 1  # discussion can still happen in the thread

    opened = await world.press(world.alice, post, button)
    assert opened.callback_types == [MODAL]
    form = opened.callbacks[0]["data"]
    assert form["custom_id"] == button
    (row,) = form["components"]
    (text_input,) = row["components"]
    assert text_input["style"] == 2  # paragraph
    assert text_input["custom_id"] == "answer"

    await world.restart()  # a form opened before a restart still counts
    sneaky = "@everyone look! **bold** <@&123> " + GOOD
    submitted = await standin.submit(world.alice, world.channel, button, {"answer": sneaky})
    await standin.wait_for(lambda: submitted.callbacks)
    await world.settle()
    assert submitted.callbacks[0]["type"] == 5
    assert submitted.callbacks[0]["data"]["flags"] & EPHEMERAL
    assert "Your answer is recorded" in submitted.text()

    short = await standin.submit(world.bob, world.channel, button, {"answer": "too short"})
    await standin.wait_for(lambda: short.callbacks)
    await world.settle()
    assert "too short to count" in short.text()

    await world.tick(hours=24)
    thread = standin.threads()[0]["id"]
    reveal = embed_text(standin.bot_messages_in(thread)[0])
    assert "look!" in reveal
    assert "@everyone" not in reveal and "@\u200beveryone" in reveal  # escaped, can never ping
    assert "\\*\\*bold\\*\\*" in reveal  # markdown shown literally
    assert f"<@{world.alice.id}>" in reveal
