"""Resource repositories over per-organization collections.

Each organization's resources live in their own collection (``org_<org>_users``), so a query can only
ever see one organization's documents: tenancy is a property of which collection a repository holds,
not of a filter clause someone could forget. Indexes are ensured per collection on first use.

**Soft delete.** A soft-deleted resource's document stays, marked with the time of its deletion
(:data:`DELETED`), until it is purged. Every query a repository sends for live resources carries the
condition that excludes it (:func:`_live`): one rule in one place, so no caller can forget it. Only
:meth:`ResourceRepository.holder` (a POST restoring a resource by its name) and the purge read
marked documents.

Repositories take and give resources (:class:`~scim_server.storage.documents.StoredResource`): the
documents, updates and projections that store and read them are built here and in
``storage/documents.py``, never by a service. (The renderer reads a stored document as it is, through
the naming rules of ``schema.layout``, so a read need not build the canonical resource.)
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from scim_server.errors import UniquenessError
from scim_server.schema.attributes import AttributeType, Returned, Uniqueness
from scim_server.schema.catalog import (
    USER_RESOURCE_TYPE,
    ResolvedAttribute,
    ResourceType,
)
from scim_server.schema.declared import OrganizationResourceTypes
from scim_server.schema.layout import SHADOW, query_path
from scim_server.storage.client import REACHABILITY, translate
from scim_server.storage.documents import (
    DELETED,
    Assignment,
    StoredResource,
    changed_keys,
    from_document,
    from_documents,
    response_projection,
    to_document,
    update_document,
)
from scim_server.storage.keyset import keyset_range, reversed_sort, sort_key
from scim_server.timing import record

logger = logging.getLogger("scim_server.storage")

ORG_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# Index name -> (keys, options). The names double as the attribute reported on a uniqueness clash.
# Every query shape an IdP sends, and every default or common sort, is served by one of these as
# equality, then sort keys, then a range or anchored prefix (tests/storage/test_index_coverage.py
# checks each). An index whose keys change gets a new name: MongoDB refuses to re-create a name with
# other keys, so a renamed index leaves the old one behind, which operators may drop.
USER_INDEXES: dict[str, tuple[list[tuple[str, int]], dict[str, Any]]] = {
    # userName eq / sw, sortBy=userName (unique, so no _id tiebreaker is needed).
    "userName": ([("_lc.userName", ASCENDING)], {"unique": True}),
    # externalId eq, sortBy=externalId.
    "externalId_id": ([("externalId", ASCENDING), ("_id", ASCENDING)], {}),
    # The default order (creation, then id) and sortBy=meta.created.
    "created": ([("meta.created", ASCENDING), ("_id", ASCENDING)], {}),
    # meta.lastModified gt/ge/lt/le (delta sync), sortBy=meta.lastModified.
    "lastModified_id": ([("meta.lastModified", ASCENDING), ("_id", ASCENDING)], {}),
    # The purge's soft-deleted documents (sparse: only they hold the mark, so it stays small).
    "deleted": ([(DELETED, ASCENDING)], {"sparse": True}),
    # emails.value eq, emails[type eq "work" and value eq "..."] (both in one element: multikey).
    "emails_value_type": ([("emails._lc.value", ASCENDING), ("emails._lc.type", ASCENDING)], {}),
}
GROUP_INDEXES: dict[str, tuple[list[tuple[str, int]], dict[str, Any]]] = {
    "displayName": ([("_lc.displayName", ASCENDING)], {"unique": True}),
    "externalId_id": ([("externalId", ASCENDING), ("_id", ASCENDING)], {}),
    "created": ([("meta.created", ASCENDING), ("_id", ASCENDING)], {}),
    "lastModified_id": ([("meta.lastModified", ASCENDING), ("_id", ASCENDING)], {}),
    "deleted": ([(DELETED, ASCENDING)], {"sparse": True}),
}
# Pairs are found by group (members, deletes), by member (back-references) and by exact pair (_id).
MEMBERSHIP_INDEXES: dict[str, tuple[list[tuple[str, int]], dict[str, Any]]] = {
    "group": ([("g", ASCENDING), ("m", ASCENDING)], {}),
    "member": ([("m", ASCENDING), ("g", ASCENDING)], {}),
}
_UNIQUE_INDEXES = ("userName", "displayName")
# The attribute that names a resource uniquely in its organization, by resource type: a POST naming a
# soft-deleted resource's value restores it (docs/organizations.md). Both are caseExact=false, so
# their unique index is on the lower-cased shadow.
UNIQUE_NAME: Mapping[str, str] = {"User": "userName", "Group": "displayName"}


def _live(query: Mapping[str, Any]) -> dict[str, Any]:
    """``query`` restricted to live resources: the one place that excludes soft-deleted documents.

    ``null`` equality matches a missing field, so documents written before soft delete existed are
    live without a migration. Compiled filters never name an ``_`` field, so the key cannot clash.
    """
    return {**query, DELETED: None}


_DUPLICATE_KEY = 11000
# The indexes of an organization's declared extensions (:func:`declared_indexes`) are named with this
# prefix: the ones no longer declared are dropped. MongoDB allows 64 indexes per collection; the
# built-in ones and headroom for later ones leave this many to the declared attributes.
DECLARED_INDEX_PREFIX = "declared:"
MAX_DECLARED_INDEXES = 48

IndexSpecs = dict[str, tuple[list[tuple[str, int]], dict[str, Any]]]


def declared_indexes(resource_type: ResourceType) -> IndexSpecs:
    """The indexes of a resource type's declared extensions (``schema/declared.py``): one per attribute
    that can be compared (a simple attribute, or each sub-attribute of a complex one; not binary or
    never-returned ones), on the path an ``eq`` or a sort on it uses (``schema.layout.query_path``:
    the lower-cased shadow when it is compared case-insensitively). ``uniqueness`` "server" (and
    "global", which per-organization collections make per organization too) is a unique index over
    the documents holding a value, so resources without one never clash.

    The uniqueness is in the name: MongoDB refuses an index whose name exists with other options.
    Unique ones come first, and at most :data:`MAX_DECLARED_INDEXES` are made.
    """
    unique: IndexSpecs = {}
    plain: IndexSpecs = {}
    for extension in resource_type.extensions:
        if not extension.declared:
            continue
        for attribute in extension.schema.attributes:
            leaves = (
                [ResolvedAttribute(extension, attribute, sub) for sub in attribute.sub_attributes]
                if attribute.is_complex
                else [ResolvedAttribute(extension, attribute)]
            )
            for resolved in leaves:
                leaf = resolved.leaf
                if leaf.type is AttributeType.BINARY or leaf.returned is Returned.NEVER:
                    continue
                path = query_path(resolved)
                if leaf.uniqueness is Uniqueness.NONE:
                    # With the _id tiebreaker, as a sort on it is compiled (compiler/sort.py).
                    plain[f"{DECLARED_INDEX_PREFIX}{path}"] = ([(path, ASCENDING), ("_id", ASCENDING)], {})
                else:
                    unique[f"{DECLARED_INDEX_PREFIX}{path}:unique"] = (
                        [(path, ASCENDING)],
                        {"unique": True, "partialFilterExpression": {path: {"$exists": True}}},
                    )
    specs = {**unique, **plain}
    if len(specs) > MAX_DECLARED_INDEXES:
        logger.warning(
            "%s: %d declared attributes can be indexed, only the first %d are",
            resource_type.name,
            len(specs),
            MAX_DECLARED_INDEXES,
        )
        specs = dict(list(specs.items())[:MAX_DECLARED_INDEXES])
    return specs


# ``org_<org>_users`` and ``org_<org>_groups`` (:func:`collection_name`).
_RESOURCE_COLLECTION = re.compile(rf"org_({ORG_ID_PATTERN.pattern})_(?:users|groups)")


def is_valid_org_id(org_id: str) -> bool:
    """Organization ids form collection names, so only a safe alphabet is accepted."""
    return ORG_ID_PATTERN.fullmatch(org_id) is not None


def org_collection_name(org_id: str, kind: str) -> str:
    """``org_<org>_<kind>``: an organization's collection; the id is checked to be a safe name."""
    if not is_valid_org_id(org_id):
        raise ValueError(f"invalid organization id {org_id!r}")
    return f"org_{org_id}_{kind}"


def collection_name(org_id: str, resource_type: ResourceType) -> str:
    return org_collection_name(org_id, f"{resource_type.name.lower()}s")


def membership_collection_name(org_id: str) -> str:
    return org_collection_name(org_id, "memberships")


class driver_errors:  # noqa: N801 (used as a function: ``with driver_errors(): await ...``)
    """Translate driver failures into SCIM errors; driver messages never reach clients.

    A duplicate key is a uniqueness conflict (409); an unreachable or failing-over database a 503 with
    ``Retry-After``; any other driver error a 500, logged with the operation: the function holding
    this block (``storage/client.py``'s :func:`~scim_server.storage.client.translate`). A success
    tells :data:`~scim_server.storage.client.REACHABILITY` that the database answers.

    Each block is one driver call (one round trip), timed and counted for the current request
    (:mod:`scim_server.timing`). Cursors are never bound to a name, so they, and what the driver holds
    in them (the embedded store keeps every matched document), are released inside the block: that
    release is storage time too. A plain (synchronous) context manager around the awaited call: it
    runs on every storage call, and entering and leaving it needs no await.
    """

    __slots__ = ("_start",)

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        record(time.perf_counter() - self._start)
        if error is None:
            if REACHABILITY.pending:
                REACHABILITY.answered()
            return
        if isinstance(error, DuplicateKeyError):
            REACHABILITY.answered()
            raise UniquenessError(_uniqueness_detail(error)) from None
        translated = translate(error, traceback)
        if translated is not None:
            raise translated from None


def _clash(exc: BulkWriteError) -> tuple[int, UniquenessError] | None:
    """An ordered ``insert_many`` stopped by one duplicate key: how many went in, and the clash."""
    details = exc.details or {}
    errors = details.get("writeErrors") or []
    if len(errors) != 1 or errors[0].get("code") != _DUPLICATE_KEY:
        return None
    first = errors[0]
    duplicate = DuplicateKeyError(str(first.get("errmsg", "")), _DUPLICATE_KEY, first)
    inserted = int(first.get("index", details.get("nInserted", 0)))
    return inserted, UniquenessError(_uniqueness_detail(duplicate))


def _uniqueness_detail(exc: DuplicateKeyError) -> str:
    info = exc.details or {}
    name = str(info.get("keyPattern") or info.get("errmsg") or exc)
    for index in _UNIQUE_INDEXES:
        if index in name:
            return f"{index} is already in use in this organization"
    pattern = info.get("keyPattern")
    if isinstance(pattern, Mapping) and len(pattern) == 1:
        # A declared extension's attribute: its name, the last part of the path that is not a shadow
        # (never a value: the key pattern holds field names only).
        parts = [part for part in str(next(iter(pattern))).split(".") if part != SHADOW]
        if len(parts) >= 2 and ":" in parts[0]:
            return f"{'.'.join(parts[1:])} is already in use in this organization"
    return "a unique attribute value is already in use in this organization"


class ResourceRepository:
    """Storage operations for one resource type of one organization.

    Writes that depend on a read are guarded by ``meta.version``: they match nothing, and return
    False, when another writer got there first, and the caller re-reads and tries again.
    """

    def __init__(self, collection: Any, resource_type: ResourceType) -> None:
        self._collection = collection
        self._resource_type = resource_type
        self._response_projection = response_projection(resource_type)

    @property
    def resource_type(self) -> ResourceType:
        return self._resource_type

    async def insert(self, resource: StoredResource) -> None:
        """Store a new resource (its canonical attributes and metadata) as a new document; a clash on a
        unique attribute is a :class:`UniquenessError` and stores nothing."""
        document = self._document(resource)
        with driver_errors():
            await self._collection.insert_one(document)

    def _document(self, resource: StoredResource) -> dict[str, Any]:
        return to_document(
            resource.resource,
            self._resource_type,
            id=resource.id,
            created=resource.created,
            last_modified=resource.last_modified,
            version=resource.version,
        )

    async def get(self, resource_id: str, *, response_only: bool = False) -> StoredResource | None:
        """The resource, carrying the stored document it was read from (a write plans against it).

        ``response_only``: read without what a response never shows (:func:`response_projection`).
        """
        projection = self._response_projection if response_only else None
        with driver_errors():
            doc = await self._collection.find_one(_live({"_id": resource_id}), projection)
        return None if doc is None else from_document(doc, self._resource_type, response_only=response_only)

    async def update(
        self,
        current: StoredResource,
        resource: dict[str, Any],
        changed: Collection[str],
        *,
        last_modified: datetime,
    ) -> StoredResource | None:
        """Store ``resource`` as the next version of ``current`` (read whole from this repository), in
        one write guarded by ``current.version``: the resource after the write, or ``None`` when the
        stored version has moved on (another writer won; re-read and try again) or it is gone.

        ``changed``: the top-level keys (attribute names, extension URNs) whose values differ from
        ``current.resource`` (:func:`~scim_server.storage.documents.changed_keys`); only they and the
        metadata are written. The version moves by one, even when ``changed`` is empty.
        """
        if current.document is None or current.response_only:
            raise ValueError("an update needs the current resource as read whole from the store")
        version = current.version + 1
        update = update_document(
            current.document,
            resource,
            changed,
            self._resource_type,
            last_modified=last_modified,
            version=version,
        )
        operation: dict[str, Any] = {"$set": update.set_fields}
        if update.unset_fields:
            operation["$unset"] = dict.fromkeys(update.unset_fields, "")
        with driver_errors():
            result = await self._collection.update_one(
                _live({"_id": current.id, "meta.version": current.version}), operation
            )
        if not result.matched_count:
            return None
        return StoredResource(
            current.id, resource, current.created, last_modified, version, document=update.document
        )

    async def assign(
        self, resource_id: str, values: Mapping[str, Any], *, last_modified: datetime
    ) -> tuple[StoredResource, list[str]] | None:
        """Store new values of top-level simple attributes (canonical values by attribute name) in one
        write, without reading first, if the resource holds another value for at least one of them;
        the version moves by one. The resource after the write (read for a response) and the names
        whose values changed; ``None`` when nothing was written: no such resource, or it holds every
        value already."""
        assignment = Assignment(values, self._resource_type)
        query = _live({"_id": resource_id, **assignment.condition})
        update = {
            "$set": {**assignment.fields, "meta.lastModified": last_modified},
            "$inc": {"meta.version": 1},
        }
        with driver_errors():
            # The document as it was (the default): what changed is read off it.
            before = await self._collection.find_one_and_update(query, update, self._response_projection)
        if before is None:
            return None
        after = assignment.applied(before, last_modified)
        return from_document(after, self._resource_type, response_only=True), assignment.changed(before)

    async def bump(self, current: StoredResource, *, last_modified: datetime) -> StoredResource:
        """Move ``current``'s version (as this process last wrote it) on by one, its resource unchanged:
        what the resource shows of its memberships has changed since (RFC 7643 §3.1 ``lastModified``).

        Guarded by ``current.version``: ``current`` at the next version, the resource after the write.
        When another writer has moved the version on already, the version still moves by one (that
        writer's may predate the change being shown) and ``current`` is returned as it is, superseded.
        """
        if current.document is None:
            raise ValueError("a bump needs the resource as this process wrote it")
        version = current.version + 1
        with driver_errors():
            result = await self._collection.update_one(
                _live({"_id": current.id, "meta.version": current.version}),
                {"$set": {"meta.version": version, "meta.lastModified": last_modified}},
            )
        if not result.matched_count:
            await _bump(self._collection, [current.id], last_modified)
            return current
        meta = {"created": current.created, "lastModified": last_modified, "version": version}
        return StoredResource(
            current.id,
            current.resource,
            current.created,
            last_modified,
            version,
            document={**current.document, "meta": meta},
        )

    async def delete(self, resource_id: str, expected_version: int | None = None) -> bool:
        """Remove the live resource (at ``expected_version``, when given); whether it was there."""
        with driver_errors():
            result = await self._collection.delete_one(self._target(resource_id, expected_version))
        return bool(result.deleted_count)

    async def soft_delete(
        self, resource_id: str, expected_version: int | None = None, *, deleted_at: datetime
    ) -> bool:
        """Mark the live resource (at ``expected_version``, when given) deleted at ``deleted_at``: from
        then on no query of live resources finds it; whether it was there. Its document, version and
        ``meta`` stay as they were, for a restore (:meth:`restore`) or the purge (:meth:`purge_deleted`).
        """
        with driver_errors():
            result = await self._collection.update_one(
                self._target(resource_id, expected_version), {"$set": {DELETED: deleted_at}}
            )
        return bool(result.matched_count)

    @staticmethod
    def _target(resource_id: str, expected_version: int | None) -> dict[str, Any]:
        query: dict[str, Any] = {"_id": resource_id}
        if expected_version is not None:
            query["meta.version"] = expected_version
        return _live(query)

    async def holder(self, resource: Mapping[str, Any]) -> tuple[StoredResource, bool] | None:
        """The resource, live or soft-deleted, whose unique name (:data:`UNIQUE_NAME`) is the one
        ``resource`` (canonical) carries, read whole, and whether it is soft-deleted; None when no
        document holds it. The one read of live resources that also sees deleted ones: a POST that
        clashes on the name restores or adopts what holds it. The unique index makes it one document.
        """
        name = UNIQUE_NAME[self._resource_type.name]
        value = resource.get(name)
        if type(value) is not str:
            return None
        with driver_errors():
            doc = await self._collection.find_one({f"{SHADOW}.{name}": value.lower()})
        if doc is None:
            return None
        return from_document(doc, self._resource_type), doc.get(DELETED) is not None

    async def restore(
        self, deleted: StoredResource, resource: dict[str, Any], *, last_modified: datetime
    ) -> StoredResource | None:
        """Make the soft-deleted ``deleted`` (read whole by :meth:`holder`) live again with the
        attributes of ``resource`` (canonical, replacing all of its own), its ``id`` and
        ``meta.created`` kept and its version moved on by one, in one write guarded by its version
        and its mark; None when another writer restored or purged it first."""
        if deleted.document is None or deleted.response_only:
            raise ValueError("a restore needs the deleted resource as read whole from the store")
        version = deleted.version + 1
        update = update_document(
            deleted.document,
            resource,
            changed_keys(deleted.resource, resource),
            self._resource_type,
            last_modified=last_modified,
            version=version,
        )
        update.document.pop(DELETED, None)
        unset = dict.fromkeys((*update.unset_fields, DELETED), "")
        with driver_errors():
            result = await self._collection.update_one(
                {"_id": deleted.id, "meta.version": deleted.version, DELETED: {"$ne": None}},
                {"$set": update.set_fields, "$unset": unset},
            )
        if not result.matched_count:
            return None
        return StoredResource(
            deleted.id, resource, deleted.created, last_modified, version, document=update.document
        )

    async def purge_deleted(self, before: datetime, limit: int) -> list[str]:
        """Remove up to ``limit`` resources soft-deleted before ``before``: the ids removed."""
        condition = {DELETED: {"$lt": before}}
        with driver_errors():
            docs = await self._collection.find(condition, {"_id": 1}).limit(limit).to_list(length=limit)
        ids = [doc["_id"] for doc in docs]
        if ids:
            with driver_errors():
                await self._collection.delete_many({"_id": {"$in": ids}, **condition})
        return ids

    async def find(
        self,
        query: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        skip: int,
        limit: int,
        *,
        response_only: bool = False,
    ) -> list[StoredResource]:
        projection = self._response_projection if response_only else None
        with driver_errors():
            docs = (
                await self._collection.find(_live(query), projection)
                .sort(list(sort))
                .skip(skip)
                .limit(limit)
                .to_list(length=limit)
            )
        return from_documents(docs, self._resource_type, response_only=response_only)

    async def find_after(
        self,
        query: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        after: Sequence[Any] | None,
        limit: int,
        *,
        backwards: bool = False,
    ) -> list[tuple[StoredResource, tuple[Any, ...]]]:
        """A page read by key (RFC 9865 cursor paging): up to ``limit`` resources matching ``query``
        that lie strictly after the position ``after`` (one value per sort field; None: from the
        start) in the order ``sort``, each with its position, in that order. ``backwards``: those
        strictly before it instead, still in the order ``sort`` (the range and the sort reversed,
        then the page turned round). One range read (``storage/keyset.py``), whatever the depth.

        Raises ValueError when a resource holds an array at a sort field: no position orders it.
        """
        order = reversed_sort(sort) if backwards else list(sort)
        selector = _live(query)
        if after is not None:
            selector = {"$and": [selector, keyset_range(order, after)]}
        # The positions are read off the documents: a sort field inside the response projection's
        # exclusions (a lower-cased shadow) needs the whole document.
        excluded = self._response_projection
        hidden = any(
            ".".join(parts[: n + 1]) in excluded
            for parts in (field.split(".") for field, _ in sort)
            for n in range(len(parts))
        )
        projection = None if hidden else self._response_projection
        with driver_errors():
            docs = (
                await self._collection.find(selector, projection)
                .sort(order)
                .limit(limit)
                .to_list(length=limit)
            )
        if backwards:
            docs.reverse()
        page: list[tuple[StoredResource, tuple[Any, ...]]] = []
        for doc in docs:
            position = sort_key(doc, sort)
            if position is None:
                raise ValueError("a sort field holds an array: no position orders the resource")
            page.append((from_document(doc, self._resource_type, response_only=not hidden), position))
        return page

    async def count(self, query: Mapping[str, Any]) -> int:
        with driver_errors():
            return int(await self._collection.count_documents(_live(query)))

    async def insert_many(self, resources: Sequence[StoredResource]) -> tuple[int, UniquenessError | None]:
        """Insert new resources in order in one round trip, stopping at the first uniqueness clash.

        Returns how many were inserted (a prefix of ``resources``) and the clash that stopped the rest,
        if any, so that a caller can answer each resource as if it had been inserted alone (a Bulk
        request's run of creates, RFC 7644 §3.7). Any other failure raises as :meth:`insert` does.
        """
        if not resources:
            return 0, None
        with driver_errors():
            try:
                await self._collection.insert_many([self._document(r) for r in resources], ordered=True)
            except BulkWriteError as exc:
                clash = _clash(exc)
                if clash is None:
                    raise
                return clash
        return len(resources), None


def _any_of(values: Sequence[str]) -> Any:
    """The condition "one of ``values``": equality for one string (a GET's single user or group),
    ``$in`` otherwise. MongoDB plans both alike; the embedded store matches equality faster, and looks
    a single ``_id`` up without a scan (``storage/embedded.py``). Only a ``str`` is put in the equality
    position: anything else stays a literal inside ``$in``, so no value can be read as an operator."""
    if len(values) == 1 and type(values[0]) is str:
        return values[0]
    return {"$in": list(values)}


async def _bump(collection: Any, ids: Sequence[str], last_modified: datetime) -> None:
    """Move the version of each of ``ids`` in ``collection`` on by one (ids it lacks are skipped) and
    its ``lastModified`` to ``last_modified``, never back: one write, whatever the number of ids."""
    if ids:
        with driver_errors():
            await collection.update_many(
                _live({"_id": _any_of(ids)}),
                {"$inc": {"meta.version": 1}, "$max": {"meta.lastModified": last_modified}},
            )


# What a member's entry shows as its ``display``, by member type: a group's ``members`` show a user's
# userName and a group's displayName, a user's ``groups`` a group's displayName.
MEMBER_DISPLAY: Mapping[str, str] = {"User": "userName", "Group": "displayName"}


@dataclass(frozen=True, slots=True)
class Shown:
    """The resources whose representations show one resource through membership: the ``users``
    whose ``groups`` list it (its members, when it is a group) and the ``groups`` whose ``members``
    list it (the groups it belongs to)."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.users or self.groups)


@dataclass(frozen=True, slots=True)
class Member:
    """A resource that can be a group member: its id, type ("User" or "Group") and display name."""

    id: str
    type: str
    display: str | None


class MembershipRepository:
    """Group membership of one organization: one ``{_id: "<group>/<member>", g, m, t}`` document a pair.

    Adding or removing k members writes k pair documents in one round trip, whatever the group's
    size; no document grows with a group; concurrent changes are independent inserts and deletes, so
    none is lost. Pair ids join two server-issued UUIDs, which contain no ``/``.

    A pair shows in two representations, the group's ``members`` and (for a user) the user's
    ``groups``, so a change of pairs moves the versions of the resources it shows in
    (:meth:`touch`), before and after the pair writes (:meth:`change`): a reader that saw the
    old pairs holds an older version, and so does one that read while a crash stopped the writes.
    """

    def __init__(self, pairs: Any, users: Any, groups: Any) -> None:
        self._pairs = pairs
        self._users = users
        self._groups = groups
        self._collections = (
            ("User", users, MEMBER_DISPLAY["User"]),
            ("Group", groups, MEMBER_DISPLAY["Group"]),
        )

    @staticmethod
    def _pair_id(group_id: str, member_id: str) -> str:
        return f"{group_id}/{member_id}"

    async def find(self, ids: Sequence[str], kinds: Collection[str] | None = None) -> dict[str, Member]:
        """The users and groups among ``ids`` that exist, by id, with their display names.

        Users are looked up first; groups only for the ids that are not users, so a list of users
        costs as few round trips as it can. ``kinds`` ("User", "Group") limits the lookup to those
        collections: a user's groups are looked up in the groups collection only.
        """
        found: dict[str, Member] = {}
        remaining = list(ids)
        for kind, collection, display in self._collections:
            if not remaining:
                break
            if kinds is not None and kind not in kinds:
                continue
            with driver_errors():
                docs = await collection.find(_live({"_id": _any_of(remaining)}), {display: 1}).to_list(
                    length=None
                )
            for doc in docs:
                found[doc["_id"]] = Member(doc["_id"], kind, doc.get(display))
            remaining = [i for i in remaining if i not in found]
        return found

    async def groups_of(self, member_ids: Sequence[str]) -> dict[str, list[str]]:
        """The groups each of ``member_ids`` directly belongs to, in group-id order."""
        result: dict[str, list[str]] = {m: [] for m in member_ids}
        if member_ids:
            with driver_errors():
                pairs = (
                    await self._pairs.find({"m": _any_of(member_ids)}, {"g": 1, "m": 1})
                    .sort("g", ASCENDING)
                    .to_list(length=None)
                )
            for pair in pairs:
                result[pair["m"]].append(pair["g"])
        return result

    async def member_ids(self, group_ids: Sequence[str], kind: str | None = None) -> dict[str, list[str]]:
        """The direct members of each group (optionally only Users or only Groups), in member-id order."""
        result: dict[str, list[str]] = {g: [] for g in group_ids}
        if group_ids:
            # The kind is checked here rather than in the query, so the (g, m) index serves both the
            # lookup and the order.
            with driver_errors():
                pairs = (
                    await self._pairs.find({"g": _any_of(group_ids)}, {"g": 1, "m": 1, "t": 1})
                    .sort("m", ASCENDING)
                    .to_list(length=None)
                )
            for pair in pairs:
                if kind is None or pair.get("t") == kind:
                    result[pair["g"]].append(pair["m"])
        return result

    async def members_of(self, group_ids: Sequence[str]) -> dict[str, list[Member]]:
        """The direct members of several groups, with display names; users first, then groups.

        A pair whose member no longer exists (a delete that stopped halfway) is skipped.
        """
        ids = await self.member_ids(group_ids)
        found = await self.find(sorted({m for members in ids.values() for m in members}))
        order = {"User": 0, "Group": 1}
        return {
            gid: sorted((found[m] for m in members if m in found), key=lambda x: (order[x.type], x.id))
            for gid, members in ids.items()
        }

    async def present(self, group_id: str, member_ids: Sequence[str]) -> set[str]:
        """Which of ``member_ids`` are direct members of the group (one lookup of k pair ids)."""
        if not member_ids:
            return set()
        ids = [self._pair_id(group_id, m) for m in member_ids]
        with driver_errors():
            pairs = await self._pairs.find({"_id": _any_of(ids)}, {"m": 1}).to_list(length=None)
        return {pair["m"] for pair in pairs}

    async def add(self, group_id: str, members: Sequence[Member]) -> None:
        """Add members; ones already present are left as they are."""
        if not members:
            return
        pairs = [
            {"_id": self._pair_id(group_id, m.id), "g": group_id, "m": m.id, "t": m.type} for m in members
        ]
        with driver_errors():
            try:
                await self._pairs.insert_many(pairs, ordered=False)
            except BulkWriteError as exc:
                # Unordered: every new pair was inserted. Clashes on _id are members already present;
                # anything else is a real failure.
                errors = exc.details.get("writeErrors", [])
                if not errors or any(error.get("code") != _DUPLICATE_KEY for error in errors):
                    raise

    async def remove(self, group_id: str, member_ids: Sequence[str]) -> None:
        if member_ids:
            ids = [self._pair_id(group_id, m) for m in member_ids]
            with driver_errors():
                await self._pairs.delete_many({"_id": _any_of(ids)})

    async def showing(self, resource_id: str) -> Shown:
        """The resources whose representations show ``resource_id`` (:class:`Shown`): one read of its
        pairs, as member and as group, so as many documents as it has memberships and members."""
        with driver_errors():
            pairs = await self._pairs.find(
                {"$or": [{"g": resource_id}, {"m": resource_id}]}, {"g": 1, "m": 1, "t": 1}
            ).to_list(length=None)
        users = sorted(p["m"] for p in pairs if p["g"] == resource_id and p.get("t") == "User")
        groups = sorted(p["g"] for p in pairs if p["m"] == resource_id)
        return Shown(tuple(users), tuple(groups))

    async def touch(self, shown: Shown, *, last_modified: datetime) -> None:
        """Move the versions of the resources ``shown`` on by one, and their ``lastModified`` to
        ``last_modified`` (RFC 7643 §3.1: when the resource's details changed): at most one write
        per resource type, whatever their number. A resource that is gone is skipped."""
        await _bump(self._users, shown.users, last_modified)
        await _bump(self._groups, shown.groups, last_modified)

    async def change(
        self, group_id: str, add: Sequence[Member], remove: Sequence[str], *, last_modified: datetime
    ) -> None:
        """Add ``add`` to the group and remove the members ``remove`` names, moving the version of
        each user among them before and after the pair writes: O(k) for k members.

        A reader that read a user after the first move and its pairs before the writes holds a
        version the second move leaves behind; a crash between the writes leaves the users moved
        once, so a tag read before the change no longer matches. (A member group's representation
        does not show the groups it is in: only users move. ``remove`` names ids of either type; a
        group's id matches no user.) The group's own version is its service's.
        """
        users = Shown(users=tuple(sorted({m.id for m in add if m.type == "User"} | set(remove))))
        await self.touch(users, last_modified=last_modified)
        await self.add(group_id, add)
        await self.remove(group_id, remove)
        await self.touch(users, last_modified=last_modified)

    async def replace(
        self, group_id: str, members: Sequence[Member], *, last_modified: datetime
    ) -> tuple[list[str], list[str]]:
        """Make ``members`` the group's members (:meth:`change`): the ids added and removed.

        The current members are read first (O(n), as a replacement is), and only the pairs that
        differ are written: new members are added before the others are dropped, so a concurrent
        reader never sees the group transiently empty. A pair added concurrently by another process
        after that read is kept, as if that add came after this replacement.
        """
        current = set((await self.member_ids([group_id]))[group_id])
        wanted = {m.id for m in members}
        adding = [m for m in members if m.id not in current]
        removing = sorted(current - wanted)
        await self.change(group_id, adding, removing, last_modified=last_modified)
        return [m.id for m in adding], removing

    async def forget(self, resource_id: str) -> None:
        """Drop every pair naming a deleted user or group, as member and as group."""
        with driver_errors():
            await self._pairs.delete_many({"$or": [{"g": resource_id}, {"m": resource_id}]})

    async def forget_all(self, resource_ids: Sequence[str]) -> None:
        """:meth:`forget` for several resources (purged ones) in one write."""
        if resource_ids:
            ids = list(resource_ids)
            with driver_errors():
                await self._pairs.delete_many({"$or": [{"g": {"$in": ids}}, {"m": {"$in": ids}}]})


class Store:
    """The per-organization repositories of one database, with indexes ensured on first use.

    Repositories hold no state of their own, so each organization's are built once and reused: making
    a collection handle costs more than the rest of a cached request's work. The caches grow by three
    small objects per organization this process has served.

    ``resource_types`` gives each organization's resource types (its declared extensions): a
    repository is built again when its organization's resource type changes (a reload of the
    organizations file), and the collection's declared indexes are then brought in line with it
    (:func:`declared_indexes`): the missing ones made, the ones no longer declared dropped.
    """

    def __init__(self, db: Any, resource_types: OrganizationResourceTypes | None = None) -> None:
        self._db = db
        self._types = OrganizationResourceTypes() if resource_types is None else resource_types
        self._ensured: set[str] = set()
        # Collection name -> the resource type whose declared indexes it was last brought in line with.
        self._declared: dict[str, ResourceType] = {}
        self._lock = asyncio.Lock()
        self._users: dict[str, ResourceRepository] = {}
        self._groups: dict[str, ResourceRepository] = {}
        self._memberships: dict[str, MembershipRepository] = {}

    @property
    def db(self) -> Any:
        return self._db

    async def organizations(self) -> list[str]:
        """The organizations that have a users or groups collection in this database, sorted."""
        with driver_errors():
            names = await self._db.list_collection_names()
        return sorted({match[1] for name in names if (match := _RESOURCE_COLLECTION.fullmatch(name))})

    async def users(self, org_id: str) -> ResourceRepository:
        resource_type = self._types.user(org_id)
        repository = self._users.get(org_id)
        if repository is None or repository.resource_type is not resource_type:
            collection = await self._collection(org_id, resource_type)
            repository = self._users[org_id] = ResourceRepository(collection, resource_type)
        return repository

    async def groups(self, org_id: str) -> ResourceRepository:
        resource_type = self._types.group(org_id)
        repository = self._groups.get(org_id)
        if repository is None or repository.resource_type is not resource_type:
            collection = await self._collection(org_id, resource_type)
            repository = self._groups[org_id] = ResourceRepository(collection, resource_type)
        return repository

    async def memberships(self, org_id: str) -> MembershipRepository:
        repository = self._memberships.get(org_id)
        if repository is None:
            name = membership_collection_name(org_id)
            pairs = self._db[name]
            if name not in self._ensured:
                await self._ensure(name, pairs, MEMBERSHIP_INDEXES)
            repository = self._memberships[org_id] = MembershipRepository(
                pairs,
                await self._collection(org_id, self._types.user(org_id)),
                await self._collection(org_id, self._types.group(org_id)),
            )
        return repository

    async def _collection(self, org_id: str, resource_type: ResourceType) -> Any:
        name = collection_name(org_id, resource_type)
        collection = self._db[name]
        if name not in self._ensured:
            indexes = USER_INDEXES if resource_type.name == USER_RESOURCE_TYPE.name else GROUP_INDEXES
            await self._ensure(name, collection, indexes)
        if self._declared.get(name) is not resource_type:
            await self._ensure_declared(name, collection, resource_type)
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
            for index_name, (keys, options) in indexes.items():
                with driver_errors():
                    await collection.create_index(keys, name=index_name, **options)
            self._ensured.add(name)

    async def _ensure_declared(self, name: str, collection: Any, resource_type: ResourceType) -> None:
        """Make the collection's declared indexes those of ``resource_type`` (:func:`declared_indexes`).

        A unique index that cannot be built (stored values already clash: the attribute was declared
        unique after they were written) is logged and left out; the next reload tries again.
        """
        async with self._lock:
            if self._declared.get(name) is resource_type:
                return
            wanted = declared_indexes(resource_type)
            with driver_errors():
                existing = await collection.index_information()
            for index_name in existing:
                if index_name.startswith(DECLARED_INDEX_PREFIX) and index_name not in wanted:
                    with driver_errors():
                        await collection.drop_index(index_name)
            for index_name, (keys, options) in wanted.items():
                if index_name in existing:
                    continue
                try:
                    with driver_errors():
                        await collection.create_index(keys, name=index_name, **options)
                except UniquenessError:
                    logger.error(
                        "index %s on %s not built: stored values already clash, so uniqueness is not "
                        "enforced until they are made unique and the organizations file is reloaded",
                        index_name,
                        name,
                    )
            self._declared[name] = resource_type


__all__ = [
    "DELETED",
    "MEMBER_DISPLAY",
    "Member",
    "MembershipRepository",
    "ResourceRepository",
    "Shown",
    "Store",
    "collection_name",
    "declared_indexes",
    "is_valid_org_id",
]
