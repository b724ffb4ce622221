"""``scim-server serve --workers K``: the refusal on the embedded store, a clean failure without a
database, and the supervisor's plumbing (one socket, K workers, signals, startup failures).

The supervisor is tested directly here: a small program (``SUPERVISED``) runs
:func:`scim_server.workers.supervise` with a trivial aiohttp worker in a child process. The server's own
workers against one database (concurrent writes, token revocation, SIGTERM) are tested over the wire in
``tests/wire/test_many_workers.py``. Every wait is bounded and every process is killed at the end.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import aiohttp
import pytest

from scim_server.cli import main
from tests.helpers import EXIT_SECONDS, STARTUP_SECONDS, clean_environment, free_port, read_line, run

UNREACHABLE = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"

# argv[1]: "serve" (answers with its pid after blocking 0.3 s), "fail" (exits 3 before it is ready),
# "crash" (ready, then GET /crash kills it).
SUPERVISED = """
import os, sys, time
from aiohttp import web
from scim_server.workers import bind, supervise

mode = sys.argv[1]

def worker(sock, ready):
    if mode == "fail":
        return 3
    async def pid(request):
        time.sleep(0.3)  # a slow answer, so the connections of one round overlap
        return web.Response(text=str(os.getpid()))
    async def crash(request):
        os._exit(5)
    async def started(app):
        ready()
    app = web.Application()
    app.router.add_get("/", pid)
    app.router.add_get("/crash", crash)
    app.on_startup.append(started)
    web.run_app(app, sock=sock, print=None, shutdown_timeout=5)
    return 0

sock = bind("127.0.0.1", 0)
print(sock.getsockname()[1], flush=True)
sys.exit(supervise(worker, sock, 2, startup_seconds=20, stop_seconds=10))
"""


@pytest.fixture(autouse=True)
def no_scim_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SCIM_"):
            monkeypatch.delenv(name)
    config = tmp_path / "scim-server.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("SCIM_CONFIG", str(config))


def test_workers_on_the_embedded_store_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "2"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "scim-server: --workers needs MongoDB (set SCIM_MONGODB_URI): the embedded store lives inside one "
        "process, so several workers would each have their own, different data. Use --workers 1.\n"
    )


def test_a_worker_count_below_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "0"]) == 2
    assert capsys.readouterr().err == "scim-server: --workers must be between 1 and 256\n"


async def test_workers_against_an_unreachable_mongodb_fail_cleanly() -> None:
    env = clean_environment(SCIM_MONGODB_URI=UNREACHABLE, SCIM_BOOTSTRAP_TOKENS="acme:acme-token-123")
    command = ["-m", "scim_server", "serve", "--workers", "2", "--port", str(free_port())]
    code, err = await run(sys.executable, *command, env=env)

    # Every assertion shows stderr: this test has failed twice under full-suite load, never alone.
    assert code == 2, err
    assert "Traceback" not in err, err
    assert (
        f"scim-server: cannot start: the database cannot be reached (SCIM_MONGODB_URI={UNREACHABLE})" in err
    ), err
    assert re.search(r"scim-server: worker \d failed to start \(exit code 2\); stopping the others", err), err


@asynccontextmanager
async def supervised(mode: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUPERVISED,
        mode,
        env=clean_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = (await asyncio.wait_for(process.stdout.readline(), STARTUP_SECONDS)).decode().strip()
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            # SIGTERM first, so the supervisor stops its workers; then no more patience.
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), EXIT_SECONDS)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), EXIT_SECONDS)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_workers_share_one_socket_and_stop_together_on_sigterm() -> None:
    async with supervised("serve") as (process, base):
        line = await read_line(process, r"2 workers serving")
        workers = {int(pid) for pid in re.findall(r"\d+", line.split("pids", 1)[1])}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:

            async def answer() -> int:
                # A new connection each time, so the kernel picks a worker for each.
                async with session.get(base, headers={"Connection": "close"}) as response:
                    return int(await response.text())

            # The kernel hashes each connection to a worker: a few rounds of new connections reach
            # both (a round missing one worker has probability 1/8; five in a row, 1/32768).
            answered: set[int] = set()
            for _ in range(5):
                answered |= set(await asyncio.gather(*(answer() for _ in range(4))))
                if answered == workers:
                    break

        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), EXIT_SECONDS)

    assert len(workers) == 2
    assert answered == workers
    assert code == 0
    assert not any(alive(pid) for pid in workers)


async def test_a_worker_failing_at_startup_fails_the_command() -> None:
    async with supervised("fail") as (process, _):
        line = await read_line(process, r"failed to start")
        code = await asyncio.wait_for(process.wait(), EXIT_SECONDS)

    assert re.search(r"worker \d failed to start \(exit code 3\); stopping the others", line)
    assert code == 3


async def test_a_worker_dying_while_serving_stops_the_server() -> None:
    async with supervised("crash") as (process, base):
        await read_line(process, r"2 workers serving")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            with suppress(aiohttp.ClientError):
                async with session.get(f"{base}/crash") as response:
                    await response.read()
        line = await read_line(process, r"exited unexpectedly")
        code = await asyncio.wait_for(process.wait(), EXIT_SECONDS)

    assert re.search(r"worker \d exited unexpectedly \(exit code 5\); stopping the server", line)
    assert code == 1
