"""The audit trail's storage: one append-only collection per organization, ``org_<org>_audit``.

An event names who wrote what and when, never an attribute value (see ``services/audit.py``). Events
are read newest first, for the whole organization or one resource, so the two indexes lead with the
resource id and end with the time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from scim_server.storage.repository import driver_errors, org_collection_name

AUDIT_INDEXES: dict[str, list[tuple[str, int]]] = {
    "time": [("time", DESCENDING), ("_id", DESCENDING)],
    "resource": [("resourceId", ASCENDING), ("time", DESCENDING), ("_id", DESCENDING)],
}


def audit_collection_name(org_id: str) -> str:
    return org_collection_name(org_id, "audit")


class AuditRepository:
    """The audit events of one organization."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def insert(self, event: Mapping[str, Any]) -> None:
        # ObjectIds grow within a process, so (time, _id) orders events of one millisecond too.
        with driver_errors():
            await self._collection.insert_one({"_id": ObjectId(), **event})

    async def find(
        self, *, resource_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events newest first, optionally of one resource and from ``since`` on, without ``_id``."""
        query: dict[str, Any] = {}
        if resource_id is not None:
            query["resourceId"] = resource_id
        if since is not None:
            query["time"] = {"$gte": since}
        with driver_errors():
            return list(
                await self._collection.find(query, {"_id": 0})
                .sort([("time", DESCENDING), ("_id", DESCENDING)])
                .limit(limit)
                .to_list(length=limit)
            )


class AuditStore:
    """Per-organization audit repositories of one database, with indexes ensured on first use."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._ensured: set[str] = set()
        self._lock = asyncio.Lock()
        # One repository per organization once its indexes are ensured: every write records an
        # event, and building the driver's collection object each time is measurable own time.
        self._repositories: dict[str, AuditRepository] = {}

    async def events(self, org_id: str) -> AuditRepository:
        repository = self._repositories.get(org_id)
        if repository is not None:
            return repository
        name = audit_collection_name(org_id)
        collection = self._db[name]
        if name not in self._ensured:
            async with self._lock:
                if name not in self._ensured:
                    with driver_errors():
                        for index_name, keys in AUDIT_INDEXES.items():
                            await collection.create_index(keys, name=index_name)
                    self._ensured.add(name)
        repository = self._repositories[org_id] = AuditRepository(collection)
        return repository
