"""Rendering stored resources as SCIM JSON, with ``attributes``/``excludedAttributes`` (RFC 7644 §3.9).

``returned`` characteristics (RFC 7643 §7) are applied here: ``always`` attributes survive any
projection, ``never`` ones (password) are never rendered, ``request`` ones only when asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scim_server.errors import InvalidPathError, InvalidValueError
from scim_server.filters import parse_attr_path
from scim_server.schema.attributes import Attribute, AttributeType, Returned
from scim_server.schema.catalog import EXTERNAL_ID, GROUP_MEMBERS, META, USER_GROUPS, ResourceType
from scim_server.schema.layout import stored_name
from scim_server.storage.documents import UTC_ZONES, StoredResource

# (extension URN or "" for core/common, attribute name, sub-attribute name or None)
AttributeKey = tuple[str, str, str | None]


@dataclass(frozen=True, slots=True)
class Projection:
    """Which attributes a response carries: ``include`` (attributes=) or ``exclude`` (excludedAttributes=)."""

    include: frozenset[AttributeKey] | None = None
    exclude: frozenset[AttributeKey] = frozenset()

    def wants(self, container: str, attribute: Attribute) -> bool:
        """Whether the top-level ``attribute`` is rendered at all."""
        if attribute.returned is Returned.NEVER:
            return False
        if attribute.returned is Returned.ALWAYS:
            return True
        if self.include is not None:
            return any(k[0] == container and k[1] == attribute.name for k in self.include)
        if (container, attribute.name, None) in self.exclude:
            return False
        return attribute.returned is not Returned.REQUEST

    def sub_filter(self, container: str, attribute: Attribute) -> tuple[set[str] | None, set[str]]:
        """(sub-attributes to keep or None for all, sub-attributes to drop) for a complex attribute."""
        keep: set[str] | None = None
        if self.include is not None and (container, attribute.name, None) not in self.include:
            keep = {k[2] for k in self.include if k[0] == container and k[1] == attribute.name and k[2]}
        drop = {k[2] for k in self.exclude if k[0] == container and k[1] == attribute.name and k[2]}
        return keep, drop


ALL = Projection()


def _split(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    items = values.split(",") if isinstance(values, str) else list(values)
    return [item.strip() for item in items if item and item.strip()]


def parse_projection(
    attributes: str | Sequence[str] | None,
    excluded: str | Sequence[str] | None,
    resource_type: ResourceType,
    *,
    max_items: int,
) -> Projection:
    """Parse the two parameters; unknown attribute names are ignored (they select nothing).

    RFC 7644 §3.9 makes ``attributes`` win when both are given.
    """
    if attributes is None and excluded is None:
        return ALL  # the common case, without a parse
    include_items, exclude_items = _split(attributes), _split(excluded)
    if len(include_items) + len(exclude_items) > max_items:
        raise InvalidValueError(f"at most {max_items} attribute names may be listed")
    include = _keys(include_items, resource_type) if include_items else None
    exclude = frozenset() if include is not None else _keys(exclude_items, resource_type)
    return Projection(include=include, exclude=exclude)


def _keys(items: Iterable[str], resource_type: ResourceType) -> frozenset[AttributeKey]:
    keys: set[AttributeKey] = set()
    for item in items:
        try:
            path = parse_attr_path(item, schema_uris=resource_type.schema_uris)
        except InvalidPathError as exc:
            raise InvalidValueError(f"invalid attribute name {item!r}: {exc.detail}") from None
        if path.uri is not None and not path.attr:
            extension = resource_type.extension(path.uri)
            if extension is not None:
                keys.update((extension.schema.id, a.name, None) for a in extension.schema.attributes)
            continue
        resolved = resource_type.resolve(path.uri, path.attr, path.sub_attr)
        if resolved is None:
            extension = resource_type.extension(str(path))
            if extension is not None:
                keys.update((extension.schema.id, a.name, None) for a in extension.schema.attributes)
            continue
        container = resolved.extension.schema.id if resolved.extension is not None else ""
        sub = resolved.sub_attribute.name if resolved.sub_attribute is not None else None
        keys.add((container, resolved.attribute.name, sub))
    return frozenset(keys)


def format_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, the precision the store keeps."""
    # isoformat rather than strftime, for speed. Stored times come back in UTC: written without their
    # zone (whose utcoffset, a Python method for the driver's, would cost more than the rest).
    zone = value.tzinfo
    if zone is None or zone is UTC_ZONES[0] or zone is UTC_ZONES[1]:
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def etag(version: int) -> str:
    """The weak entity tag of a resource version (RFC 7644 §3.14)."""
    return f'W/"{version}"'


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


# How a field is rendered from its stored value, decided once per projection. The first two pass
# a complex value through as stored when the document was read for a response (its shadows left in
# the store): every sub-attribute is kept and none is renamed or formatted.
_WHOLE_SINGLE = 0
_WHOLE_MULTI = 1
_SIMPLE = 2  # JSON as stored (strings, numbers, booleans, lists of them)
_SINGLE = 3  # a complex value: its kept sub-attributes, stored key -> SCIM name
_MULTI = 4  # a multi-valued complex attribute: each element as _SINGLE, empty ones dropped
_DATETIMES = 5  # holds datetimes: formatted

# (kind, (stored sub key, SCIM sub name) kept, stored keys of datetime subs)
_Field = tuple[int, tuple[tuple[str, str], ...], frozenset[str]]


@dataclass(frozen=True, slots=True)
class _Plan:
    # Rendered attributes by name (the stored key of a top-level attribute is its name).
    core: dict[str, _Field]
    # The derived membership attribute (a user's groups, a group's members): (name, kept subs).
    derived: tuple[str, tuple[tuple[str, str], ...]] | None
    # (URN, stored key, fields, declared names) of each extension. The names of the attributes an
    # organization declares (None for a built-in extension): a stored object holding none of them
    # holds only values no longer declared, and is not shown (storage/documents.py keeps them).
    extensions: tuple[tuple[str, str, dict[str, _Field], frozenset[str] | None], ...]
    meta: tuple[str, ...] | None


def _fields(
    attributes: Sequence[Attribute], container: str, projection: Projection, canonical: bool
) -> dict[str, _Field]:
    """The fields of one level; ``canonical``: read from a canonical resource, whose sub-attributes
    carry their SCIM names, rather than from a stored document."""
    key_of = _same if canonical else stored_name
    fields: dict[str, _Field] = {}
    for attribute in attributes:
        if not projection.wants(container, attribute):
            continue
        if not attribute.is_complex:
            kind = _DATETIMES if attribute.type is AttributeType.DATETIME else _SIMPLE
            fields[attribute.name] = (kind, (), frozenset())
            continue
        keep, drop = projection.sub_filter(container, attribute)
        subs = tuple(
            (key_of(sub.name), sub.name)
            for sub in attribute.sub_attributes
            if sub.returned is not Returned.NEVER
            and (
                sub.returned is Returned.ALWAYS
                or ((keep is None or sub.name in keep) and sub.name not in drop)
            )
        )
        datetime_subs = frozenset(
            key_of(s.name) for s in attribute.sub_attributes if s.type is AttributeType.DATETIME
        )
        whole = len(subs) == len(attribute.sub_attributes) and not datetime_subs
        whole = whole and all(key == name for key, name in subs)
        if attribute.multi_valued:
            kind = _WHOLE_MULTI if whole else _MULTI
        else:
            kind = _WHOLE_SINGLE if whole else _SINGLE
        fields[attribute.name] = (kind, subs, datetime_subs)
    return fields


_META_KEYS = ("resourceType", "created", "lastModified", "location", "version")
# Plans are kept for this many (resource type, projection, source) keys: projections come from request
# parameters, so the cache is bounded; most requests use the full projection.
_PLAN_CACHE_SIZE = 512


def _same(name: str) -> str:
    return name


@functools.lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _plan(resource_type: ResourceType, projection: Projection | None, canonical: bool) -> _Plan:
    """How a resource is rendered under a projection (None: the full one, keyed so because hashing a
    Projection calls its dataclass ``__hash__``); ``canonical``: from a canonical resource (a write
    made it) rather than from a stored document."""
    if projection is None:
        projection = ALL
    meta: tuple[str, ...] | None = None
    if projection.wants("", META):
        keep, drop = projection.sub_filter("", META)
        meta = tuple(k for k in _META_KEYS if (keep is None or k in keep) and k not in drop)
    core = _fields((EXTERNAL_ID, *resource_type.schema.attributes), "", projection, canonical)
    derived = None
    for attribute in (USER_GROUPS, GROUP_MEMBERS):
        field = core.pop(attribute.name, None) if attribute in resource_type.schema.attributes else None
        if field is not None:
            derived = (attribute.name, field[1])
    return _Plan(
        core=core,
        derived=derived,
        extensions=tuple(
            (
                ext.schema.id,
                ext.schema.id if canonical else ext.storage_key,
                _fields(ext.schema.attributes, ext.schema.id, projection, canonical),
                frozenset(a.name for a in ext.schema.attributes) if ext.declared else None,
            )
            for ext in resource_type.extensions
        ),
        meta=meta,
    )


def _element(element: Mapping[str, Any], subs: tuple[tuple[str, str], ...], datetimes: frozenset[str]) -> Any:
    if datetimes:
        return {name: _json_value(element[key]) for key, name in subs if key in element}
    return {name: element[key] for key, name in subs if key in element}


def _derived(
    name: str, entries: Sequence[Mapping[str, Any]], subs: tuple[tuple[str, str], ...], base_url: str
) -> list[dict[str, Any]]:
    """Membership entries ({value, display, type}) with their ``$ref``, projected: a user's ``groups``
    are groups (their type says direct or indirect), a group's ``members`` users or groups."""
    out = []
    for entry in entries:
        endpoint = "Groups" if name == "groups" or entry.get("type") == "Group" else "Users"
        full = {**entry, "$ref": f"{base_url}/{endpoint}/{entry['value']}"}
        element = {name: full[name] for _, name in subs if full.get(name) is not None}
        if element:
            out.append(element)
    return out


def _render_fields(
    data: Mapping[str, Any], fields: dict[str, _Field], out: dict[str, Any], clean: bool
) -> None:
    """One object level of a stored document (the root or an extension's) as SCIM JSON, into ``out``,
    in the document's order. ``clean``: the document was read without its shadows.

    Written for speed: it runs for every resource of every response.
    """
    for key, value in data.items():
        field = fields.get(key)
        if field is None or value is None:
            continue  # internal keys, meta, extensions, what the projection leaves out
        kind = field[0]
        if kind == _SIMPLE:
            out[key] = value
        elif clean and kind <= _WHOLE_MULTI:
            if value:
                out[key] = value
        elif kind in (_MULTI, _WHOLE_MULTI):
            value = [e for e in [_element(element, field[1], field[2]) for element in value] if e]
            if value:
                out[key] = value
        elif kind == _DATETIMES:
            out[key] = _json_value(value)
        else:
            value = _element(value, field[1], field[2])
            if value:
                out[key] = value


def render_resource(
    stored: StoredResource,
    resource_type: ResourceType,
    base_url: str,
    projection: Projection = ALL,
) -> dict[str, Any]:
    """The SCIM JSON representation of a stored resource; ``base_url`` ends in ``/scim/v2``.

    Rendered in one pass: from the canonical resource when one is at hand (a write made it), else from
    the stored document (a read never builds the canonical copy), following the stored layout
    (``schema.layout``). Attributes come in the order of what is rendered from, which is the same in
    both. What membership derives (a user's ``groups``, a group's ``members``) is in neither: see
    :func:`derived_renderer`.
    """
    document: Mapping[str, Any] | None = stored.built_resource
    projected = None if projection is ALL else projection
    if document is not None:
        # SCIM names, extensions under their URN, no shadows: complex values pass through whole.
        plan, clean = _plan(resource_type, projected, True), True
    else:
        plan, clean = _plan(resource_type, projected, False), stored.response_only
        document = stored.document
        assert document is not None  # a stored resource has its resource, its document, or both
    schemas = [resource_type.schema.id]
    body: dict[str, Any] = {"schemas": schemas, "id": stored.id}
    _render_fields(document, plan.core, body, clean)
    for schema_id, key, fields, declared in plan.extensions:
        data = document.get(key)
        if not data or (declared is not None and declared.isdisjoint(data)):
            continue
        schemas.append(schema_id)
        rendered: dict[str, Any] = {}
        _render_fields(data, fields, rendered, clean)
        if rendered:
            body[schema_id] = rendered
    if plan.meta is not None:
        meta = {
            "resourceType": resource_type.name,
            "created": format_datetime(stored.created),
            "lastModified": format_datetime(stored.last_modified),
            "location": f"{base_url}{resource_type.endpoint}/{stored.id}",
            "version": etag(stored.version),
        }
        body["meta"] = meta if len(plan.meta) == len(_META_KEYS) else {k: meta[k] for k in plan.meta}
    return body


def derived_renderer(
    resource_type: ResourceType, projection: Projection, base_url: str
) -> tuple[str, Callable[[Sequence[Mapping[str, Any]]], list[dict[str, Any]]]] | None:
    """The membership attribute (a user's ``groups``, a group's ``members``) of a page's resources: its
    name and a function from one resource's entries (``value``, ``display``, ``type``) to their rendered
    list, with ``$ref`` (empty when the projection keeps nothing of them); None when the projection
    leaves the attribute out. The projection is planned once for the page, not once per resource."""
    plan = _plan(resource_type, None if projection is ALL else projection, False)
    if plan.derived is None:
        return None
    name, subs = plan.derived
    return name, lambda entries: _derived(name, entries, subs, base_url)
