"""One writer at a time per key: arrival order, no await when free, cancellation never leaves a key held."""

from __future__ import annotations

import asyncio

import pytest

from scim_server.services.writers import Writers


async def hold(writers: Writers, key: str, log: list[str], name: str, pause: int = 3) -> None:
    turn = writers.enter(key)
    if turn is not None:
        await writers.wait(key, turn)
    try:
        log.append(f"{name} in")
        for _ in range(pause):  # give every other task the chance to run meanwhile
            await asyncio.sleep(0)
        log.append(f"{name} out")
    finally:
        writers.leave(key)


async def test_a_free_key_is_taken_without_waiting_and_forgotten_on_leave() -> None:
    writers = Writers()
    assert writers.enter("a") is None
    assert writers.enter("b") is None  # other keys are independent
    assert len(writers) == 2
    writers.leave("a")
    writers.leave("b")
    assert len(writers) == 0


async def test_writers_to_one_key_go_one_at_a_time_in_arrival_order() -> None:
    writers, log = Writers(), []
    await asyncio.gather(*(hold(writers, "k", log, name) for name in "abcde"))

    assert log == [f"{name} {edge}" for name in "abcde" for edge in ("in", "out")]
    assert len(writers) == 0


async def test_writers_to_other_keys_overlap() -> None:
    writers, log = Writers(), []
    await asyncio.gather(hold(writers, "k1", log, "a"), hold(writers, "k2", log, "b"))

    assert log.index("b in") < log.index("a out")


async def test_a_writer_cancelled_while_waiting_leaves_the_queue() -> None:
    writers, log = Writers(), []
    first = asyncio.create_task(hold(writers, "k", log, "a", pause=5))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(hold(writers, "k", log, "b"))
    last = asyncio.create_task(hold(writers, "k", log, "c"))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(first, last)

    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert log == ["a in", "a out", "c in", "c out"]
    assert len(writers) == 0


async def test_a_writer_cancelled_just_after_its_turn_came_hands_the_key_on() -> None:
    writers, log = Writers(), []
    assert writers.enter("k") is None  # held by this test
    second = asyncio.create_task(hold(writers, "k", log, "b"))
    third = asyncio.create_task(hold(writers, "k", log, "c"))
    await asyncio.sleep(0)  # both wait now
    writers.leave("k")  # the turn goes to b...
    second.cancel()  # ...which is cancelled before it runs again
    await asyncio.wait_for(third, 5)  # a key left held would make c wait forever

    with pytest.raises(asyncio.CancelledError):
        await second
    assert log == ["c in", "c out"]
    assert len(writers) == 0
