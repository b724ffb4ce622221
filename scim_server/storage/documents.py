"""Canonical resources <-> stored documents, following the naming rules of ``schema.layout``.

A stored document is the SCIM resource itself plus internal ``_`` keys (``_id`` and the ``_lc``
lower-cased shadows). These two functions are pure; the repository is the only caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim_server.schema.attributes import Attribute, Schema
from scim_server.schema.catalog import ResourceType
from scim_server.schema.layout import ID_FIELD, SHADOW, scim_name, stored_name


@dataclass(frozen=True, slots=True)
class StoredResource:
    """A resource as read from the store: its canonical attributes and server-managed metadata."""

    id: str
    resource: dict[str, Any]
    created: datetime
    last_modified: datetime
    version: int


def _shadowed(value: Mapping[str, Any], attributes: Mapping[str, Attribute]) -> dict[str, Any]:
    """Copy one object level, adding ``_lc`` for its case-insensitive strings and recursing."""
    out: dict[str, Any] = {}
    shadow: dict[str, Any] = {}
    for key, item in value.items():
        attribute = attributes.get(key)
        if attribute is None:
            out[key] = item
            continue
        if attribute.is_complex:
            subs = {a.name: a for a in attribute.sub_attributes}
            if attribute.multi_valued:
                out[key] = [_shadowed(element, subs) for element in item]
            else:
                out[key] = _shadowed(item, subs)
            continue
        out[stored_name(key)] = item
        if attribute.folds_case:
            shadow[key] = [v.lower() for v in item] if attribute.multi_valued else item.lower()
    if shadow:
        out[SHADOW] = shadow
    return out


def _schema_attributes(schema: Schema) -> dict[str, Attribute]:
    return {a.name: a for a in schema.attributes}


def to_document(
    resource: Mapping[str, Any],
    resource_type: ResourceType,
    *,
    id: str,
    created: datetime,
    last_modified: datetime,
    version: int,
) -> dict[str, Any]:
    """Build the stored document of a canonical resource."""
    # Extension URNs contain ":", attribute names never do: most keys skip the URN lookup.
    core = {k: v for k, v in resource.items() if ":" not in k or not resource_type.extension(k)}
    # externalId is a common attribute, kept at the root like the core ones.
    attributes = _schema_attributes(resource_type.schema)
    doc = _shadowed(core, attributes)
    for extension in resource_type.extensions:
        data = resource.get(extension.schema.id)
        if data:
            doc[extension.storage_key] = _shadowed(data, _schema_attributes(extension.schema))
    doc[ID_FIELD] = id
    doc["meta"] = {"created": created, "lastModified": last_modified, "version": version}
    return doc


_STORED_REF = stored_name("$ref")
# A tuple, not ``dict | list``: isinstance checks a tuple about twice as fast as a union.
_CONTAINERS = (dict, list)


def _strip(value: Any) -> Any:
    """Drop internal ``_`` keys and give stored names back their SCIM spelling.

    Written for speed (it runs on every document read): scalars are not passed through a call.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key.startswith("_"):
                continue
            if isinstance(item, _CONTAINERS):
                item = _strip(item)
            out[scim_name(key) if key == _STORED_REF else key] = item
        return out
    if isinstance(value, list):
        return [_strip(v) if isinstance(v, _CONTAINERS) else v for v in value]
    return value


def from_document(doc: Mapping[str, Any], resource_type: ResourceType) -> StoredResource:
    """Read a stored document back into a canonical resource and its metadata."""
    resource: dict[str, Any] = {}
    by_key = {ext.storage_key: ext for ext in resource_type.extensions}
    for key, value in doc.items():
        if key.startswith("_") or key == "meta":
            continue
        if isinstance(value, _CONTAINERS):
            value = _strip(value)
        extension = by_key.get(key)
        resource[key if extension is None else extension.schema.id] = value
    meta = doc["meta"]
    return StoredResource(
        id=doc[ID_FIELD],
        resource=resource,
        created=meta["created"],
        last_modified=meta["lastModified"],
        version=meta["version"],
    )
