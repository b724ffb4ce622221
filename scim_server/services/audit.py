"""The audit trail: who wrote which resource, how, and when; never what the values were.

Every successful create, replace, patch, delete and restore of a User or Group records one event: the actor
(organization, token id and token name), the resource type and id, the operation, the changed
attribute paths (``name.familyName``, ``emails``, ``members``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``), the membership counts of
a group write, and the time (UTC). Paths are computed by comparing the canonical resources before
and after the write; only the paths leave this module, so no value (a password, an email address)
is ever stored. The path ``password`` does appear when a password was set.

The event is written after the resource write succeeded. A failed audit write does not fail the
client's request, which has already taken effect: it is logged.

The audit trail IS the change-event log: :meth:`AuditTrail.record` is the one write path, and each
record carries the organization's next sequence number (``storage/audit.py``), which the event feed
and the webhooks follow (``services/events.py``, ``services/webhooks.py``). There is no second writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scim_server.errors import ScimError
from scim_server.schema.catalog import ResourceType
from scim_server.storage.audit import AuditStore

logger = logging.getLogger("scim_server.audit")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: the organization and the token it used (never the token's secret)."""

    org_id: str
    token_id: str
    token_name: str


@dataclass(frozen=True, slots=True)
class MemberChange:
    """How many members a group write added and removed."""

    added: int
    removed: int


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded write. ``changed`` holds attribute paths only; ``version`` is the resource's
    ``meta.version`` after the write (None for a delete). ``sequence`` and ``event_id`` are given by
    the store when the event is written (None before)."""

    time: datetime
    org_id: str
    token_id: str | None
    token_name: str | None
    resource_type: str
    resource_id: str
    operation: str
    changed: tuple[str, ...] = ()
    members: MemberChange | None = None
    version: int | None = None
    sequence: int | None = field(default=None, compare=False)
    event_id: str | None = field(default=None, compare=False)

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "time": self.time,
            "org": self.org_id,
            "tokenId": self.token_id,
            "tokenName": self.token_name,
            "resourceType": self.resource_type,
            "resourceId": self.resource_id,
            "operation": self.operation,
            "changed": list(self.changed),
            "version": self.version,
        }
        if self.members is not None:
            doc["members"] = {"added": self.members.added, "removed": self.members.removed}
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> AuditEvent:
        members = doc.get("members")
        return cls(
            time=doc["time"],
            org_id=doc["org"],
            token_id=doc.get("tokenId"),
            token_name=doc.get("tokenName"),
            resource_type=doc["resourceType"],
            resource_id=doc["resourceId"],
            operation=doc["operation"],
            changed=tuple(doc.get("changed", ())),
            members=None if members is None else MemberChange(members["added"], members["removed"]),
            version=doc.get("version"),
            sequence=doc.get("seq"),
            event_id=None if doc.get("_id") is None else str(doc["_id"]),
        )


def _is_object(value: Any) -> bool:
    """None or a mapping; the exact-dict test first, as canonical resources hold plain dicts (the
    Mapping ABC check is slow, and strings, the common case, fail it slowly)."""
    kind = type(value)
    if value is None or kind is dict:
        return True
    return kind not in _JSON_NON_OBJECTS and isinstance(value, Mapping)


_JSON_NON_OBJECTS = frozenset({str, int, float, bool, list})


def _diff(path: str, before: Any, after: Any) -> list[str]:
    """The paths under ``path`` that differ. A single-valued complex attribute is compared sub-attribute
    by sub-attribute (``name.familyName``); anything else, multi-valued ones included, as a whole."""
    if before == after:
        return []
    if _is_object(before) and _is_object(after):
        old, new = before or {}, after or {}
        return [f"{path}.{key}" for key in old.keys() | new.keys() if old.get(key) != new.get(key)]
    return [path]


def changed_paths(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    resource_type: ResourceType,
    keys: Iterable[str] | None = None,
) -> list[str]:
    """The attribute paths whose values differ between two canonical resources, sorted.

    Extension attributes are named by their full path (RFC 7644 §3.10): ``<schema URN>:<attribute>``.
    ``keys``: the top-level keys that may differ, when the caller knows them (every other one is
    equal); by default all of both resources' keys are compared.
    """
    extensions = resource_type.extension_ids
    paths: list[str] = []
    for key in before.keys() | after.keys() if keys is None else keys:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in extensions:
            old_ext, new_ext = old or {}, new or {}
            for name in old_ext.keys() | new_ext.keys():
                paths.extend(_diff(f"{key}:{name}", old_ext.get(name), new_ext.get(name)))
        else:
            paths.extend(_diff(key, old, new))
    return sorted(paths)


def created_paths(resource: Mapping[str, Any], resource_type: ResourceType) -> list[str]:
    """``changed_paths({}, resource, resource_type)`` for a new resource, sorted: every attribute, a
    single-valued complex one by its sub-attributes (in one pass, with no comparison to make)."""
    extensions = resource_type.extension_ids
    paths: list[str] = []
    for key, value in resource.items():
        kind = value.__class__
        if key in extensions and _is_object(value):
            for name, item in (value or {}).items():
                paths.extend(_created(f"{key}:{name}", item))
        elif kind is dict:  # _created, inline for the usual JSON values
            paths.extend(f"{key}.{sub}" for sub, item in value.items() if item is not None)
        elif kind in _JSON_NON_OBJECTS:
            paths.append(key)
        else:
            paths.extend(_created(key, value))
    return sorted(paths)


def _created(path: str, value: Any) -> list[str]:
    if value is None:
        return []
    if _is_object(value):
        return [f"{path}.{key}" for key, item in value.items() if item is not None]
    return [path]


class AuditTrail:
    """Records audit events per organization and reads them back, newest first."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    async def record(self, event: AuditEvent) -> bool:
        """Write an event, which is also the change event (one insert with its sequence number); a
        failure is logged, never raised. Returns whether it was written."""
        try:
            await (await self._store.events(event.org_id)).insert(event.to_document())
        except Exception as error:  # the client's write already succeeded: see the module docstring
            reason = error.detail if isinstance(error, ScimError) else type(error).__name__
            logger.error(
                "audit event not recorded: %s %s %s in organization %s by token %s: %s",
                event.operation,
                event.resource_type,
                event.resource_id,
                event.org_id,
                event.token_id,
                reason,
            )
            return False
        return True

    async def events(
        self,
        org_id: str,
        *,
        resource_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """An organization's events, newest first, optionally of one resource and from ``since`` on."""
        repository = await self._store.events(org_id)
        docs = await repository.find(resource_id=resource_id, since=since, limit=limit)
        return [AuditEvent.from_document(doc) for doc in docs]
