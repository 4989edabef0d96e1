"""Under a burst, Slack's acks go out before the replies they promise."""

from __future__ import annotations

import asyncio

from adapters.slack.ack_first import AckFirst


async def _spin(times: int = 20) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def test_a_reply_waits_while_a_request_is_being_acknowledged_then_runs():
    lanes = AckFirst(max_wait=60)
    done: list[str] = []

    async def reply() -> None:
        async with lanes.turn():
            done.append("reply")

    with lanes.request():
        task = asyncio.create_task(reply())
        await _spin()
        assert done == []  # the ack in flight goes first
        done.append("ack")
    await asyncio.wait_for(task, 5)
    assert done == ["ack", "reply"]


async def test_a_reply_with_no_request_in_flight_runs_at_once():
    lanes = AckFirst(max_wait=60)
    ran = asyncio.Event()

    async def reply() -> None:
        async with lanes.turn():
            ran.set()

    task = asyncio.create_task(reply())
    await _spin()
    assert ran.is_set()
    await task


async def test_a_reply_is_never_held_back_forever_by_a_stream_of_requests():
    lanes = AckFirst(max_wait=0)  # the bound: a reply waits at most max_wait
    ran = asyncio.Event()

    async def reply() -> None:
        async with lanes.turn():
            ran.set()

    with lanes.request():
        task = asyncio.create_task(reply())
        await asyncio.wait_for(ran.wait(), 5)
    await task


async def test_a_reply_waits_for_the_burst_to_end_not_for_a_gap_between_two_requests():
    lanes = AckFirst(max_wait=60, quiet=60)
    ran = asyncio.Event()

    async def reply() -> None:
        async with lanes.turn():
            ran.set()

    with lanes.request():
        pass  # one request of a burst acknowledged; nothing is in flight for a moment
    task = asyncio.create_task(reply())
    await _spin()
    assert not ran.is_set()  # a request arrived within the last `quiet` seconds: the burst may go on
    task.cancel()

    lanes = AckFirst(max_wait=60, quiet=0.01)
    with lanes.request():
        pass
    task = asyncio.create_task(reply())
    await asyncio.wait_for(ran.wait(), 5)  # once the requests have stopped, it runs
    await task
