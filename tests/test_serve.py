"""``scim-server serve`` as a real process: the embedded store's warning, the demo token, SIGTERM.

Each test starts ``python -m scim_server serve`` with no ``SCIM_*`` variable of the developer's shell,
talks to it over HTTP, and always kills it at the end. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Any

import aiohttp

from tests.helpers import EXIT_SECONDS, Server, clean_environment, running_server

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
DEMO_TOKEN = re.compile(r"demo organization 'demo', bearer token \(shown once\): (\S+)")


async def stop(server: Server) -> tuple[int, str]:
    """SIGTERM; the exit code and the rest of stderr, within EXIT_SECONDS."""
    assert server.process.stderr is not None
    server.process.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(server.process.stderr.read(), EXIT_SECONDS)
    code = await asyncio.wait_for(server.process.wait(), EXIT_SECONDS)
    return code, rest.decode("utf-8", "replace")


async def get_json(session: aiohttp.ClientSession, url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(url, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_serve_without_configuration_runs_the_embedded_store_with_a_demo_token() -> None:
    async with running_server(clean_environment()) as server:
        token = (await server.read_until(DEMO_TOKEN)).group(1)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await server.wait_listening(session)

            health = await get_json(session, f"{server.base}/healthz")
            users = await get_json(session, f"{server.base}/scim/v2/Users", token)
            anonymous = await get_json(session, f"{server.base}/scim/v2/Users")

        assert health == (200, {"status": "ok"})
        assert users == (
            200,
            {"schemas": [LIST], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []},
        )
        assert anonymous[0] == 401
        warning = next(line for line in server.stderr if "EMBEDDED" in line)
        assert "in-memory" in warning and "lost" in warning
        assert token.startswith("scim_")

        code, rest = await stop(server)
        assert code == 0
        assert "Traceback" not in rest


async def test_serve_with_bootstrap_tokens_prints_no_demo_token() -> None:
    env = clean_environment(SCIM_BOOTSTRAP_TOKENS="acme:acme-token-123")
    async with running_server(env) as server:
        await server.read_until(re.compile("EMBEDDED"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await server.wait_listening(session)

            users = await get_json(session, f"{server.base}/scim/v2/Users", "acme-token-123")
            wrong = await get_json(session, f"{server.base}/scim/v2/Users", "acme-token-124")

        assert users[0] == 200 and users[1]["totalResults"] == 0
        assert wrong[0] == 401

        code, rest = await stop(server)
        assert code == 0
        assert "Traceback" not in rest
        assert "bearer token" not in "\n".join(server.stderr) + rest
