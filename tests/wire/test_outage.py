"""A database outage in the middle of a run: the wire server is stopped while an IdP keeps creating
users, then started again on the same data.

During the outage every request is answered 503 with ``Retry-After`` within the server selection
timeout (plus a margin), ``/readyz`` answers 503, and the server logs one WARNING; once the database
is back, the server answers again without a restart of its own, logs one INFO, and every user it
acknowledged (201) is there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.wire.servers import needs_mongoeco, scim_server, wire_server

pytestmark = needs_mongoeco

TOKEN = "acme-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
USERS = "/scim/v2/Users"
SELECTION_SECONDS = 2.0
# A loaded machine's margin over the server selection timeout, for an answer during the outage.
MARGIN_SECONDS = 4.0


async def test_an_outage_answers_503_with_retry_after_and_the_server_recovers_without_losing_writes(
    tmp_path: Path,
) -> None:
    async with (
        wire_server(tmp_path / "wire") as database,
        scim_server(
            1,
            mongodb_uri=database.uri,
            bootstrap_tokens=f"acme:{TOKEN}",
            server_selection_timeout_seconds=str(SELECTION_SECONDS),
            token_cache_seconds="60",  # the token is checked once, before the outage
        ) as server,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
    ):
        loop = asyncio.get_running_loop()
        acknowledged: list[str] = []
        refused: list[tuple[int, str | None, Any]] = []
        writing = True

        async def idp() -> None:
            # An IdP creating users one after another, through the outage.
            i = 0
            while writing:
                i += 1
                async with session.post(
                    server.base + USERS, json={"userName": f"u{i}@example.com"}, headers=HEADERS
                ) as response:
                    body = await response.json(content_type=None)
                    if response.status == 201:
                        acknowledged.append(body["id"])
                    else:
                        refused.append((response.status, response.headers.get("Retry-After"), body))
                        await asyncio.sleep(0.2)

        writer = asyncio.create_task(idp())
        while len(acknowledged) < 10:
            assert not writer.done(), writer
            await asyncio.sleep(0.05)

        await database.stop()  # mid-run: the writer keeps sending
        stopped = loop.time()
        async with session.get(server.base + USERS + "?count=1", headers=HEADERS) as response:
            during = (response.status, response.headers.get("Retry-After"), await response.json())
        answered_after = loop.time() - stopped
        async with session.get(server.base + "/readyz") as response:
            ready_during = response.status
        await asyncio.sleep(1.0)
        during_outage = len(acknowledged)

        await database.start()  # the same port and data
        restarted = loop.time()
        ready_after = None
        while ready_after != 200:
            assert loop.time() - restarted < 30, "the server did not answer again within 30 s"
            await asyncio.sleep(0.2)
            async with session.get(server.base + "/readyz") as response:
                ready_after = response.status
        recovered_after = loop.time() - restarted
        while len(acknowledged) < during_outage + 5:  # writes succeed again
            assert loop.time() - restarted < 60
            await asyncio.sleep(0.05)
        writing = False
        await writer

        async with session.get(server.base + USERS + "?count=1000", headers=HEADERS) as response:
            listed = await response.json()
        stored = {user["id"] for user in listed["Resources"]}
        storage_log = [(r["level"], r["message"]) for r in server.records("scim_server.storage")]
        # No 500s: neither a driver error taken for a bug nor an unhandled one. (The audit trail may
        # log an event it could not record, for a write that went through as the database stopped.)
        errors = [
            r
            for r in server.records()
            if r["level"] in ("ERROR", "CRITICAL") and r["logger"] in ("scim_server", "scim_server.storage")
        ]

    assert during == (
        503,
        "5",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "503",
            "detail": "the database is unavailable; retry later",
        },
    )
    assert answered_after < SELECTION_SECONDS + MARGIN_SECONDS
    assert ready_during == 503
    assert refused, "no write was refused during the outage"
    assert {(status, retry_after) for status, retry_after, _ in refused} == {(503, "5")}
    assert recovered_after < 30
    # Nothing acknowledged is lost. A write the database committed as it stopped, before it could
    # say so, is stored without an acknowledgement (as on MongoDB): at most the one in flight.
    assert set(acknowledged) <= stored
    assert len(stored) == listed["totalResults"]
    assert len(stored - set(acknowledged)) <= 1
    assert [level for level, _ in storage_log] == ["WARNING", "INFO"], storage_log
    assert storage_log[0][1].startswith("the database cannot be reached (")
    assert storage_log[1][1].startswith("the database answers again, after ")
    assert errors == []
