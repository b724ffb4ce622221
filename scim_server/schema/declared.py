"""Organizations' declared schema extensions, as per-organization resource types (RFC 7643 §6, §7).

An organization may declare extension schemas for its Users or Groups in the organizations file
(``services/organizations.py``, docs/organizations.md). Its resource types are the catalog's with those
extensions added after the built-in ones. Validation, the filter, sort and PATCH compilers, the stored
layout, rendering and /Schemas all take the resource type as a parameter, so a declared extension is
accepted, stored, filtered, sorted, patched and published as the enterprise extension is, for that
organization only; to any other, its URN is an unknown schema.

Resource types are compared by identity and key caches (:class:`~scim_server.schema.catalog.ResourceType`):
they are built once per load of the organizations file, and an organization whose declarations did
not change keeps the very same objects across a reload, so its caches stay warm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scim_server.schema.attributes import (
    Attribute,
    AttributeType,
    Mutability,
    Returned,
    Schema,
    Uniqueness,
)
from scim_server.schema.catalog import (
    GROUP_RESOURCE_TYPE,
    USER_RESOURCE_TYPE,
    ResourceType,
    SchemaExtension,
)

# (resource type name, schema resource as /Schemas shows it): one declared extension, as the
# organizations file gives it (already validated there).
Declaration = tuple[str, Mapping[str, Any]]

BUILT_IN: Mapping[str, ResourceType] = {
    USER_RESOURCE_TYPE.name: USER_RESOURCE_TYPE,
    GROUP_RESOURCE_TYPE.name: GROUP_RESOURCE_TYPE,
}


def declared_attribute(definition: Mapping[str, Any]) -> Attribute:
    """An attribute definition of a schema resource (RFC 7643 §7), every characteristic given.

    Declared ``canonicalValues`` are advertised, not enforced (RFC 7643 §7: "MAY be used").
    """
    return Attribute(
        name=definition["name"],
        type=AttributeType(definition["type"]),
        multi_valued=bool(definition.get("multiValued", False)),
        required=bool(definition.get("required", False)),
        case_exact=bool(definition.get("caseExact", False)),
        mutability=Mutability(definition.get("mutability", "readWrite")),
        returned=Returned(definition.get("returned", "default")),
        uniqueness=Uniqueness(definition.get("uniqueness", "none")),
        canonical_values=tuple(definition.get("canonicalValues", ())),
        reference_types=tuple(definition.get("referenceTypes", ())),
        sub_attributes=tuple(declared_attribute(sub) for sub in definition.get("subAttributes", ())),
        description=str(definition.get("description", "")),
    )


def declared_schema(document: Mapping[str, Any]) -> Schema:
    """The :class:`Schema` of a declared schema resource (``id``, ``name``, ``attributes``)."""
    return Schema(
        id=document["id"],
        name=document["name"],
        description=str(document.get("description", "")),
        attributes=tuple(declared_attribute(a) for a in document["attributes"]),
    )


def extended(base: ResourceType, schemas: Sequence[Schema]) -> ResourceType:
    """``base`` with ``schemas`` added as optional extensions after its own (RFC 7643 §6
    ``schemaExtensions``). An unqualified attribute name resolves to the core schema first, then to
    the extensions in order: the built-in ones, then the declared ones as declared."""
    if not schemas:
        return base
    return ResourceType(
        name=base.name,
        endpoint=base.endpoint,
        description=base.description,
        schema=base.schema,
        extensions=(
            *base.extensions,
            *(SchemaExtension(schema, required=False, declared=True) for schema in schemas),
        ),
    )


def organization_resource_types(declarations: Sequence[Declaration]) -> dict[str, ResourceType]:
    """An organization's resource types by name: the built-in ones extended with its declarations."""
    return {
        name: extended(base, [declared_schema(schema) for kind, schema in declarations if kind == name])
        for name, base in BUILT_IN.items()
    }


class OrganizationResourceTypes:
    """Each organization's resource types; the built-in ones for an organization that declares nothing.

    :meth:`load` takes the declarations of a new configuration and builds what changed: an
    organization whose declarations are equal to the previous ones keeps its resource type objects.
    """

    def __init__(self) -> None:
        self._by_org: dict[str, tuple[tuple[Declaration, ...], dict[str, ResourceType]]] = {}

    def load(self, declared: Mapping[str, Sequence[Declaration]]) -> None:
        """Take a new configuration's declarations by organization id."""
        by_org: dict[str, tuple[tuple[Declaration, ...], dict[str, ResourceType]]] = {}
        for org_id, declarations in declared.items():
            if not declarations:
                continue
            key = tuple(declarations)
            previous = self._by_org.get(org_id)
            if previous is not None and previous[0] == key:
                by_org[org_id] = previous
            else:
                by_org[org_id] = (key, organization_resource_types(key))
        self._by_org = by_org

    def get(self, org_id: str, name: str) -> ResourceType:
        """Organization ``org_id``'s resource type ``name`` (``"User"`` or ``"Group"``)."""
        found = self._by_org.get(org_id)
        return BUILT_IN[name] if found is None else found[1][name]

    def user(self, org_id: str) -> ResourceType:
        found = self._by_org.get(org_id)
        return USER_RESOURCE_TYPE if found is None else found[1][USER_RESOURCE_TYPE.name]

    def group(self, org_id: str) -> ResourceType:
        found = self._by_org.get(org_id)
        return GROUP_RESOURCE_TYPE if found is None else found[1][GROUP_RESOURCE_TYPE.name]

    def all(self, org_id: str) -> tuple[ResourceType, ...]:
        """The organization's resource types in catalog order (User, Group): what /ResourceTypes lists."""
        return (self.user(org_id), self.group(org_id))
