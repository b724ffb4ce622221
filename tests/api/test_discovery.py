"""Discovery endpoints are rendered from the catalog that drives validation (RFC 7644 §4)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from scim_server.schema.catalog import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA
from tests.helpers import auth

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def no_nulls(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


async def test_service_provider_config_has_every_field_true_to_the_server(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/scim/v2/ServiceProviderConfig", headers=auth())
    assert response.status == 200
    body = await response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["patch"] == {"supported": True}
    assert body["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1_048_576}
    assert body["filter"] == {"supported": True, "maxResults": 1000}
    assert body["changePassword"] == {"supported": True}
    assert body["sort"] == {"supported": True}
    assert body["etag"] == {"supported": True}
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert body["documentationUri"].endswith("/docs")
    assert no_nulls(body)


async def test_schemas_list_every_schema_with_camel_case_characteristics(
    client: TestClient[Any, Any],
) -> None:
    body = await (await client.get("/scim/v2/Schemas", headers=auth())).json()
    assert body["schemas"] == [LIST]
    assert [s["id"] for s in body["Resources"]] == [
        USER_SCHEMA.id,
        ENTERPRISE_USER_SCHEMA.id,
        GROUP_SCHEMA.id,
    ]
    assert body["totalResults"] == 3 and no_nulls(body)
    user = body["Resources"][0]
    user_name = next(a for a in user["attributes"] if a["name"] == "userName")
    assert user_name == {
        "name": "userName",
        "type": "string",
        "multiValued": False,
        "description": user_name["description"],
        "required": True,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "server",
    }
    password = next(a for a in user["attributes"] if a["name"] == "password")
    assert (password["mutability"], password["returned"]) == ("writeOnly", "never")
    emails = next(a for a in user["attributes"] if a["name"] == "emails")
    assert [s["name"] for s in emails["subAttributes"]] == ["value", "display", "type", "primary"]
    group = body["Resources"][2]
    display_name = next(a for a in group["attributes"] if a["name"] == "displayName")
    assert (display_name["required"], display_name["uniqueness"]) == (True, "server")
    members = next(a for a in group["attributes"] if a["name"] == "members")
    assert [s["name"] for s in members["subAttributes"]] == ["value", "$ref", "type", "display"]


async def test_one_schema_and_one_resource_type_by_id(client: TestClient[Any, Any]) -> None:
    schema = await client.get(f"/scim/v2/Schemas/{ENTERPRISE_USER_SCHEMA.id}", headers=auth())
    assert schema.status == 200
    assert (await schema.json())["name"] == "EnterpriseUser"
    assert (await client.get("/scim/v2/Schemas/urn:nope", headers=auth())).status == 404
    user_type = await (await client.get("/scim/v2/ResourceTypes/User", headers=auth())).json()
    assert user_type == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA.id,
        "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA.id, "required": False}],
        "meta": {"resourceType": "ResourceType", "location": "https://scim.test/scim/v2/ResourceTypes/User"},
    }
    group_type = await (await client.get("/scim/v2/ResourceTypes/group", headers=auth())).json()
    assert group_type == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "Group",
        "schema": GROUP_SCHEMA.id,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": "https://scim.test/scim/v2/ResourceTypes/Group"},
    }
    listed = await (await client.get("/scim/v2/ResourceTypes", headers=auth())).json()
    assert listed["Resources"] == [user_type, group_type]
    assert (await client.get("/scim/v2/ResourceTypes/Widget", headers=auth())).status == 404


async def test_filtering_discovery_endpoints_is_refused(client: TestClient[Any, Any]) -> None:
    response = await client.get('/scim/v2/Schemas?filter=id eq "x"', headers=auth())
    assert response.status == 400
