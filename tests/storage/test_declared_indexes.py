"""The indexes of an organization's declared extensions (storage/repository.py declared_indexes)."""

from __future__ import annotations

from typing import Any

from scim_server.schema.catalog import USER_RESOURCE_TYPE
from scim_server.schema.declared import organization_resource_types
from scim_server.storage.repository import declared_indexes

URN = "urn:example:acme:2.0:User"
KEY = "urn:example:acme:2_0:User"


def schema(*attributes: dict[str, Any]) -> dict[str, Any]:
    return {"id": URN, "name": "AcmeUser", "attributes": list(attributes)}


def test_each_comparable_declared_attribute_has_an_index_on_its_query_path() -> None:
    declared = schema(
        {"name": "region", "type": "string"},
        {"name": "code", "type": "string", "caseExact": True, "uniqueness": "server"},
        {"name": "desk", "type": "complex", "subAttributes": [{"name": "floor", "type": "integer"}]},
        {"name": "photo", "type": "binary"},
        {"name": "secret", "type": "string", "returned": "never", "mutability": "writeOnly"},
    )
    user = organization_resource_types([("User", declared)])["User"]

    assert declared_indexes(user) == {
        f"declared:{KEY}.code:unique": (
            [(f"{KEY}.code", 1)],
            {"unique": True, "partialFilterExpression": {f"{KEY}.code": {"$exists": True}}},
        ),
        f"declared:{KEY}._lc.region": ([(f"{KEY}._lc.region", 1), ("_id", 1)], {}),
        f"declared:{KEY}.desk.floor": ([(f"{KEY}.desk.floor", 1), ("_id", 1)], {}),
    }


def test_the_built_in_extensions_have_no_declared_indexes() -> None:
    assert declared_indexes(USER_RESOURCE_TYPE) == {}
