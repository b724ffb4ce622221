"""Graceful shutdown: on SIGTERM ``scim-server serve`` finishes the request in flight, then exits 0.

The in-flight request is slow but legal, so the server needs no test-only hook: one PATCH of 1,000
``add`` operations on a user holding 20,000 e-mail addresses, which takes about 2 s on the embedded
store. SIGTERM is sent while it runs; the response must still arrive, complete, after the signal.
(The request's body must have arrived: aiohttp stops reading from connections once shutdown begins, so
a body still being uploaded at SIGTERM is not completed.) Every wait is bounded and the child is
killed in the end whatever happens (``running_server``).
"""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Any

import aiohttp

from tests.helpers import EXIT_SECONDS, clean_environment, running_server

TOKEN = "acme-token-123"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SLOW_SECONDS = 120.0  # bound on the slow PATCH; about 2 s on a 2-core machine
SIGNAL_AFTER_SECONDS = 0.3


async def test_sigterm_lets_the_request_in_flight_complete_then_exits_cleanly() -> None:
    env = clean_environment(SCIM_BOOTSTRAP_TOKENS=f"acme:{TOKEN}", SCIM_SHUTDOWN_TIMEOUT_SECONDS="120")
    many: dict[str, Any] = {
        "schemas": [USER],
        "userName": "many@example.com",
        "emails": [{"value": f"m{i}@example.com"} for i in range(20_000)],
    }
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "add", "path": "emails", "value": [{"value": f"n{i}@example.com"}]} for i in range(1000)
        ],
    }

    async with running_server(env) as server:
        await server.read_until(re.compile("EMBEDDED"))
        timeout = aiohttp.ClientTimeout(total=SLOW_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await server.wait_listening(session)
            async with session.post(f"{server.base}/scim/v2/Users", json=many, headers=HEADERS) as created:
                assert created.status == 201
                user_id = (await created.json(content_type=None))["id"]
            loop = asyncio.get_running_loop()

            async def slow_patch() -> tuple[int, Any, float]:
                url = f"{server.base}/scim/v2/Users/{user_id}?attributes=userName"
                async with session.patch(url, json=patch, headers=HEADERS) as response:
                    return response.status, await response.json(content_type=None), loop.time()

            request = asyncio.create_task(slow_patch())
            await asyncio.sleep(SIGNAL_AFTER_SECONDS)
            server.process.send_signal(signal.SIGTERM)
            signalled = loop.time()
            status, body, answered = await asyncio.wait_for(request, SLOW_SECONDS)

        assert status == 200, body
        assert body["userName"] == "many@example.com"
        assert answered > signalled, "the PATCH finished before SIGTERM: it no longer tests shutdown"
        assert server.process.stderr is not None
        rest = (await asyncio.wait_for(server.process.stderr.read(), EXIT_SECONDS)).decode("utf-8", "replace")
        code = await asyncio.wait_for(server.process.wait(), EXIT_SECONDS)
        assert code == 0
        assert "Traceback" not in rest


async def test_after_sigterm_new_connections_are_refused_and_the_process_exits() -> None:
    env = clean_environment(SCIM_BOOTSTRAP_TOKENS=f"acme:{TOKEN}")
    async with running_server(env) as server:
        await server.read_until(re.compile("EMBEDDED"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await server.wait_listening(session)
            loop = asyncio.get_running_loop()
            started = loop.time()

            server.process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(server.process.wait(), EXIT_SECONDS)
            elapsed = loop.time() - started

            refused = False
            try:
                async with session.get(f"{server.base}/healthz"):
                    pass
            except aiohttp.ClientConnectionError:
                refused = True

        assert code == 0
        assert elapsed < EXIT_SECONDS
        assert refused
