"""The black-box IdP flow script: it passes against a real listening server, waits for one that is
still starting, and says plainly (no traceback) when none answers."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import TOKEN_A

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "idp_flow.py"
CHECKS = 13


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("idp_flow", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("idp_flow", module)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_idp_flow_script_passes_every_check(aiohttp_server: Any, app_factory: Any) -> None:
    server = await aiohttp_server(app_factory(base_url=""))
    checks = await load_script().walk(str(server.make_url("")), TOKEN_A)
    failed = [what for ok, what in checks if not ok]
    assert failed == []
    assert len(checks) == CHECKS


async def test_idp_flow_started_before_the_server_waits_for_healthz(app_factory: Any) -> None:
    script = load_script()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    flow = asyncio.create_task(script.run(base, TOKEN_A, 10.0))
    await asyncio.sleep(1.0)  # the flow polls a port nobody listens on yet
    assert not flow.done()

    runner = web.AppRunner(app_factory(base_url=""))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        checks = await asyncio.wait_for(flow, 30)
    finally:
        await runner.cleanup()

    assert [what for ok, what in checks if not ok] == []
    assert len(checks) == CHECKS


def test_idp_flow_without_a_server_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    base = f"http://127.0.0.1:{free_port()}"

    code = load_script().main(["--url", base, "--token", TOKEN_A, "--wait", "0.5"])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        f"idp_flow: no answer from {base}/healthz within 0.5 s; is the server running (scripts/serve), "
        "and is --url right?\n"
    )
