"""Shared fixtures: an app on a fresh store with two organizations' tokens.

The store is the embedded one, or, when ``SCIM_TEST_MONGODB_URI`` names a server (MongoDB, or the
wire server ``scripts/mongoeco`` runs), a fresh database there per test, dropped afterwards: the API
suite then runs over the wire unchanged (docs/wire.md).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.app import create_app
from scim_server.settings import Settings, load_settings
from scim_server.storage.client import REACHABILITY, close, connect, embedded_client
from tests.wire.gaps import mark_gaps

MONGODB_URI = os.environ.get("SCIM_TEST_MONGODB_URI", "")
TOKEN_A = "token-org-a-0123456789"
TOKEN_B = "token-org-b-0123456789"
SCIM = "application/scim+json"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "bootstrap_tokens": f"orga:{TOKEN_A},orgb:{TOKEN_B}",
        "base_url": "https://scim.test",
    }
    base.update(overrides)
    return load_settings(environ={}, **base)


def auth(token: str = TOKEN_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": SCIM, "Accept": SCIM}


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


@asynccontextmanager
async def wire_database() -> AsyncIterator[Any]:
    """A fresh database on the server ``SCIM_TEST_MONGODB_URI`` names, dropped at the end."""
    name = f"scim_test_{uuid.uuid4().hex[:16]}"
    client, database = connect(MONGODB_URI, name)
    try:
        yield database
        await client.drop_database(name)
    finally:
        await close(client)


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
