"""Shared fixtures: an app on a fresh embedded store with two organizations' tokens; the suite's one
Hypothesis profile."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings

from scim_server.app import create_app
from scim_server.storage.client import embedded_client
from tests.helpers import ClientFactory, make_settings

# Every property test runs under this profile, loaded here before any test module is imported; a test
# that needs another budget scales ``settings.default.max_examples`` and says why. Derandomized, so a
# run (CI's included: this overrides Hypothesis's own "ci" profile) draws the same examples every time
# and keeps no example database; no deadline and no too_slow check, since the suite shares a few cores
# with other work and the budget, not the clock, bounds a test. SCIM_FUZZ_EXAMPLES scales every test's
# budget for a longer exploration by hand.
settings.register_profile(
    "scim",
    max_examples=int(os.environ.get("SCIM_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("scim")


@pytest.fixture
def db() -> Any:
    return embedded_client()["scim"]


@pytest.fixture
def app_factory(db: Any) -> Callable[..., web.Application]:
    def build(**overrides: Any) -> web.Application:
        return create_app(make_settings(**overrides), db=db, announce=lambda _: None)

    return build


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> TestClient[Any, Any]:
    return await aiohttp_client(app_factory())
