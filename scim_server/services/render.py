"""Rendering stored resources as SCIM JSON, with ``attributes``/``excludedAttributes`` (RFC 7644 §3.9).

``returned`` characteristics (RFC 7643 §7) are applied here: ``always`` attributes survive any
projection, ``never`` ones (password) are never rendered, ``request`` ones only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scim_server.errors import InvalidPathError, InvalidValueError
from scim_server.filters import parse_attr_path
from scim_server.schema.attributes import Attribute, AttributeType, Returned
from scim_server.schema.catalog import EXTERNAL_ID, META, ResourceType
from scim_server.storage.documents import StoredResource

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
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # isoformat is several times faster than strftime; "+00:00" becomes "Z".
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


@dataclass(frozen=True, slots=True)
class _Field:
    """How one attribute is rendered under a projection, decided once per projection."""

    name: str
    complex: bool
    multi_valued: bool
    # Complex: the sub-attributes rendered, in schema order; those holding datetimes.
    subs: tuple[str, ...] = ()
    datetime_subs: frozenset[str] = frozenset()
    # Simple: whether the value holds datetimes (otherwise it is JSON as stored).
    datetimes: bool = False


@dataclass(frozen=True, slots=True)
class _Plan:
    core: tuple[_Field, ...]
    extensions: tuple[tuple[str, tuple[_Field, ...]], ...]
    meta: tuple[str, ...] | None


def _fields(attributes: Sequence[Attribute], container: str, projection: Projection) -> tuple[_Field, ...]:
    fields: list[_Field] = []
    for attribute in attributes:
        if not projection.wants(container, attribute):
            continue
        if not attribute.is_complex:
            datetimes = attribute.type is AttributeType.DATETIME
            fields.append(_Field(attribute.name, False, attribute.multi_valued, datetimes=datetimes))
            continue
        keep, drop = projection.sub_filter(container, attribute)
        subs = tuple(
            sub.name
            for sub in attribute.sub_attributes
            if sub.returned is not Returned.NEVER
            and (
                sub.returned is Returned.ALWAYS
                or ((keep is None or sub.name in keep) and sub.name not in drop)
            )
        )
        datetime_subs = frozenset(
            s.name for s in attribute.sub_attributes if s.type is AttributeType.DATETIME
        )
        fields.append(_Field(attribute.name, True, attribute.multi_valued, subs, datetime_subs))
    return tuple(fields)


_META_KEYS = ("resourceType", "created", "lastModified", "location", "version")
# Plans by (resource type identity, projection). Projections come from request parameters, so the
# memo is bounded; resource types are the catalog's constants (kept in the value, so ids stay valid).
_PLANS: dict[tuple[int, Projection], tuple[ResourceType, _Plan]] = {}
_PLAN_LIMIT = 512


def _plan(resource_type: ResourceType, projection: Projection) -> _Plan:
    key = (id(resource_type), projection)
    cached = _PLANS.get(key)
    if cached is not None and cached[0] is resource_type:
        return cached[1]
    meta: tuple[str, ...] | None = None
    if projection.wants("", META):
        keep, drop = projection.sub_filter("", META)
        meta = tuple(k for k in _META_KEYS if (keep is None or k in keep) and k not in drop)
    plan = _Plan(
        core=_fields((EXTERNAL_ID, *resource_type.schema.attributes), "", projection),
        extensions=tuple(
            (ext.schema.id, _fields(ext.schema.attributes, ext.schema.id, projection))
            for ext in resource_type.extensions
        ),
        meta=meta,
    )
    if len(_PLANS) >= _PLAN_LIMIT:
        _PLANS.clear()
    _PLANS[key] = (resource_type, plan)
    return plan


def _element(element: Mapping[str, Any], field: _Field) -> dict[str, Any]:
    if field.datetime_subs:
        return {s: _json_value(element[s]) for s in field.subs if s in element}
    return {s: element[s] for s in field.subs if s in element}


def _render_fields(data: Mapping[str, Any], fields: tuple[_Field, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in fields:
        name = field.name
        if name not in data:
            continue
        value = data[name]
        if field.complex:
            if field.multi_valued:
                value = [e for e in (_element(element, field) for element in value) if e]
            else:
                value = _element(value, field)
            if not value:
                continue
        elif field.datetimes:
            value = _json_value(value)
        out[name] = value
    return out


def _with_refs(resource: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Add ``$ref`` to the membership entries (a user's ``groups``, a group's ``members``)."""
    if "groups" not in resource and "members" not in resource:
        return resource  # read only by the renderer: no copy needed
    out = dict(resource)
    if "groups" in out:
        out["groups"] = [{**g, "$ref": f"{base_url}/Groups/{g['value']}"} for g in out["groups"]]
    if "members" in out:
        out["members"] = [
            {**m, "$ref": f"{base_url}/{'Groups' if m.get('type') == 'Group' else 'Users'}/{m['value']}"}
            for m in out["members"]
        ]
    return out


def render_resource(
    stored: StoredResource,
    resource_type: ResourceType,
    base_url: str,
    projection: Projection = ALL,
) -> dict[str, Any]:
    """The SCIM JSON representation of a stored resource; ``base_url`` ends in ``/scim/v2``."""
    plan = _plan(resource_type, projection)
    resource = _with_refs(stored.resource, base_url)
    body: dict[str, Any] = {"schemas": [resource_type.schema.id], "id": stored.id}
    body.update(_render_fields(resource, plan.core))
    for schema_id, fields in plan.extensions:
        data = resource.get(schema_id)
        if not data:
            continue
        rendered = _render_fields(data, fields)
        body["schemas"].append(schema_id)
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
        body["meta"] = {k: meta[k] for k in plan.meta}
    return body
