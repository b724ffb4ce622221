"""Connecting to the document store: MongoDB through motor, or the embedded mongomock-motor store.

This package is the only one that imports the driver; motor is deprecated upstream in favour of
pymongo's ``AsyncMongoClient``, and keeping every driver import here makes that switch one package's change.
"""

from __future__ import annotations

from typing import Any

from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo.errors import PyMongoError

from scim_server.errors import ServiceUnavailableError
from scim_server.storage import embedded


def connect(mongodb_uri: str, database: str) -> tuple[Any, Any]:
    """Return ``(client, database)``; an empty URI selects the embedded in-memory store.

    Datetimes come back timezone-aware (UTC) from both stores.
    """
    client: Any
    if mongodb_uri:
        options: dict[str, Any] = {"tz_aware": True, "appname": "scim-server"}
        # A keyword argument would override the same option given in the URI: only supply a default.
        if "serverselectiontimeoutms=" not in mongodb_uri.lower():
            options["serverSelectionTimeoutMS"] = 5000
        try:
            client = AsyncIOMotorClient(mongodb_uri, **options)
        except (PyMongoError, ValueError):
            # The driver's message may quote parts of the URI, password included: keep it out.
            raise ServiceUnavailableError(
                "the MongoDB connection string is invalid (it must start with mongodb:// or "
                "mongodb+srv://, and a user name or password must be percent-escaped)"
            ) from None
    else:
        client = embedded_client()
    return client, client[database]


def embedded_client() -> Any:
    """A client of the embedded in-memory store (mongomock-motor over ``storage/embedded.py``'s
    mongomock client, with its lookups); datetimes come back timezone-aware (UTC)."""
    return AsyncMongoMockClient(mock_mongo_client=embedded.mongo_client(tz_aware=True))


async def ping(db: Any) -> None:
    """Check that the store answers; raise :class:`ServiceUnavailableError` when it does not."""
    try:
        await db.command("ping")
    except PyMongoError:
        raise ServiceUnavailableError("the database cannot be reached") from None


def close(client: Any) -> None:
    client.close()
