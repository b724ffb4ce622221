"""``Server-Timing: db;dur=…, app;dur=…`` on every response, successes and SCIM errors alike."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scim_server.api.timing import server_timing
from tests.helpers import auth

TIMING = re.compile(r"^db;dur=(\d+\.\d{3}), app;dur=(\d+\.\d{3})$")
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def durations(headers: Any) -> tuple[float, float]:
    match = TIMING.match(headers["Server-Timing"])
    assert match is not None, headers["Server-Timing"]
    return float(match.group(1)), float(match.group(2))


def test_app_time_is_total_minus_storage_in_milliseconds() -> None:
    assert server_timing(0.0125, 0.0025) == "db;dur=2.500, app;dur=10.000"
    assert server_timing(0.001, 0.002) == "db;dur=2.000, app;dur=0.000"


async def test_every_handler_response_carries_server_timing(client: TestClient[Any, Any]) -> None:
    body = {"schemas": [USER], "userName": "timed@example.com"}
    created = await client.post("/scim/v2/Users", json=body, headers=auth())
    user_id = (await created.json())["id"]
    read = await client.get(f"/scim/v2/Users/{user_id}", headers=auth())
    listed = await client.get("/scim/v2/Users", headers=auth())
    missing = await client.get("/scim/v2/Users/nobody", headers=auth())
    clash = await client.post("/scim/v2/Users", json=body, headers=auth())

    for response in (created, read, listed, missing, clash):
        db, app = durations(response.headers)
        assert db > 0 and app > 0
    assert (read.status, missing.status, clash.status) == (200, 404, 409)
    assert (await missing.json())["status"] == "404"


async def test_discovery_answers_with_no_storage_time(client: TestClient[Any, Any]) -> None:
    first = await client.get("/scim/v2/ServiceProviderConfig", headers=auth())
    again = await client.get("/scim/v2/ServiceProviderConfig", headers=auth())

    assert durations(first.headers)[0] > 0.0  # the token's lookup: storage, counted as such
    assert durations(again.headers)[0] == 0.0  # the token is cached now


async def test_requests_refused_before_the_handler_are_timed_too(client: TestClient[Any, Any]) -> None:
    unauthenticated = await client.get("/scim/v2/Users")
    unrouted = await client.get("/scim/v2/Nothing", headers=auth())

    assert (unauthenticated.status, unrouted.status) == (401, 404)
    assert durations(unauthenticated.headers)[0] > 0.0  # a missing token still looks up a dummy
    for response in (unauthenticated, unrouted):
        assert durations(response.headers)[1] > 0


async def test_own_time_covers_authentication_and_the_access_log(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middlewares around the handler are the server's own time: slow them, and ``app`` grows."""
    from scim_server.api import middleware

    real_log = middleware.log_request

    def slow_log(*args: Any) -> None:
        time.sleep(0.05)
        real_log(*args)

    monkeypatch.setattr(middleware, "log_request", slow_log)
    response = await client.get("/scim/v2/ServiceProviderConfig", headers=auth())

    assert durations(response.headers)[1] >= 50.0
