"""The immutability rule (RFC 7643 §7): an immutable attribute "MAY be defined at creation (e.g.,
POST) or at record replacement via a request (e.g., a PUT). The attribute SHALL NOT be updated."

Pure; one rule for every write that replaces or changes a resource (PUT, PATCH).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from scim_server.errors import MutabilityError
from scim_server.schema.attributes import Attribute, Mutability
from scim_server.schema.catalog import COMMON_ATTRIBUTES, ResourceType

# (extension URN or None for the core schema, attribute, sub-attribute or None)
_Place = tuple[str | None, Attribute, Attribute | None]


@functools.cache
def _immutable_places(resource_type: ResourceType) -> tuple[_Place, ...]:
    """Every immutable top-level attribute, and every immutable sub-attribute of a single-valued
    complex one (an element of a multi-valued attribute has no identity to hold a value to)."""
    places: list[_Place] = []
    groups: list[tuple[str | None, tuple[Attribute, ...]]] = [
        (None, COMMON_ATTRIBUTES + resource_type.schema.attributes),
        *((ext.schema.id, ext.schema.attributes) for ext in resource_type.extensions),
    ]
    for key, attributes in groups:
        for attribute in attributes:
            if attribute.mutability is Mutability.IMMUTABLE:
                places.append((key, attribute, None))
            elif attribute.is_complex and not attribute.multi_valued:
                places.extend(
                    (key, attribute, sub)
                    for sub in attribute.sub_attributes
                    if sub.mutability is Mutability.IMMUTABLE
                )
    return tuple(places)


def _lookup(resource: Mapping[str, Any], key: str | None, attribute: Attribute, sub: Attribute | None) -> Any:
    container = resource if key is None else resource.get(key)
    if not isinstance(container, Mapping):
        return None
    value = container.get(attribute.name)
    if sub is None:
        return value
    return value.get(sub.name) if isinstance(value, Mapping) else None


def check_immutable(before: Mapping[str, Any], after: Mapping[str, Any], resource_type: ResourceType) -> None:
    """Raise :class:`MutabilityError` when ``after`` changes or removes an immutable value that the
    canonical resource ``before`` holds; setting one that was unassigned is allowed."""
    for key, attribute, sub in _immutable_places(resource_type):
        old = _lookup(before, key, attribute, sub)
        if old is not None and _lookup(after, key, attribute, sub) != old:
            name = attribute.name if sub is None else f"{attribute.name}.{sub.name}"
            path = name if key is None else f"{key}:{name}"
            raise MutabilityError(f"Attribute '{path}' is immutable and cannot be changed")
