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
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from scim_server.errors import ServiceUnavailableError, UniquenessError
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE, ResourceType
from scim_server.schema.layout import MEMBERSHIP_FIELD
from scim_server.storage.documents import StoredResource, from_document

ORG_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# Index name -> (keys, options). The names double as the attribute reported on a uniqueness clash.
USER_INDEXES: dict[str, tuple[list[tuple[str, int]], dict[str, Any]]] = {
    "userName": ([("_lc.userName", ASCENDING)], {"unique": True}),
    "externalId": ([("externalId", ASCENDING)], {}),
    "created": ([("meta.created", ASCENDING), ("_id", ASCENDING)], {}),
    "lastModified": ([("meta.lastModified", ASCENDING)], {}),
    "emails": ([("emails._lc.value", ASCENDING)], {}),
    "memberships": ([(MEMBERSHIP_FIELD, ASCENDING)], {}),
}
GROUP_INDEXES: dict[str, tuple[list[tuple[str, int]], dict[str, Any]]] = {
    "displayName": ([("_lc.displayName", ASCENDING)], {"unique": True}),
    "externalId": ([("externalId", ASCENDING)], {}),
    "created": ([("meta.created", ASCENDING), ("_id", ASCENDING)], {}),
    "lastModified": ([("meta.lastModified", ASCENDING)], {}),
    "memberships": ([(MEMBERSHIP_FIELD, ASCENDING)], {}),
}
_UNIQUE_INDEXES = ("userName", "displayName")


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
    for index in _UNIQUE_INDEXES:
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


@dataclass(frozen=True, slots=True)
class Member:
    """A resource that can be a group member: its id, type ("User" or "Group") and display name."""

    id: str
    type: str
    display: str | None


class MembershipRepository:
    """Group membership of one organization, stored as ``_groups`` arrays on the member documents.

    Every operation costs a bounded number of round trips and touches only the named members, so its
    cost is O(k) in the members changed, whatever the group's size; no document grows with a group.
    ``$addToSet`` and ``$pull`` commute across concurrent writers, so no membership change is lost.
    """

    def __init__(self, users: Any, groups: Any) -> None:
        self._collections = (("User", users, "userName"), ("Group", groups, "displayName"))

    async def find(self, ids: Sequence[str]) -> dict[str, Member]:
        """The users and groups among ``ids`` that exist, by id."""
        found: dict[str, Member] = {}
        if not ids:
            return found
        async with driver_errors():
            for kind, collection, display in self._collections:
                cursor = collection.find({"_id": {"$in": list(ids)}}, {display: 1})
                for doc in await cursor.to_list(length=None):
                    found[doc["_id"]] = Member(doc["_id"], kind, doc.get(display))
        return found

    async def groups_of(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The groups each of ``ids`` directly belongs to (empty for an id that does not exist)."""
        result: dict[str, tuple[str, ...]] = dict.fromkeys(ids, ())
        if not ids:
            return result
        async with driver_errors():
            for _, collection, _ in self._collections:
                cursor = collection.find({"_id": {"$in": list(ids)}}, {MEMBERSHIP_FIELD: 1})
                for doc in await cursor.to_list(length=None):
                    result[doc["_id"]] = tuple(doc.get(MEMBERSHIP_FIELD, ()))
        return result

    async def members(self, group_id: str) -> list[Member]:
        """The direct members of a group, users first, each in id order."""
        return (await self.members_of([group_id])).get(group_id, [])

    async def members_of(self, group_ids: Sequence[str]) -> dict[str, list[Member]]:
        """The direct members of several groups (one query per collection)."""
        result: dict[str, list[Member]] = {gid: [] for gid in group_ids}
        if not group_ids:
            return result
        wanted = set(group_ids)
        async with driver_errors():
            for kind, collection, display in self._collections:
                cursor = collection.find(
                    {MEMBERSHIP_FIELD: {"$in": list(group_ids)}}, {display: 1, MEMBERSHIP_FIELD: 1}
                ).sort([("_id", ASCENDING)])
                for doc in await cursor.to_list(length=None):
                    member = Member(doc["_id"], kind, doc.get(display))
                    for gid in doc.get(MEMBERSHIP_FIELD, ()):
                        if gid in wanted:
                            result[gid].append(member)
        return result

    async def add(self, group_id: str, members: Sequence[Member]) -> None:
        await self._update(members, {"$addToSet": {MEMBERSHIP_FIELD: group_id}})

    async def remove(self, group_id: str, members: Sequence[Member]) -> None:
        await self._update(members, {"$pull": {MEMBERSHIP_FIELD: group_id}})

    async def replace(self, group_id: str, members: Sequence[Member]) -> None:
        """Make ``members`` exactly the group's members: add them first, then drop everyone else, so a
        concurrent reader never sees the group transiently empty."""
        await self.add(group_id, members)
        keep = {m.id for m in members}
        async with driver_errors():
            for _, collection, _ in self._collections:
                await collection.update_many(
                    {MEMBERSHIP_FIELD: group_id, "_id": {"$nin": sorted(keep)}},
                    {"$pull": {MEMBERSHIP_FIELD: group_id}},
                )

    async def clear(self, group_id: str) -> None:
        """Remove every member from a group (when the group is deleted)."""
        await self.replace(group_id, ())

    async def _update(self, members: Sequence[Member], update: Mapping[str, Any]) -> None:
        async with driver_errors():
            for kind, collection, _ in self._collections:
                ids = [m.id for m in members if m.type == kind]
                if ids:
                    await collection.update_many({"_id": {"$in": ids}}, dict(update))


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
        return ResourceRepository(await self._collection(org_id, USER_RESOURCE_TYPE), USER_RESOURCE_TYPE)

    async def groups(self, org_id: str) -> ResourceRepository:
        return ResourceRepository(await self._collection(org_id, GROUP_RESOURCE_TYPE), GROUP_RESOURCE_TYPE)

    async def memberships(self, org_id: str) -> MembershipRepository:
        return MembershipRepository(
            await self._collection(org_id, USER_RESOURCE_TYPE),
            await self._collection(org_id, GROUP_RESOURCE_TYPE),
        )

    async def _collection(self, org_id: str, resource_type: ResourceType) -> Any:
        name = collection_name(org_id, resource_type)
        collection = self._db[name]
        if name not in self._ensured:
            indexes = USER_INDEXES if resource_type is USER_RESOURCE_TYPE else GROUP_INDEXES
            await self._ensure(name, collection, indexes)
        return collection

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


__all__ = [
    "Member",
    "MembershipRepository",
    "ResourceRepository",
    "Store",
    "collection_name",
    "is_valid_org_id",
]
