"""The black-box IdP flow script passes against a real listening server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from tests.helpers import TOKEN_A

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "idp_flow.py"


async def test_idp_flow_script_passes_every_check(aiohttp_server: Any, app_factory: Any) -> None:
    spec = importlib.util.spec_from_file_location("idp_flow", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("idp_flow", module)
    spec.loader.exec_module(module)
    server = await aiohttp_server(app_factory(base_url=""))
    checks = await module.walk(str(server.make_url("")), TOKEN_A)
    failed = [what for ok, what in checks if not ok]
    assert failed == []
    assert len(checks) == 13
