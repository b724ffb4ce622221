"""Per-request storage timing: every driver call is counted and timed in the request's own record."""

from __future__ import annotations

import asyncio
from typing import Any

from scim_server.storage.repository import Store
from scim_server.timing import measure, record


async def test_driver_calls_are_counted_and_timed_inside_measure(db: Any) -> None:
    users = await Store(db).users("acme")  # index creation happens outside the measured block

    with measure() as timing:
        await users.get("u-1")
        await users.count({})

    assert timing.calls == 2
    assert timing.seconds > 0


def test_nothing_is_recorded_outside_measure() -> None:
    record(1.0)  # no open record: ignored

    with measure() as timing:
        pass
    assert (timing.calls, timing.seconds) == (0, 0.0)


async def test_concurrent_requests_keep_separate_records(db: Any) -> None:
    users = await Store(db).users("acme")

    async def request(calls: int) -> int:
        with measure() as timing:
            for _ in range(calls):
                await users.get("u-1")
                await asyncio.sleep(0)  # interleave with the other request
        return timing.calls

    assert await asyncio.gather(request(1), request(3), request(5)) == [1, 3, 5]


async def test_tasks_started_by_a_request_add_to_its_record(db: Any) -> None:
    users = await Store(db).users("acme")

    with measure() as timing:
        await asyncio.gather(users.get("a"), users.get("b"))

    assert timing.calls == 2
