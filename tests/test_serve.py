"""``scim-server serve`` as a real process: the port check, the embedded store's warning, the demo
token (printed, or kept in a file across restarts), the address it listens on, SIGTERM.

Each test starts ``python -m scim_server serve`` with no ``SCIM_*`` variable of the developer's shell,
talks to it over HTTP, and always kills it at the end. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import stat
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import EXIT_SECONDS, STARTUP_SECONDS, Server, clean_environment, running_server

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
DEMO_TOKEN = re.compile(r"demo organization 'demo', bearer token \(shown once\): (\S+)")
LISTENING = re.compile(r"^scim-server: listening on (http://127\.0\.0\.1:\d+)$")


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


async def test_the_server_says_where_it_listens_once_it_accepts_connections() -> None:
    async with running_server(clean_environment()) as server:
        address = (await server.read_until(LISTENING)).group(1)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            health = await get_json(session, f"{address}/healthz")  # no retry: it listens already

        assert address == server.base
        assert health == (200, {"status": "ok"})
        # The order an operator reads: the store, the token, then the address.
        assert [line.split(" ", 2)[1] for line in server.stderr] == ["using", "demo", "listening"]
        code, _ = await stop(server)
        assert code == 0


async def test_port_0_listens_on_a_free_port_and_says_which() -> None:
    async with running_server(clean_environment(), port=0) as server:
        address = await server.read_until(re.compile(r"listening on (http://127\.0\.0\.1:(\d+))$"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            health = await get_json(session, f"{address.group(1)}/healthz")

        assert int(address.group(2)) > 0
        assert health == (200, {"status": "ok"})


async def test_a_port_in_use_is_one_line_and_a_failure_before_any_token() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with running_server(clean_environment(), port=port) as server:
            assert server.process.stderr is not None
            err = await asyncio.wait_for(server.process.stderr.read(), STARTUP_SECONDS)
            code = await asyncio.wait_for(server.process.wait(), EXIT_SECONDS)

    assert code == 2
    assert err.decode() == f"scim-server: cannot listen on 127.0.0.1:{port}: Address already in use\n"


async def test_a_demo_token_file_keeps_the_token_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "demo-token"
    env = clean_environment(SCIM_DEMO_TOKEN_FILE=str(path))
    statuses = []
    for how in ("written there now", "kept from an earlier start"):
        async with running_server(env) as server:
            await server.read_until(re.compile(re.escape(f"bearer token in {path} ({how})")))
            await server.read_until(LISTENING)
            token = path.read_text(encoding="utf-8").strip()
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                statuses.append((await get_json(session, f"{server.base}/scim/v2/Users", token))[0])
            code, rest = await stop(server)
            assert code == 0
            assert token not in "\n".join(server.stderr) + rest

    assert statuses == [200, 200]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_an_unusable_demo_token_file_stops_the_start_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "demo-token"
    path.write_text("short\n", encoding="utf-8")
    async with running_server(clean_environment(SCIM_DEMO_TOKEN_FILE=str(path))) as server:
        assert server.process.stderr is not None
        err = await asyncio.wait_for(server.process.stderr.read(), STARTUP_SECONDS)
        code = await asyncio.wait_for(server.process.wait(), EXIT_SECONDS)

    assert code == 2
    assert err.decode().splitlines()[1:] == [
        f"scim-server: cannot start: the demo token file {path} must hold one token of at least 8 "
        "visible ASCII characters"
    ]


async def test_even_a_request_too_malformed_for_the_application_gets_no_version_in_server() -> None:
    async with running_server(clean_environment()) as server:
        await server.read_until(LISTENING)
        host, port = server.base.removeprefix("http://").split(":")
        answers = []
        for request in (b"GARBAGE\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            answers.append(await asyncio.wait_for(reader.read(), 10))
            writer.close()
        await stop(server)

    heads = [answer.split(b"\r\n\r\n", 1)[0].decode().split("\r\n") for answer in answers]
    assert [head[0] for head in heads] == ["HTTP/1.0 400 Bad Request", "HTTP/1.1 200 OK"]
    for head in heads:
        assert [line for line in head if line.lower().startswith("server:")] == ["Server: scim-server"]
