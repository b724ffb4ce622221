"""Databases for the storage contracts: the embedded store, and MongoDB when a URI is given."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from scim_server.storage.client import connect, embedded_client
from tests.helpers import MONGODB_URI


@pytest.fixture
def mongomock_database() -> Any:
    return embedded_client()["scim"]


@pytest.fixture
async def mongodb_database() -> AsyncIterator[Any]:
    """A fresh database on the server SCIM_TEST_MONGODB_URI names, dropped afterwards.

    It uses the server's own connect(): motor, tz_aware, and the URI's options (a timeout, say) honoured.
    """
    name = f"scim_test_{uuid.uuid4().hex[:16]}"
    client, database = connect(MONGODB_URI, name)
    try:
        yield database
        await client.drop_database(name)
    finally:
        client.close()
