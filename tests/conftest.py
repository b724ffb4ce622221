"""Shared fixtures: an app on a fresh store with two organizations' tokens; the suite's one
Hypothesis profile.

The store is the embedded one, or, when ``SCIM_TEST_MONGODB_URI`` names a server (MongoDB, or the
wire server ``scripts/mongoeco`` runs), a fresh database there per test, dropped afterwards: the API
suite then runs over the wire unchanged (docs/wire.md).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings

from scim_server.app import create_app
from scim_server.storage.client import REACHABILITY, embedded_client
from tests.helpers import MONGODB_URI, ClientFactory, make_settings, wire_database
from tests.wire.gaps import mark_gaps

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_gaps(items)


@pytest.fixture(autouse=True)
def new_process_reachability() -> None:
    """Each test starts as a new process does: nothing known of the database's reachability, which
    the storage layer tracks per process to log its changes once."""
    REACHABILITY.forget()


@pytest.fixture
async def db() -> AsyncIterator[Any]:
    """A fresh database: embedded, or on the server ``SCIM_TEST_MONGODB_URI`` names (then dropped
    after the test), opened with the server's own connect()."""
    if not MONGODB_URI:
        yield embedded_client()["scim"]
        return
    async with wire_database() as database:
        yield database


@pytest.fixture
def aiohttp_client(db: Any, aiohttp_client: ClientFactory) -> ClientFactory:
    """pytest-aiohttp's, set up after (so closed before) the database: an application's last
    writes at shutdown (tokens' last-used times) reach a database that is still open."""
    return aiohttp_client


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
