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
from scim_server.schema.attributes import Attribute, Returned
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
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


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


def _project_complex(value: Any, attribute: Attribute, keep: set[str] | None, drop: set[str]) -> Any:
    def one(element: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sub in attribute.sub_attributes:
            if sub.name not in element or sub.returned is Returned.NEVER:
                continue
            if sub.returned is not Returned.ALWAYS and (
                (keep is not None and sub.name not in keep) or sub.name in drop
            ):
                continue
            out[sub.name] = _json_value(element[sub.name])
        return out

    if attribute.multi_valued:
        elements = [one(e) for e in value]
        return [e for e in elements if e] or None
    return one(value) or None


def _render_attributes(
    data: Mapping[str, Any], attributes: Sequence[Attribute], container: str, projection: Projection
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in attributes:
        if attribute.name not in data or not projection.wants(container, attribute):
            continue
        value = data[attribute.name]
        if attribute.is_complex:
            keep, drop = projection.sub_filter(container, attribute)
            value = _project_complex(value, attribute, keep, drop)
            if value is None:
                continue
        else:
            value = _json_value(value)
        out[attribute.name] = value
    return out


def _with_refs(resource: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Add ``$ref`` to the membership entries (a user's ``groups``, a group's ``members``)."""
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
    location = f"{base_url}{resource_type.endpoint}/{stored.id}"
    resource = _with_refs(stored.resource, base_url)
    body: dict[str, Any] = {"schemas": [resource_type.schema.id], "id": stored.id}
    body.update(_render_attributes(resource, (EXTERNAL_ID,), "", projection))
    body.update(_render_attributes(resource, resource_type.schema.attributes, "", projection))
    for extension in resource_type.extensions:
        data = resource.get(extension.schema.id)
        if not data:
            continue
        rendered = _render_attributes(data, extension.schema.attributes, extension.schema.id, projection)
        body["schemas"].append(extension.schema.id)
        if rendered:
            body[extension.schema.id] = rendered
    if projection.wants("", META):
        meta = {
            "resourceType": resource_type.name,
            "created": format_datetime(stored.created),
            "lastModified": format_datetime(stored.last_modified),
            "location": location,
            "version": etag(stored.version),
        }
        keep, drop = projection.sub_filter("", META)
        body["meta"] = {k: v for k, v in meta.items() if (keep is None or k in keep) and k not in drop}
    return body
