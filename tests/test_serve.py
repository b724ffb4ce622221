"""``scim-server serve`` as a real process: the embedded store's warning, the demo token, SIGTERM.

Each test starts ``python -m scim_server serve`` with no ``SCIM_*`` variable of the developer's shell,
talks to it over HTTP, and always kills it at the end. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
STARTUP_SECONDS = 20.0
EXIT_SECONDS = 10.0
DEMO_TOKEN = re.compile(r"demo organization 'demo', bearer token \(shown once\): (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(**scim: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    env.update(scim)
    return env


@dataclass
class Server:
    process: asyncio.subprocess.Process
    base: str
    stderr: list[str] = field(default_factory=list)

    async def read_until(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """Read stderr lines until one matches; fail on timeout or when the process ends first."""
        assert self.process.stderr is not None

        async def scan() -> re.Match[str]:
            while True:
                raw = await self.process.stderr.readline()  # type: ignore[union-attr]
                if not raw:
                    raise AssertionError(f"the server exited before {pattern.pattern!r}: {self.stderr}")
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stderr.append(line)
                match = pattern.search(line)
                if match is not None:
                    return match

        return await asyncio.wait_for(scan(), STARTUP_SECONDS)

    async def wait_listening(self, session: aiohttp.ClientSession) -> None:
        """Startup messages come before the socket is bound: retry /healthz briefly."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_SECONDS
        while True:
            try:
                async with session.get(f"{self.base}/healthz") as response:
                    assert response.status == 200
                    return
            except aiohttp.ClientConnectionError:
                if loop.time() > deadline or self.process.returncode is not None:
                    raise
                await asyncio.sleep(0.1)


@asynccontextmanager
async def running_server(env: Mapping[str, str]) -> AsyncIterator[Server]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scim_server",
        "serve",
        "--port",
        str(port),
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Server(process, f"http://127.0.0.1:{port}")
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), EXIT_SECONDS)


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
