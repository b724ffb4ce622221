"""Per-request storage timing: every driver call is timed into the request's own record."""

from __future__ import annotations

import asyncio
from typing import Any

from scim_server.storage.repository import Store
from scim_server.timing import measure, record


async def test_driver_calls_are_timed_inside_measure(db: Any) -> None:
    users = await Store(db).users("acme")  # index creation happens outside the measured block

    with measure() as timing:
        await users.get("u-1")
        await users.count({})

    assert timing.seconds > 0


def test_nothing_is_recorded_outside_measure() -> None:
    record(1.0)  # no open record: ignored

    with measure() as timing:
        pass
    assert timing.seconds == 0.0


async def test_concurrent_requests_keep_separate_records() -> None:
    async def request(calls: int) -> float:
        with measure() as timing:
            for _ in range(calls):
                record(0.25)
                await asyncio.sleep(0)  # interleave with the other requests
        return timing.seconds

    assert await asyncio.gather(request(1), request(3), request(5)) == [0.25, 0.75, 1.25]


async def test_tasks_started_by_a_request_add_to_its_record() -> None:
    async def driver_call() -> None:
        await asyncio.sleep(0)
        record(0.5)

    with measure() as timing:
        await asyncio.gather(driver_call(), driver_call())

    assert timing.seconds == 1.0
