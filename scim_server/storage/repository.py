"""Resource repositories over per-organization collections.

Each organization's resources live in their own collection (``org_<org>_users``), so a query can only
ever see one organization's documents: tenancy is a property of which collection a repository holds,
not of a filter clause someone could forget. Indexes are ensured per collection on first use.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from scim_server.errors import ServiceUnavailableError, UniquenessError
from scim_server.schema.catalog import USER_RESOURCE_TYPE, ResourceType
from scim_server.storage.documents import StoredResource, from_document

ORG_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# Index name -> (keys, options). The names double as the attribute reported on a uniqueness clash.
USER_INDEXES: dict[str, tuple[list[tuple[str, int]], dict[str, Any]]] = {
    "userName": ([("_lc.userName", ASCENDING)], {"unique": True}),
    "externalId": ([("externalId", ASCENDING)], {}),
    "created": ([("meta.created", ASCENDING), ("_id", ASCENDING)], {}),
    "lastModified": ([("meta.lastModified", ASCENDING)], {}),
    "emails": ([("emails._lc.value", ASCENDING)], {}),
}


def is_valid_org_id(org_id: str) -> bool:
    """Organization ids form collection names, so only a safe alphabet is accepted."""
    return ORG_ID_PATTERN.fullmatch(org_id) is not None


def collection_name(org_id: str, resource_type: ResourceType) -> str:
    if not is_valid_org_id(org_id):
        raise ValueError(f"invalid organization id {org_id!r}")
    return f"org_{org_id}_{resource_type.name.lower()}s"


@asynccontextmanager
async def driver_errors() -> AsyncIterator[None]:
    """Translate driver failures into SCIM errors; driver messages never reach clients."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise UniquenessError(_uniqueness_detail(exc)) from None
    except PyMongoError:
        raise ServiceUnavailableError("the database is unavailable; retry later") from None


def _uniqueness_detail(exc: DuplicateKeyError) -> str:
    info = exc.details or {}
    name = str(info.get("keyPattern") or info.get("errmsg") or exc)
    for index in USER_INDEXES:
        if index in name:
            return f"{index} is already in use in this organization"
    return "a unique attribute value is already in use in this organization"


class ResourceRepository:
    """Storage operations for one resource type of one organization.

    Writes that depend on a read are guarded by ``meta.version``: they match nothing, and return
    False, when another writer got there first, and the caller re-reads and tries again.
    """

    def __init__(self, collection: Any, resource_type: ResourceType) -> None:
        self._collection = collection
        self._resource_type = resource_type

    async def insert(self, document: Mapping[str, Any]) -> None:
        async with driver_errors():
            await self._collection.insert_one(dict(document))

    async def get(self, resource_id: str) -> StoredResource | None:
        async with driver_errors():
            doc = await self._collection.find_one({"_id": resource_id})
        return None if doc is None else from_document(doc, self._resource_type)

    async def update(
        self,
        resource_id: str,
        expected_version: int,
        set_fields: Mapping[str, Any],
        unset_fields: Sequence[str],
    ) -> bool:
        """Apply ``$set``/``$unset`` in one write if the stored version is still ``expected_version``."""
        update: dict[str, Any] = {"$set": dict(set_fields)}
        if unset_fields:
            update["$unset"] = dict.fromkeys(unset_fields, "")
        async with driver_errors():
            result = await self._collection.update_one(
                {"_id": resource_id, "meta.version": expected_version}, update
            )
        return bool(result.matched_count)

    async def delete(self, resource_id: str, expected_version: int | None = None) -> bool:
        query: dict[str, Any] = {"_id": resource_id}
        if expected_version is not None:
            query["meta.version"] = expected_version
        async with driver_errors():
            result = await self._collection.delete_one(query)
        return bool(result.deleted_count)

    async def find(
        self,
        query: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        skip: int,
        limit: int,
    ) -> list[StoredResource]:
        async with driver_errors():
            cursor = self._collection.find(dict(query)).sort(list(sort)).skip(skip).limit(limit)
            docs = await cursor.to_list(length=limit)
        return [from_document(doc, self._resource_type) for doc in docs]

    async def count(self, query: Mapping[str, Any]) -> int:
        async with driver_errors():
            return int(await self._collection.count_documents(dict(query)))


class Store:
    """The per-organization repositories of one database, with indexes ensured on first use."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._ensured: set[str] = set()
        self._lock = asyncio.Lock()

    @property
    def db(self) -> Any:
        return self._db

    async def users(self, org_id: str) -> ResourceRepository:
        name = collection_name(org_id, USER_RESOURCE_TYPE)
        collection = self._db[name]
        if name not in self._ensured:
            await self._ensure(name, collection, USER_INDEXES)
        return ResourceRepository(collection, USER_RESOURCE_TYPE)

    async def _ensure(
        self,
        name: str,
        collection: Any,
        indexes: Mapping[str, tuple[list[tuple[str, int]], dict[str, Any]]],
    ) -> None:
        async with self._lock:
            if name in self._ensured:
                return
            async with driver_errors():
                for index_name, (keys, options) in indexes.items():
                    await collection.create_index(keys, name=index_name, **options)
            self._ensured.add(name)


__all__ = ["ResourceRepository", "Store", "collection_name", "is_valid_org_id"]
