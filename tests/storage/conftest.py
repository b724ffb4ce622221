"""Databases for the storage contracts: the embedded store, and MongoDB when a URI is given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from scim_server.storage.client import embedded_client
from tests.helpers import wire_database


@pytest.fixture
def mongomock_database() -> Any:
    return embedded_client()["scim"]


@pytest.fixture
async def mongodb_database() -> AsyncIterator[Any]:
    """A fresh database on the server SCIM_TEST_MONGODB_URI names, dropped afterwards.

    It uses the server's own connect(): pymongo's AsyncMongoClient, tz_aware, and the URI's options (a
    timeout, say) honoured.
    """
    async with wire_database() as database:
        yield database
