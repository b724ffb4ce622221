"""Shared fixtures: an app on a fresh embedded store with two organizations' tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.app import create_app
from scim_server.settings import Settings, load_settings
from scim_server.storage.client import REACHABILITY, embedded_client

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


@pytest.fixture(autouse=True)
def new_process_reachability() -> None:
    """Each test starts as a new process does: nothing known of the database's reachability, which
    the storage layer tracks per process to log its changes once."""
    REACHABILITY.forget()


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
