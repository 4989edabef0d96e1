"""`/mlsd quiz`: private items, graded at once, scored once, reviewed when missed."""

from __future__ import annotations

from sqlmodel import select

from bot.domain import MessageKind
from bot.quiz import QUIZ_ACTION, display_order
from bot.store.models import LedgerRow


def _button(reply, choice: int):
    """The button for the bank's choice `choice`, wherever the shuffle showed it."""
    [button] = [b for b in reply.message.buttons if b.value.endswith(f":{choice}")]
    return button


def _letter(reply, choice: int) -> str:
    return _button(reply, choice).label


def _item(world, reply):
    item_id = reply.message.buttons[0].value.split(":")[1]
    return world.core.rt.bank.quiz[item_id]


async def test_a_quiz_is_private_with_one_button_per_choice(world):
    reply = await world.command("UA", "quiz serving")
    assert reply.private and reply.message.kind == MessageKind.QUIZ
    assert [b.label for b in reply.message.buttons] == ["A", "B", "C", "D"]
    assert _item(world, reply).topic.value == "serving"


async def test_right_answer_scores_two_points_once_and_explains(world, store):
    reply = await world.command("UA", "quiz serving")
    item = _item(world, reply)
    graded = await world.press("UA", QUIZ_ACTION, _button(reply, item.answer).value)
    text = graded.message.plain()
    assert graded.replace_original and "✅ Right" in text and item.explanation in text
    assert "(+2 pts)" in text
    # Double click: already graded, nothing more.
    again = await world.press("UA", QUIZ_ACTION, _button(reply, item.answer).value)
    assert "You already answered this one" in again.message.plain()
    # The same item in a later quiz: practice only.
    later = await world.command("UA", "quiz serving")
    while _item(world, later).id != item.id:
        await world.press("UA", QUIZ_ACTION, _button(later, 0).value)
        later = await world.command("UA", "quiz serving")
    repeat = await world.press("UA", QUIZ_ACTION, _button(later, item.answer).value)
    assert "a repeat: practice only, no points" in repeat.message.plain()
    with store.session() as s:
        quiz_points = [r.points for r in s.exec(select(LedgerRow).where(LedgerRow.reason == "quiz"))]
    assert sum(quiz_points) in (2, 4)  # this item once, plus maybe the other serving item
    assert quiz_points.count(2) == len(quiz_points)


async def test_wrong_answer_says_so_and_comes_back_for_review(world):
    reply = await world.command("UA", "quiz data")
    item = _item(world, reply)
    wrong = (item.answer + 1) % 4
    graded = await world.press("UA", QUIZ_ACTION, _button(reply, wrong).value)
    text = graded.message.plain()
    assert "❌ Not quite" in text
    assert f"The answer is {_letter(reply, item.answer)}. {item.choices[item.answer]}" in text
    assert "comes back for review tomorrow" in text
    world.clock.advance(hours=12)
    not_yet = await world.command("UA", "quiz")
    assert "Due for review" not in not_yet.message.footer.plain()
    world.clock.advance(hours=13)
    due = await world.command("UA", "quiz")
    assert _item(world, due).id == item.id
    assert "Due for review" in due.message.footer.plain()
    # Wrong again: next review after 3 days, not 1.
    await world.press("UA", QUIZ_ACTION, _button(due, wrong).value)
    world.clock.advance(days=2)
    early = await world.command("UA", "quiz")
    assert "Due for review" not in early.message.footer.plain()
    assert _item(world, early).id != item.id
    world.clock.advance(days=1, hours=1)
    assert _item(world, await world.command("UA", "quiz")).id == item.id


async def test_someone_elses_buttons_do_not_grade(world):
    reply = await world.command("UA", "quiz serving")
    stolen = await world.press("UB", QUIZ_ACTION, _button(reply, 0).value)
    assert "belongs to someone else" in stolen.message.plain()


async def test_a_forged_button_value_gets_a_clear_message(world):
    reply = await world.press("UA", QUIZ_ACTION, "not-a-value")
    assert "not one of ours" in reply.message.plain()


async def test_readiness_runs_six_topics_and_names_strongest_and_weakest(world):
    reply = await world.command("UA", "quiz readiness")
    assert "1/6" in reply.message.title
    seen = []
    for step in range(6):
        item = _item(world, reply)
        seen.append(item.topic.value)
        choice = item.answer if step % 2 == 0 else (item.answer + 1) % 4
        reply = await world.press("UA", QUIZ_ACTION, _button(reply, choice).value)
    assert len(set(seen)) == 6
    text = reply.message.plain()
    assert "Readiness summary" in text and "You got 3/6 right." in text
    assert "Strongest: Problem formulation" in text
    assert "Weakest: Data pipelines & feature engineering" in text
    assert reply.message.buttons == ()


async def test_without_a_topic_the_weakest_quiz_topic_comes_first(world):
    for topic in ("formulation", "data", "modeling", "serving", "experimentation"):
        reply = await world.command("UA", f"quiz {topic}")
        await world.press("UA", QUIZ_ACTION, _button(reply, _item(world, reply).answer).value)
    nxt = await world.command("UA", "quiz")
    assert _item(world, nxt).topic.value == "monitoring"  # never tried: weakest


async def test_choices_are_shuffled_per_member_stably_and_graded_by_choice(world):
    first = await world.command("UA", "quiz serving")
    item = _item(world, first)
    orders = {}
    for user in ("UA", "UB", "UC", "UD", "UE", "UF"):
        orders[user] = display_order(item.id, len(item.choices), user)
        assert display_order(item.id, len(item.choices), user) == orders[user]  # stable for a member
        assert sorted(orders[user]) == list(range(len(item.choices)))
    assert len(set(orders.values())) > 1  # members see different orders
    # What UA was shown follows UA's order, and the right answer is graded right wherever it sits.
    shown = [int(b.value.rsplit(":", 1)[1]) for b in first.message.buttons]
    assert tuple(shown) == orders["UA"]
    graded = await world.press("UA", QUIZ_ACTION, _button(first, item.answer).value)
    assert "✅ Right" in graded.message.plain()
    assert f"✅ Right: {_letter(first, item.answer)}. {item.choices[item.answer]}" in graded.message.plain()
