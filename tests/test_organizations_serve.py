"""The organizations file in real processes: startup refuses an invalid file, SIGHUP reloads it in
every worker, and a reload that fails keeps the configuration in force. Every wait is bounded."""

from __future__ import annotations

import asyncio
import base64
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.helpers import (
    EXIT_SECONDS,
    STARTUP_SECONDS,
    clean_environment,
    free_port,
    read_line,
    run,
    running_server,
)

TOKEN = "acme-token-0123456789"
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


async def test_an_invalid_organizations_file_stops_startup_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "organizations.toml"
    path.write_text('[organizations.acme]\ndelete = "soft"\nadopt_existing = "yes"\n', encoding="utf-8")
    env = clean_environment(SCIM_ORGANIZATIONS_FILE=str(path), SCIM_BOOTSTRAP_TOKENS=f"acme:{TOKEN}")

    code, err = await run(sys.executable, "-m", "scim_server", "serve", "--port", str(free_port()), env=env)

    assert (code, err) == (
        2,
        f"scim-server: invalid configuration: organizations file {path}: organizations.acme.adopt_existing: "
        "must be true or false\n",
    )


async def test_sighup_reloads_the_file_and_a_bad_reload_keeps_the_previous_one(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json())["resource"]["id"])
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server: TestServer = await aiohttp_server(receiver, host="127.0.0.1")
    path = tmp_path / "organizations.toml"
    path.write_text("[organizations.acme]\n", encoding="utf-8")
    env = clean_environment(
        SCIM_ORGANIZATIONS_FILE=str(path),
        SCIM_BOOTSTRAP_TOKENS=f"acme:{TOKEN}",
        SCIM_WEBHOOK_POLL_SECONDS="0.05",
        SCIM_LOG_FORMAT="text",
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async with running_server(env) as scim, aiohttp.ClientSession() as session:
        await scim.wait_listening(session)

        async def create(name: str) -> str:
            async with session.post(
                f"{scim.base}/scim/v2/Users", json={"userName": name}, headers=headers
            ) as r:
                assert r.status == 201
                return str((await r.json())["id"])

        async def until_received(prefix: str) -> str:
            # A webhook starts with the events written after the server first sees it: write until
            # one arrives (each write is a new user).
            for n in range(100):
                rid = await create(f"{prefix}{n}")
                await asyncio.sleep(0.1)
                if rid in received:
                    return rid
            raise AssertionError(f"no event reached the webhook: {scim.stderr}")

        before = await create("before")
        path.write_text(
            f'[[organizations.acme.webhooks]]\nurl = "{server.make_url("/hook")}"\nsecret = "{SECRET}"\n',
            encoding="utf-8",
        )
        scim.process.send_signal(signal.SIGHUP)
        await scim.read_until(re.compile(r"organizations file .* reloaded: 1 organization"))
        await until_received("after-reload-")
        assert before not in received

        path.write_text('[organizations.acme]\ndelete = "sotf"\n', encoding="utf-8")
        scim.process.send_signal(signal.SIGHUP)
        match = await scim.read_until(re.compile(r"organizations file not reloaded"))
        assert 'organizations.acme.delete: must be "hard" or "soft"' in match.string
        # The previous configuration, with its webhook, is still in force.
        await until_received("after-bad-reload-")
        assert scim.process.returncode is None


# Two workers under the supervisor, each printing "hangup <pid>" on SIGHUP as the server reloads.
HANGING_UP = """
import asyncio, os, signal, sys
from aiohttp import web
from scim_server.workers import bind, supervise

def worker(sock, ready):
    async def started(app):
        say = lambda: os.write(2, f"hangup {os.getpid()}\\n".encode())  # one write: lines stay whole
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, say)
        ready()
    app = web.Application()
    app.on_startup.append(started)
    web.run_app(app, sock=sock, print=None, shutdown_timeout=5)
    return 0

sock = bind("127.0.0.1", 0)
sys.exit(supervise(worker, sock, 2, startup_seconds=20, stop_seconds=10))
"""


async def test_the_supervisor_forwards_sighup_to_every_worker_which_keeps_serving() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HANGING_UP,
        env=clean_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await read_line(process, r"2 workers serving")
        workers = {int(pid) for pid in re.findall(r"\d+", line.split("pids", 1)[1])}

        process.send_signal(signal.SIGHUP)
        hung_up = {int((await read_line(process, r"^hangup \d+")).split()[1]) for _ in range(2)}
        process.send_signal(signal.SIGHUP)  # again: the workers and the supervisor are still there
        hung_up_again = {int((await read_line(process, r"^hangup \d+")).split()[1]) for _ in range(2)}

        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), EXIT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), STARTUP_SECONDS)

    assert hung_up == hung_up_again == workers
    assert code == 0
