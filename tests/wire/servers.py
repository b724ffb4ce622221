"""Real processes for the wire tests: a mongoeco wire server and ``scim-server serve`` against it.

The wire server runs ``scripts/wire_server.py`` under the Python 3.13 that ``scripts/mongoeco install``
prints; the tests that need one run only when ``SCIM_TEST_MONGOECO_PYTHON`` names it (``.ci/run`` sets
it). Every wait is bounded, and every process started here is killed at the end if it is still running.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import EXIT_SECONDS, STARTUP_SECONDS, clean_environment, free_port

ROOT = Path(__file__).resolve().parents[2]
MONGOECO_PYTHON = os.environ.get("SCIM_TEST_MONGOECO_PYTHON", "")

# On a test that starts its own wire server (and stops or shares it as it needs).
needs_mongoeco = [
    pytest.mark.wire,
    pytest.mark.skipif(
        not MONGOECO_PYTHON,
        reason="set SCIM_TEST_MONGOECO_PYTHON to the Python `scripts/mongoeco install` prints (needs 3.13)",
    ),
]


class WireServer:
    """``scripts/wire_server.py`` on 127.0.0.1: its data in ``data``, on a port kept across restarts."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert self._process is None
        process = await asyncio.create_subprocess_exec(
            MONGOECO_PYTHON,
            str(ROOT / "scripts" / "wire_server.py"),
            "--data",
            str(self.data),
            "--port",
            str(self.port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._process = process
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_SECONDS)
        assert line.decode().strip() == self.uri, f"the wire server did not start: {line!r}"

    async def stop(self) -> None:
        """SIGTERM: the server closes its connections and its database file."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), EXIT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def wire_server(data: Path) -> AsyncIterator[WireServer]:
    server = WireServer(data)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class ScimServer:
    """``scim-server serve`` as a process; its standard error is read as it comes (a full pipe would
    block the server), as parsed JSON log records and plain lines."""

    def __init__(self, process: asyncio.subprocess.Process, base: str) -> None:
        self.process = process
        self.base = base
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while raw := await self.process.stderr.readline():
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def records(self, logger: str | None = None) -> list[dict[str, Any]]:
        """The JSON log records so far (of ``logger`` only, when given)."""
        found = []
        for line in self.lines:
            if line.startswith("{"):
                record = json.loads(line)
                if logger is None or record["logger"] == logger:
                    found.append(record)
        return found

    async def wait_for_line(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_SECONDS
        while not any(text in line for line in self.lines):
            assert self.process.returncode is None, f"the server exited: {self.lines}"
            assert loop.time() < deadline, f"no {text!r} within {STARTUP_SECONDS} s: {self.lines}"
            await asyncio.sleep(0.05)

    async def terminate(self) -> int:
        """SIGTERM; the exit code, once standard error is read to its end."""
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), EXIT_SECONDS + 30)
        await asyncio.wait_for(self._reader, EXIT_SECONDS)
        return code


@asynccontextmanager
async def scim_server(workers: int, **settings: str) -> AsyncIterator[ScimServer]:
    """``python -m scim_server serve --workers K`` with ``SCIM_<NAME>`` settings, ready to serve."""
    port = free_port()
    env = clean_environment(
        SCIM_LOG_FORMAT="json", **{f"SCIM_{name.upper()}": value for name, value in settings.items()}
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scim_server",
        "serve",
        "--workers",
        str(workers),
        "--port",
        str(port),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    server = ScimServer(process, f"http://127.0.0.1:{port}")
    try:
        await wait_ready(server)
        yield server
    finally:
        if process.returncode is None:
            # SIGTERM first, so a supervisor stops its workers; then no more patience.
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), EXIT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
        with suppress(TimeoutError):
            await asyncio.wait_for(server._reader, EXIT_SECONDS)


async def wait_ready(server: ScimServer) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while True:
            try:
                async with session.get(f"{server.base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert server.process.returncode is None, f"the server exited: {server.lines}"
            assert loop.time() < deadline, f"not ready within {STARTUP_SECONDS} s: {server.lines}"
            await asyncio.sleep(0.1)


async def run_cli(*args: str, mongodb_uri: str) -> tuple[int, str, str]:
    """``python -m scim_server <args>`` (what ``scripts/tokens`` runs) against ``mongodb_uri``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scim_server",
        *args,
        env=clean_environment(SCIM_MONGODB_URI=mongodb_uri),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), STARTUP_SECONDS)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
