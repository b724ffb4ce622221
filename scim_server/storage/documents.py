"""Canonical resources <-> stored documents, following the naming rules of ``schema.layout``.

A stored document is the SCIM resource itself plus internal ``_`` keys (``_id`` and the ``_lc``
lower-cased shadows). These two functions are pure; the repository is the only caller.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from bson.tz_util import utc as bson_utc

from scim_server.schema.attributes import Attribute, Returned
from scim_server.schema.catalog import ResourceType
from scim_server.schema.layout import ID_FIELD, SHADOW, scim_name, stored_name

# The field that marks a soft-deleted document with the time of its deletion; absent (or null) on a
# live one. The repository excludes marked documents from every query of live resources.
DELETED = "_deleted"


class StoredResource:
    """A resource as stored: its metadata, its stored document, and its canonical attributes.

    Read from the store, only the document is at hand: the canonical ``resource`` is derived from it on
    first use, so a read that only renders (GET, list) never builds it. Built by a write, both are given.
    Equality is on the resource and its metadata, whichever way it was made.
    """

    __slots__ = (
        "_document",
        "_resource",
        "_resource_type",
        "created",
        "id",
        "last_modified",
        "response_only",
        "version",
    )

    def __init__(
        self,
        id: str,
        resource: dict[str, Any] | None,
        created: datetime,
        last_modified: datetime,
        version: int,
        *,
        document: Mapping[str, Any] | None = None,
        resource_type: ResourceType | None = None,
        response_only: bool = False,
    ) -> None:
        if resource is None and (document is None or resource_type is None):
            raise ValueError("a stored resource needs its resource, or its document and resource type")
        # Read for a response (see response_projection): rendered, never written back.
        self.response_only = response_only
        self.id = id
        self.created = created
        self.last_modified = last_modified
        self.version = version
        self._resource = resource
        self._document = document
        self._resource_type = resource_type

    @property
    def resource(self) -> dict[str, Any]:
        """The canonical resource (SCIM names, no internal keys, no meta)."""
        if self._resource is None:
            if self.response_only:
                raise RuntimeError("a resource read for a response lacks what a write needs; read it whole")
            assert self._document is not None and self._resource_type is not None
            self._resource = _canonical(self._document, self._resource_type)
        return self._resource

    @property
    def built_resource(self) -> dict[str, Any] | None:
        """The canonical resource if it is already at hand (a write built it, or it was asked for)."""
        return self._resource

    @property
    def document(self) -> Mapping[str, Any] | None:
        """The stored document, when this resource was read from or built for the store."""
        return self._document

    def _key(self) -> tuple[Any, ...]:
        return (self.id, self.resource, self.created, self.last_modified, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredResource):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable contents, like a dict

    def __repr__(self) -> str:
        return (
            f"StoredResource(id={self.id!r}, resource={self.resource!r}, created={self.created!r}, "
            f"last_modified={self.last_modified!r}, version={self.version!r})"
        )


# The time zones stored datetimes come back in: the driver's UTC (tz_aware reads) and the standard one.
# Times in them need no conversion to be written in UTC.
UTC_ZONES: tuple[tzinfo, ...] = (UTC, bson_utc)


# How one attribute is stored: (stored key, the shapes of its sub-attributes if complex, multi-valued,
# has a lower-cased shadow). Built once per resource type (:func:`_shapes`).
_Shape = tuple[str, "dict[str, _Shape] | None", bool, bool]


def _shadowed(value: Mapping[str, Any], shapes: Mapping[str, _Shape]) -> dict[str, Any]:
    """Copy one object level, adding ``_lc`` for its case-insensitive strings and recursing."""
    out: dict[str, Any] = {}
    shadow: dict[str, Any] = {}
    for key, item in value.items():
        shape = shapes.get(key)
        if shape is None:
            out[key] = item
            continue
        stored, subs, multi, folds = shape
        if subs is not None:
            out[key] = [_shadowed(element, subs) for element in item] if multi else _shadowed(item, subs)
            continue
        out[stored] = item
        if folds:
            shadow[key] = [v.lower() for v in item] if multi else item.lower()
    if shadow:
        out[SHADOW] = shadow
    return out


def _level_shapes(attributes: tuple[Attribute, ...]) -> dict[str, _Shape]:
    return {
        a.name: (
            stored_name(a.name),
            _level_shapes(a.sub_attributes) if a.is_complex else None,
            a.multi_valued,
            a.folds_case,
        )
        for a in attributes
    }


@functools.cache
def _shapes(resource_type: ResourceType) -> tuple[dict[str, _Shape], dict[str, dict[str, _Shape]]]:
    """How a resource type's attributes are stored: the core schema's shapes, and each extension's by
    its URN. Cached per resource type, a catalog constant: every write stores through them."""
    extensions = {e.schema.id: _level_shapes(e.schema.attributes) for e in resource_type.extensions}
    return _level_shapes(resource_type.schema.attributes), extensions


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
    shapes, extension_shapes = _shapes(resource_type)
    doc = _shadowed(core, shapes)
    for extension in resource_type.extensions:
        data = resource.get(extension.schema.id)
        if data:
            doc[extension.storage_key] = _shadowed(data, extension_shapes[extension.schema.id])
    doc[ID_FIELD] = id
    doc["meta"] = {"created": created, "lastModified": last_modified, "version": version}
    return doc


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The top-level keys of two canonical resources whose values differ (absent counts as a value):
    those of ``after`` in its order, then those only ``before`` has. Empty when the two are equal."""
    # Identity first: a patch shares every value it did not change with the resource it changed.
    changed = [
        key for key, value in after.items() if (old := before.get(key, _ABSENT)) is not value and old != value
    ]
    changed.extend(key for key in before if key not in after)
    return changed


_ABSENT = object()


class DocumentUpdate:
    """A write's new stored document and the top-level ``$set``/``$unset`` that make it from the old."""

    __slots__ = ("document", "set_fields", "unset_fields")

    def __init__(
        self, document: dict[str, Any], set_fields: dict[str, Any], unset_fields: tuple[str, ...]
    ) -> None:
        self.document = document
        self.set_fields = set_fields
        self.unset_fields = unset_fields


def update_document(
    document: Mapping[str, Any],
    resource: Mapping[str, Any],
    changed: Collection[str],
    resource_type: ResourceType,
    *,
    last_modified: datetime,
    version: int,
) -> DocumentUpdate:
    """The stored document of ``resource``, made from ``document`` (the stored document of the resource
    before a write) by rebuilding only the top-level keys in ``changed`` (canonical keys: attribute
    names and extension URNs; absent from ``resource`` means removed) and the metadata; with the
    top-level fields to set and to unset in the store to turn the one into the other.

    Equal to what :func:`to_document` builds from ``resource`` when ``changed`` names every top-level
    key whose value differs (a property test holds it to that, and the fields to applying them);
    unchanged values are shared with ``document``, not copied. A written attribute keeps its place and
    a new one goes last, as the store places ``$set`` fields. ``_id`` is never among the fields.
    """
    doc = dict(document)
    shapes, extension_shapes = _shapes(resource_type)
    written: list[str] = []
    removed: list[str] = []
    shadow: dict[str, Any] | None = None
    for key in changed:
        extension = resource_type.extension(key) if ":" in key else None
        if extension is not None:
            data = resource.get(key)
            ext_shapes = extension_shapes[extension.schema.id]
            kept = _undeclared(document.get(extension.storage_key), ext_shapes)
            if data:
                written_ext = _shadowed(data, ext_shapes)
                if kept:
                    written_ext = _merged(written_ext, kept)
                doc[extension.storage_key] = written_ext
                written.append(extension.storage_key)
            elif kept:
                doc[extension.storage_key] = kept
                written.append(extension.storage_key)
            elif extension.storage_key in doc:
                del doc[extension.storage_key]
                removed.append(extension.storage_key)
            continue
        # The attribute alone, stored as to_document stores it: its stored key, and its shadow if any.
        value = resource.get(key)
        part = {} if value is None else _shadowed({key: value}, shapes)
        lower = part.pop(SHADOW, {}).get(key)
        shape = shapes.get(key)
        if part:
            doc.update(part)
            written.extend(part)
        else:
            stored = key if shape is None else shape[0]
            if stored in doc:
                del doc[stored]
                removed.append(stored)
        if shape is not None and shape[3]:  # it has a lower-cased shadow
            if shadow is None:
                shadow = dict(doc.get(SHADOW) or {})
            if lower is None:
                shadow.pop(key, None)
            else:
                shadow[key] = lower
    if shadow is not None:
        if shadow:
            doc[SHADOW] = shadow
            written.append(SHADOW)
        elif SHADOW in doc:
            del doc[SHADOW]
            removed.append(SHADOW)
    meta = document["meta"]
    doc["meta"] = {"created": meta["created"], "lastModified": last_modified, "version": version}
    written.append("meta")
    return DocumentUpdate(doc, {key: doc[key] for key in written}, tuple(removed))


def _undeclared(stored: Any, shapes: Mapping[str, _Shape]) -> dict[str, Any]:
    """The values a stored extension object holds for attributes its schema no longer declares (an
    organization changed its declared extension), with their shadows: kept by every write, so that
    re-declaring an attribute finds its values again. Empty when there are none (the usual case)."""
    if not isinstance(stored, Mapping):
        return {}
    kept = {key: value for key, value in stored.items() if key != SHADOW and key not in shapes}
    if kept:
        shadow = stored.get(SHADOW)
        if isinstance(shadow, Mapping):
            lower = {key: value for key, value in shadow.items() if key in kept}
            if lower:
                kept[SHADOW] = lower
    return kept


def _merged(stored: dict[str, Any], kept: Mapping[str, Any]) -> dict[str, Any]:
    """A written extension object with the undeclared values (:func:`_undeclared`) added back."""
    out = {**stored, **{key: value for key, value in kept.items() if key != SHADOW}}
    lower = kept.get(SHADOW)
    if lower:
        out[SHADOW] = {**stored.get(SHADOW, {}), **lower}
    return out


class Assignment:
    """New values for top-level simple attributes, in stored terms: the ``$set`` fields that store them
    (each under its stored key, with its lower-cased shadow when it folds case) and the condition that
    a document holds another value for at least one of them (compared as stored: the store's equality
    on strings and booleans is Python's)."""

    __slots__ = ("condition", "fields", "values")

    def __init__(self, values: Mapping[str, Any], resource_type: ResourceType) -> None:
        shapes = _shapes(resource_type)[0]
        self.values: dict[str, Any] = {}  # by stored key
        shadows: dict[str, Any] = {}
        for name, value in values.items():
            shape = shapes.get(name)  # None for the common externalId: stored as named, no shadow
            self.values[name if shape is None else shape[0]] = value
            if shape is not None and shape[3]:
                shadows[f"{SHADOW}.{name}"] = value.lower()
        self.fields = {**self.values, **shadows}
        differs = [{key: {"$ne": value}} for key, value in self.values.items()]
        self.condition: dict[str, Any] = differs[0] if len(differs) == 1 else {"$or": differs}

    def changed(self, before: Mapping[str, Any]) -> list[str]:
        """The attribute names whose values ``before`` (the stored document) did not hold, sorted."""
        values = self.values.items()
        return sorted(scim_name(key) for key, value in values if before.get(key, _ABSENT) != value)

    def applied(self, before: Mapping[str, Any], last_modified: datetime) -> dict[str, Any]:
        """The document ``before`` (read for a response, without shadows) with the values stored and the
        metadata of the write: the store's own result (set fields keep their place, new ones go last)."""
        doc = dict(before)
        doc.update(self.values)
        meta = before["meta"]
        version = meta["version"] + 1
        doc["meta"] = {"created": meta["created"], "lastModified": last_modified, "version": version}
        return doc


_STORED_REF = stored_name("$ref")
# A tuple, not ``dict | list``: isinstance checks a tuple faster than a union.
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


def _canonical(doc: Mapping[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    """The canonical resource of a stored document. What the resource type does not declare (an
    extension, or an extension's attribute, an organization no longer declares) is not part of it: it
    stays in the store as it is (:func:`_undeclared`), and comes back if declared again."""
    resource: dict[str, Any] = {}
    by_key = {ext.storage_key: ext for ext in resource_type.extensions}
    for key, value in doc.items():
        if key.startswith("_") or key == "meta":
            continue
        extension = by_key.get(key)
        if extension is None:
            if ":" in key:
                continue  # an extension's storage key (attribute names never hold ':'): undeclared
        elif isinstance(value, Mapping) and extension.declared:
            declared = _shapes(resource_type)[1][extension.schema.id]
            value = {k: v for k, v in value.items() if k in declared}
            if not value:
                continue
        if isinstance(value, _CONTAINERS):
            value = _strip(value)
        resource[key if extension is None else extension.schema.id] = value
    return resource


def from_document(
    doc: Mapping[str, Any], resource_type: ResourceType, *, response_only: bool = False
) -> StoredResource:
    """Read a stored document back: its metadata now, its canonical resource when first asked for.

    ``response_only``: the document was read with :func:`response_projection`, for rendering only.
    """
    meta = doc["meta"]
    return StoredResource(
        doc[ID_FIELD],
        None,
        meta["created"],
        meta["lastModified"],
        meta["version"],
        document=doc,
        resource_type=resource_type,
        response_only=response_only,
    )


def from_documents(
    docs: list[Mapping[str, Any]], resource_type: ResourceType, *, response_only: bool = False
) -> list[StoredResource]:
    """:func:`from_document` for a page of documents, in one call."""
    return [
        StoredResource(
            doc[ID_FIELD],
            None,
            (meta := doc["meta"])["created"],
            meta["lastModified"],
            meta["version"],
            document=doc,
            resource_type=resource_type,
            response_only=response_only,
        )
        for doc in docs
    ]


def response_projection(resource_type: ResourceType) -> dict[str, int]:
    """The projection of a read whose only use is a response: the ``_lc`` shadows and the attributes
    never returned (a password's hash) stay in the store, so the server neither receives nor strips them.
    """
    projection: dict[str, int] = {}

    def level(prefix: str, attributes: tuple[Attribute, ...]) -> None:
        projection[f"{prefix}{SHADOW}"] = 0
        for attribute in attributes:
            if attribute.returned is Returned.NEVER:
                projection[f"{prefix}{stored_name(attribute.name)}"] = 0
                continue
            if attribute.is_complex:
                level(f"{prefix}{attribute.name}.", attribute.sub_attributes)

    level("", resource_type.schema.attributes)
    for extension in resource_type.extensions:
        level(f"{extension.storage_key}.", extension.schema.attributes)
    return projection
