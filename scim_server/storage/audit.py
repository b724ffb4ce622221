"""The audit trail's storage, which is also the change-event log: one collection per organization,
``org_<org>_audit``, plus one sequence counter per organization in ``event_sequences``.

An event names who wrote what and when, never an attribute value (see ``services/audit.py``). Each
event is ONE insert carrying its sequence number ``seq``, taken just before from the organization's
counter document with ``find_one_and_update($inc)``: the numbers are unique and totally ordered
across worker processes, which is what the event feed's cursor follows (``services/events.py``).
The counter document also keeps ``purged``, the highest sequence number removed by retention, so a
cursor older than the retained events is recognized as such.

Events are read newest first, for the whole organization or one resource, so those two indexes lead
with the resource id and end with the time; the feed reads by ``seq`` (unique index).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from scim_server.storage.repository import driver_errors, org_collection_name

AUDIT_INDEXES: dict[str, list[tuple[str, int]]] = {
    "time": [("time", DESCENDING), ("_id", DESCENDING)],
    "resource": [("resourceId", ASCENDING), ("time", DESCENDING), ("_id", DESCENDING)],
}
SEQUENCE_INDEX = "seq"
SEQUENCES_COLLECTION = "event_sequences"
WEBHOOKS_COLLECTION = "webhook_deliveries"


def audit_collection_name(org_id: str) -> str:
    return org_collection_name(org_id, "audit")


@dataclass(frozen=True, slots=True)
class SequenceState:
    """An organization's event counter: the last number taken and the last one purged (0: none)."""

    last: int
    purged: int


class AuditRepository:
    """The audit events (change events) of one organization."""

    def __init__(self, collection: Any, sequences: Any, org_id: str) -> None:
        self._collection = collection
        self._sequences = sequences
        self._org_id = org_id

    async def insert(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Take the next sequence number and write the event with it, in one insert; the document.

        The ``_id`` is an ObjectId made right after the number was taken: its timestamp is when the
        number was taken, which the feed uses to give up a number whose insert never came.
        """
        with driver_errors():
            counter = await self._sequences.find_one_and_update(
                {"_id": self._org_id},
                {"$inc": {"last": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            document = {"_id": ObjectId(), "seq": counter["last"], **event}
            await self._collection.insert_one(document)
        return document

    async def find(
        self, *, resource_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events newest first, optionally of one resource and from ``since`` on."""
        query: dict[str, Any] = {}
        if resource_id is not None:
            query["resourceId"] = resource_id
        if since is not None:
            query["time"] = {"$gte": since}
        with driver_errors():
            return list(
                await self._collection.find(query)
                .sort([("time", DESCENDING), ("_id", DESCENDING)])
                .limit(limit)
                .to_list(length=limit)
            )

    async def after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` events with a sequence number above ``seq``, in sequence order."""
        with driver_errors():
            return list(
                await self._collection.find({"seq": {"$gt": seq}})
                .sort([("seq", ASCENDING)])
                .limit(limit)
                .to_list(length=limit)
            )

    async def sequence(self) -> SequenceState:
        """The organization's counter (0, 0 before its first event)."""
        with driver_errors():
            doc = await self._sequences.find_one({"_id": self._org_id})
        if doc is None:
            return SequenceState(0, 0)
        return SequenceState(int(doc.get("last", 0)), int(doc.get("purged", 0)))

    async def purge(self, before: datetime, limit: int) -> int:
        """Remove up to ``limit`` of the oldest events written before ``before``; how many went.

        ``purged`` is raised first and the events are removed after, so a reader never finds
        events missing without also finding the watermark that explains it.
        """
        with driver_errors():
            # Records written before events had sequence numbers only age out.
            legacy = await self._collection.delete_many({"seq": {"$exists": False}, "time": {"$lt": before}})
            oldest = (
                await self._collection.find({"seq": {"$exists": True}, "time": {"$lt": before}}, {"seq": 1})
                .sort([("seq", ASCENDING)])
                .limit(limit)
                .to_list(length=limit)
            )
            if not oldest:
                return int(legacy.deleted_count)
            # Only a prefix in sequence order goes: the watermark must cover every removed number.
            first_kept = await self._collection.find_one(
                {"seq": {"$gt": oldest[0]["seq"]}, "time": {"$gte": before}}, {"seq": 1}, sort=[("seq", 1)]
            )
            bound = oldest[-1]["seq"]
            if first_kept is not None:
                bound = min(bound, first_kept["seq"] - 1)
            await self._sequences.update_one({"_id": self._org_id}, {"$max": {"purged": bound}})
            result = await self._collection.delete_many({"seq": {"$lte": bound}})
        return int(result.deleted_count + legacy.deleted_count)


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
                        await collection.create_index(
                            [("seq", ASCENDING)], name=SEQUENCE_INDEX, unique=True, sparse=True
                        )
                    self._ensured.add(name)
        repository = self._repositories[org_id] = AuditRepository(
            collection, self._db[SEQUENCES_COLLECTION], org_id
        )
        return repository

    async def organizations(self) -> list[str]:
        """The organizations that have recorded at least one event."""
        with driver_errors():
            docs = await self._db[SEQUENCES_COLLECTION].find({}, {"_id": 1}).to_list(length=None)
        return sorted(str(doc["_id"]) for doc in docs)


class DeliveryStateStore:
    """Webhook delivery state, one document per (organization, webhook) in ``webhook_deliveries``.

    A document holds the sequence number delivered up to (``after``), the failing event's attempt
    count, first failure and next attempt time, and a lease (``leaseUntil``, ``owner``): only the
    process holding an unexpired lease delivers to that webhook. Times are seconds since the epoch.
    """

    def __init__(self, db: Any) -> None:
        self._collection = db[WEBHOOKS_COLLECTION]

    async def claim(
        self, key: str, owner: str, now: float, lease_until: float, start_after: int
    ) -> dict[str, Any] | None:
        """Take the lease of a webhook that is due (its next attempt time has come) and not leased
        by a live owner; a new webhook starts after ``start_after``. None when not claimed."""
        with driver_errors():
            try:
                return dict(
                    await self._collection.find_one_and_update(
                        {
                            "_id": key,
                            "leaseUntil": {"$lte": now},
                            "nextAttempt": {"$lte": now},
                        },
                        {
                            "$set": {"leaseUntil": lease_until, "owner": owner},
                            "$setOnInsert": {
                                "after": start_after,
                                "attempts": 0,
                                "firstFailure": None,
                                "nextAttempt": now,
                            },
                        },
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    )
                )
            except DuplicateKeyError:  # it exists, and is leased or not due: another time
                return None

    async def update(self, key: str, owner: str, fields: Mapping[str, Any]) -> bool:
        """Set ``fields`` while ``owner`` still holds the lease; whether it did."""
        with driver_errors():
            result = await self._collection.update_one({"_id": key, "owner": owner}, {"$set": dict(fields)})
        return bool(result.matched_count)
