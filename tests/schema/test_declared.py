"""Declared extensions as per-organization resource types (schema/declared.py)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from scim_server.schema.attributes import Attribute, AttributeType, Mutability, Returned, Schema, Uniqueness
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE
from scim_server.schema.declared import OrganizationResourceTypes, declared_schema

URN = "urn:example:acme:2.0:User"
SCHEMA: dict[str, Any] = {
    "id": URN,
    "name": "AcmeUser",
    "attributes": [
        {
            "name": "badge",
            "type": "string",
            "multiValued": False,
            "description": "",
            "required": True,
            "caseExact": True,
            "mutability": "immutable",
            "returned": "always",
            "uniqueness": "server",
            "canonicalValues": ["red"],
        },
        {
            "name": "desk",
            "type": "complex",
            "multiValued": True,
            "description": "Desks",
            "required": False,
            "caseExact": False,
            "mutability": "readWrite",
            "returned": "default",
            "uniqueness": "none",
            "subAttributes": [{"name": "floor", "type": "integer"}],
        },
    ],
}


def test_a_declared_schema_becomes_catalog_attributes() -> None:
    assert declared_schema(SCHEMA) == Schema(
        id=URN,
        name="AcmeUser",
        description="",
        attributes=(
            Attribute(
                name="badge",
                type=AttributeType.STRING,
                required=True,
                case_exact=True,
                mutability=Mutability.IMMUTABLE,
                returned=Returned.ALWAYS,
                uniqueness=Uniqueness.SERVER,
                canonical_values=("red",),
            ),
            Attribute(
                name="desk",
                type=AttributeType.COMPLEX,
                multi_valued=True,
                description="Desks",
                sub_attributes=(Attribute(name="floor", type=AttributeType.INTEGER),),
            ),
        ),
    )


def test_an_organization_gets_its_declared_extensions_after_the_built_in_ones() -> None:
    types = OrganizationResourceTypes()
    types.load({"acme": [("User", MappingProxyType(SCHEMA))], "globex": []})

    user = types.user("acme")
    assert [e.schema.id for e in user.extensions] == [USER_RESOURCE_TYPE.extensions[0].schema.id, URN]
    assert [e.declared for e in user.extensions] == [False, True]
    assert user.extension(URN.upper()) is user.extensions[1]
    resolved = user.resolve(None, "BADGE")
    assert resolved is not None and resolved.extension is user.extensions[1]
    assert types.group("acme") is GROUP_RESOURCE_TYPE
    assert types.user("globex") is USER_RESOURCE_TYPE
    assert types.all("other") == (USER_RESOURCE_TYPE, GROUP_RESOURCE_TYPE)


def test_a_reload_rebuilds_only_what_changed() -> None:
    types = OrganizationResourceTypes()
    types.load({"acme": [("User", SCHEMA)], "initech": [("User", SCHEMA)]})
    acme, initech = types.user("acme"), types.user("initech")
    assert acme is not initech

    changed = {**SCHEMA, "attributes": SCHEMA["attributes"][:1]}
    types.load({"acme": [("User", dict(SCHEMA))], "initech": [("User", changed)]})

    assert types.user("acme") is acme
    assert types.user("initech") is not initech
    assert [a.name for a in types.user("initech").extensions[1].schema.attributes] == ["badge"]
    types.load({})
    assert types.user("acme") is USER_RESOURCE_TYPE
