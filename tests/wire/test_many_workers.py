"""``scim-server serve --workers 2`` against one wire server: concurrent writes to one user and to one
group's membership lose nothing, a revoked token stops working on both workers within
``token_cache_seconds``, and SIGTERM drains both.

Each request opens its own connection, so the kernel spreads them over both workers (each new
connection goes to either, independently). Each worker counts what it answered in its own /metrics:
a test shows that both answered by finding no /metrics answer that counts every request.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.wire.servers import ScimServer, WireServer, needs_mongoeco, run_cli, scim_server, wire_server

pytestmark = needs_mongoeco

TOKEN = "acme-token-0123456789"
USERS = "/scim/v2/Users"
GROUPS = "/scim/v2/Groups"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CLOSE = {"Connection": "close"}  # a new connection per request: the kernel picks a worker for each


def headers(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json", **CLOSE}


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[WireServer]:
    async with wire_server(tmp_path / "wire") as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def call(
    session: aiohttp.ClientSession,
    server: ScimServer,
    method: str,
    path: str,
    body: Any = None,
    **options: Any,
) -> tuple[int, Any]:
    async with session.request(
        method, server.base + path, json=body, headers=options.get("headers", headers())
    ) as response:
        if response.status == 204:
            return 204, None
        return response.status, await response.json(content_type=None)


async def answered_by_each_worker(
    session: aiohttp.ClientSession, server: ScimServer, sample: str, total: int
) -> list[int]:
    """What each /metrics answer (twelve, each on a new connection) counts of ``sample``; a worker
    that answered every one of the ``total`` requests would show ``total``."""
    counts = []
    for _ in range(12):
        async with session.get(server.base + "/metrics", headers=CLOSE) as response:
            text = await response.text()
        found = re.search(re.escape(sample) + r" (\d+)$", text, re.MULTILINE)
        counts.append(int(found.group(1)) if found else 0)
    assert max(counts) < total, f"one worker answered all {total}: {counts}"
    return counts


async def test_concurrent_patches_of_one_user_over_two_workers_lose_nothing(
    database: WireServer, session: aiohttp.ClientSession
) -> None:
    async with scim_server(2, mongodb_uri=database.uri, bootstrap_tokens=f"acme:{TOKEN}") as server:
        status, user = await call(session, server, "POST", USERS, {"userName": "bjensen@example.com"})
        assert status == 201
        url = f"{USERS}/{user['id']}"
        count = 24

        async def add(i: int) -> int:
            operation = {"op": "add", "path": "emails", "value": [{"value": f"b{i}@example.com"}]}
            status, _ = await call(
                session, server, "PATCH", url, {"schemas": [PATCH_OP], "Operations": [operation]}
            )
            return status

        statuses = await asyncio.gather(*(add(i) for i in range(count)))
        status, final = await call(session, server, "GET", url)
        await answered_by_each_worker(
            session,
            server,
            'scim_requests_total{route="/scim/v2/Users/{id}",method="PATCH",status="200"}',
            count,
        )

    assert statuses == [200] * count
    assert status == 200
    assert sorted(email["value"] for email in final["emails"]) == sorted(
        f"b{i}@example.com" for i in range(count)
    )
    assert final["meta"]["version"] == f'W/"{1 + count}"'


async def test_concurrent_membership_changes_of_one_group_over_two_workers_lose_nothing(
    database: WireServer, session: aiohttp.ClientSession
) -> None:
    async with scim_server(2, mongodb_uri=database.uri, bootstrap_tokens=f"acme:{TOKEN}") as server:
        users = []
        for i in range(30):
            status, user = await call(session, server, "POST", USERS, {"userName": f"u{i}@example.com"})
            assert status == 201
            users.append(user["id"])
        first = [{"value": user_id} for user_id in users[:10]]
        status, group = await call(
            session, server, "POST", GROUPS, {"displayName": "Staff", "members": first}
        )
        assert status == 201
        url = f"{GROUPS}/{group['id']}"

        async def change(op: str, user_id: str) -> int:
            operation = (
                {"op": "add", "path": "members", "value": [{"value": user_id}]}
                if op == "add"
                else {"op": "remove", "path": f'members[value eq "{user_id}"]'}
            )
            status, _ = await call(
                session, server, "PATCH", url, {"schemas": [PATCH_OP], "Operations": [operation]}
            )
            return status

        # Remove the first five and add the next twenty, all at once.
        changes = [("remove", u) for u in users[:5]] + [("add", u) for u in users[10:30]]
        statuses = await asyncio.gather(*(change(op, u) for op, u in changes))
        status, final = await call(session, server, "GET", url)
        await answered_by_each_worker(
            session,
            server,
            'scim_requests_total{route="/scim/v2/Groups/{id}",method="PATCH",status="204"}',
            25,
        )

    assert set(statuses) <= {200, 204} and len(statuses) == 25
    assert status == 200
    assert sorted(member["value"] for member in final["members"]) == sorted(users[5:30])


async def test_a_token_revoked_with_the_token_command_stops_working_on_both_workers_within_the_cache_time(
    database: WireServer, session: aiohttp.ClientSession
) -> None:
    cache_seconds = 2.0
    code, out, err = await run_cli(
        "tokens", "create", "--org", "acme", "--name", "entra", mongodb_uri=database.uri
    )
    assert code == 0, err
    token = re.search(r"^token:\s+(\S+)$", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    token_id = re.search(r"^id:\s+(tok_\w+)$", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    async with scim_server(2, mongodb_uri=database.uri, token_cache_seconds=str(cache_seconds)) as server:

        async def status_with_token() -> int:
            async with session.get(server.base + USERS, headers=headers(token)) as response:
                return response.status

        # Both workers accept it, and cache it.
        before = [await status_with_token() for _ in range(12)]
        await answered_by_each_worker(
            session, server, 'scim_requests_total{route="/scim/v2/Users",method="GET",status="200"}', 12
        )
        loop = asyncio.get_running_loop()
        code, out, err = await run_cli("tokens", "revoke", token_id, mongodb_uri=database.uri)
        revoked_at = loop.time()
        assert code == 0, err
        # Within the cache time plus a margin for a loaded machine, every worker refuses it.
        await asyncio.sleep(cache_seconds + 1.0)
        after = [await status_with_token() for _ in range(16)]
        waited = loop.time() - revoked_at
        await answered_by_each_worker(
            session, server, 'scim_requests_total{route="/scim/v2/Users",method="GET",status="401"}', 16
        )

    assert before == [200] * 12
    assert after == [401] * 16, f"after {waited:.1f} s: {after}"


async def test_sigterm_drains_the_requests_in_flight_on_both_workers(
    database: WireServer, session: aiohttp.ClientSession
) -> None:
    async with scim_server(2, mongodb_uri=database.uri, bootstrap_tokens=f"acme:{TOKEN}") as server:
        for i in range(60):
            status, _ = await call(session, server, "POST", USERS, {"userName": f"d{i}@example.com"})
            assert status == 201
        await server.wait_for_line("2 workers serving")
        pids = [
            int(p)
            for p in re.findall(
                r"\d+", next(x for x in server.lines if "workers serving" in x).split("pids")[1]
            )
        ]

        loop = asyncio.get_running_loop()

        async def slow_listing() -> tuple[int, int, float]:
            # A page of 60 users from the wire server takes long enough to be in flight at the signal.
            status, body = await call(session, server, "GET", f"{USERS}?count=60")
            return status, body.get("totalResults", -1), loop.time()

        in_flight = [asyncio.create_task(slow_listing()) for _ in range(10)]
        # Once one is answered, the others have long been accepted, and are waiting for the database.
        await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        signalled = loop.time()
        code = await server.terminate()
        exited_after = loop.time() - signalled
        answers = await asyncio.gather(*in_flight)

    assert [(status, total) for status, total, _ in answers] == [(200, 60)] * 10
    assert any(done > signalled for _, _, done in answers), "no request was in flight at the signal"
    assert code == 0
    assert exited_after < 30
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
