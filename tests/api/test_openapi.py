"""The OpenAPI document and the Swagger UI describe every SCIM route, without needing a token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiohttp_apigami import validation_middleware

from scim_server.api.routes import routes
from scim_server.schema.catalog import ENTERPRISE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA_ID, USER_SCHEMA

SPEC_URL = "/docs/openapi.json"
SCIM_ROUTES = [route for route in routes() if route.path.startswith("/scim/v2")]
ERROR_REF = {"$ref": "#/components/schemas/Error"}


async def spec_of(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get(SPEC_URL)  # no Authorization header: the document is public
    assert response.status == 200
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return body


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    # A route's path variable with a pattern ({rest:.*}) is documented by its name alone ({rest}).
    found: dict[str, Any] = spec["paths"][re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)][method.lower()]
    return found


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


async def test_document_is_openapi_3_with_title_version_and_tags(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "scim-server"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", spec["info"]["version"])
    assert [tag["name"] for tag in spec["tags"]] == ["scim", "operations"]


async def test_every_scim_route_is_documented_with_its_method_tag_and_bearer_security(
    client: TestClient[Any, Any],
) -> None:
    spec = await spec_of(client)
    # Seven per resource type (Users, Groups), five discovery routes, events; at the root: two queries
    # (with and without the trailing slash), .search, Bulk, and five methods on /Me and on its subpaths.
    assert len(SCIM_ROUTES) == 34
    for route in SCIM_ROUTES:
        op = operation(spec, route.method, route.path)
        assert op["tags"] == ["scim"], route.name
        assert op["operationId"] == route.name
        assert op["summary"]
        assert op["security"] == [{"bearerAuth": []}], route.name
        assert "produces" not in op  # a Swagger 2 key that apigami writes; invalid in OpenAPI 3


async def test_path_parameters_are_declared(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    for route in SCIM_ROUTES:
        declared = {
            p["name"]: p for p in operation(spec, route.method, route.path)["parameters"] if p["in"] == "path"
        }
        assert set(declared) == set(re.findall(r"\{(\w+)[}:]", route.path)), route.name
        for parameter in declared.values():
            assert parameter["required"] is True
            assert parameter["schema"] == {"type": "string"}
    assert "{id}" in "".join(spec["paths"])


async def test_bearer_security_scheme_is_declared(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    assert spec["components"]["securitySchemes"] == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization-scoped bearer token (RFC 6750).",
        }
    }


async def test_healthz_is_an_operations_endpoint_without_security(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    op = operation(spec, "GET", "/healthz")
    assert op["tags"] == ["operations"]
    assert "security" not in op
    assert "security" not in spec  # no global requirement either


async def test_list_parameters_are_documented(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    query = [p["name"] for p in operation(spec, "GET", "/scim/v2/Users")["parameters"] if p["in"] == "query"]
    assert query == [
        "filter",
        "startIndex",
        "cursor",
        "count",
        "sortBy",
        "sortOrder",
        "attributes",
        "excludedAttributes",
    ]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/scim/v2/Users", [("query", "attributes"), ("query", "excludedAttributes")]),
        (
            "GET",
            "/scim/v2/Users/{id}",
            [
                ("path", "id"),
                ("query", "attributes"),
                ("query", "excludedAttributes"),
                ("header", "If-None-Match"),
            ],
        ),
        (
            "PUT",
            "/scim/v2/Users/{id}",
            [
                ("path", "id"),
                ("query", "attributes"),
                ("query", "excludedAttributes"),
                ("header", "If-Match"),
            ],
        ),
        (
            "PATCH",
            "/scim/v2/Users/{id}",
            [
                ("path", "id"),
                ("query", "attributes"),
                ("query", "excludedAttributes"),
                ("header", "If-Match"),
            ],
        ),
        ("DELETE", "/scim/v2/Users/{id}", [("path", "id"), ("header", "If-Match")]),
    ],
)
async def test_single_resource_parameters_and_headers_are_documented(
    client: TestClient[Any, Any], method: str, path: str, expected: list[tuple[str, str]]
) -> None:
    spec = await spec_of(client)
    parameters = operation(spec, method, path)["parameters"]
    assert [(p["in"], p["name"]) for p in parameters] == expected


@pytest.mark.parametrize(
    ("method", "path", "schema"),
    [
        ("POST", "/scim/v2/Users", "User"),
        ("POST", "/scim/v2/Users/.search", "SearchRequest"),
        ("PUT", "/scim/v2/Users/{id}", "User"),
        ("PATCH", "/scim/v2/Users/{id}", "PatchOp"),
    ],
)
async def test_request_bodies_reference_their_wire_schema_in_both_media_types(
    client: TestClient[Any, Any], method: str, path: str, schema: str
) -> None:
    spec = await spec_of(client)
    ref = {"$ref": f"#/components/schemas/{schema}"}
    body = operation(spec, method, path)["requestBody"]
    example = body["content"]["application/scim+json"]["example"]  # run by test_openapi_examples.py
    assert body == {
        "content": {
            "application/scim+json": {"schema": ref, "example": example},
            "application/json": {"schema": ref, "example": example},
        },
        "required": True,
    }


async def test_reads_have_no_request_body(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    for route in SCIM_ROUTES:
        if route.method in ("GET", "DELETE"):
            assert "requestBody" not in operation(spec, route.method, route.path), route.name


async def test_success_responses_reference_the_resource_schemas(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)

    def success(method: str, path: str, code: str) -> Any:
        return operation(spec, method, path)["responses"][code]["content"]["application/scim+json"]["schema"]

    assert success("GET", "/scim/v2/Users", "200") == {"$ref": "#/components/schemas/UserListResponse"}
    assert success("POST", "/scim/v2/Users/.search", "200") == {
        "$ref": "#/components/schemas/UserListResponse"
    }
    # Responses use UserResponse: attributes/excludedAttributes may leave out the required userName.
    assert success("POST", "/scim/v2/Users", "201") == {"$ref": "#/components/schemas/UserResponse"}
    for method in ("GET", "PUT", "PATCH"):
        assert success(method, "/scim/v2/Users/{id}", "200") == {"$ref": "#/components/schemas/UserResponse"}
    assert success("GET", "/scim/v2/ServiceProviderConfig", "200") == {
        "$ref": "#/components/schemas/ServiceProviderConfig"
    }
    assert success("GET", "/scim/v2/Schemas/{id}", "200") == {"$ref": "#/components/schemas/Schema"}
    assert success("GET", "/scim/v2/ResourceTypes/{name}", "200") == {
        "$ref": "#/components/schemas/ResourceType"
    }
    created = operation(spec, "POST", "/scim/v2/Users")["responses"]["201"]
    assert set(created["headers"]) == {"ETag", "Location"}
    assert set(operation(spec, "GET", "/scim/v2/Users/{id}")["responses"]) == {
        "200",
        "304",
        "400",
        "401",
        "404",
        "429",
    }
    assert operation(spec, "DELETE", "/scim/v2/Users/{id}")["responses"]["204"] == {"description": "Deleted."}


async def test_every_error_response_references_the_error_schema(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    codes: set[str] = set()
    for route in SCIM_ROUTES:
        for code, response in operation(spec, route.method, route.path)["responses"].items():
            if code.startswith("4"):
                codes.add(code)
                example = response["content"]["application/scim+json"]["example"]
                assert response["content"] == {
                    "application/scim+json": {"schema": ERROR_REF, "example": example}
                }, (route.name, code)
                assert response["description"]
    assert {"400", "401", "404", "409", "412", "413", "415"} <= codes


async def test_wire_schemas_are_components(client: TestClient[Any, Any]) -> None:
    components = (await spec_of(client))["components"]["schemas"]
    for name in (
        "User",
        "EnterpriseUser",
        "UserListResponse",
        "PatchOp",
        "SearchRequest",
        "Error",
        "ServiceProviderConfig",
        "Schema",
        "ResourceType",
    ):
        assert name in components, name
    assert set(components["Error"]["properties"]) == {"schemas", "status", "scimType", "detail"}
    assert components["Error"]["required"] == ["schemas", "status"]
    assert set(components["PatchOperation"]["properties"]) == {"op", "path", "value"}
    assert components["PatchOp"]["properties"]["Operations"]["items"] == {
        "$ref": "#/components/schemas/PatchOperation"
    }
    assert set(components["UserListResponse"]["properties"]) == {
        "schemas",
        "totalResults",
        "startIndex",
        "itemsPerPage",
        "nextCursor",
        "previousCursor",
        "Resources",
    }
    assert components["UserListResponse"]["properties"]["Resources"]["items"] == {
        "$ref": "#/components/schemas/UserResponse"
    }
    assert set(components["SearchRequest"]["properties"]) == {
        "schemas",
        "attributes",
        "excludedAttributes",
        "filter",
        "sortBy",
        "sortOrder",
        "startIndex",
        "cursor",
        "count",
    }


async def test_user_schema_is_generated_from_the_catalog(client: TestClient[Any, Any]) -> None:
    components = (await spec_of(client))["components"]["schemas"]
    user = components["User"]
    properties = user["properties"]
    assert "userName" in properties
    assert properties[ENTERPRISE_USER_SCHEMA_ID]["allOf"] == [{"$ref": "#/components/schemas/EnterpriseUser"}]
    assert set(properties) == {
        "schemas",
        "id",
        "externalId",
        "meta",
        ENTERPRISE_USER_SCHEMA_ID,
        *(attribute.name for attribute in USER_SCHEMA.attributes),
    }
    assert set(components["EnterpriseUser"]["properties"]) == {
        a.name for a in ENTERPRISE_USER_SCHEMA.attributes
    }
    assert user["required"] == ["schemas", "userName"]
    response = components["UserResponse"]
    assert response["properties"] == properties
    assert response["required"] == ["id", "schemas"]
    assert components["GroupResponse"]["required"] == ["id", "schemas"]
    assert properties["id"]["readOnly"] is True
    assert properties["meta"]["readOnly"] is True
    assert properties["groups"]["readOnly"] is True
    assert properties["password"]["writeOnly"] is True
    assert properties["emails"]["items"] == {"$ref": "#/components/schemas/User.emails"}
    assert set(components["User.emails"]["properties"]) == {"value", "display", "type", "primary"}
    assert components["User.groups"]["properties"]["type"]["enum"] == ["direct", "indirect"]
    assert set(components["EnterpriseUser.manager"]["properties"]) == {"value", "$ref", "displayName"}


async def test_every_reference_resolves(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    components = spec["components"]["schemas"]
    found = set(refs(spec))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in components, ref


async def test_operation_ids_are_unique(client: TestClient[Any, Any]) -> None:
    spec = await spec_of(client)
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) == len(routes())


async def test_swagger_ui_is_served_as_html_without_a_token(client: TestClient[Any, Any]) -> None:
    response = await client.get("/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert f'url: "{SPEC_URL}"' in page
    assert "deepLinking: true" in page  # so that /docs#/scim opens the scim tag
    asset = await client.get("/docs/static/swagger-ui-bundle.js")
    assert asset.status == 200


async def test_docs_do_not_need_authentication_but_scim_still_does(client: TestClient[Any, Any]) -> None:
    assert (await client.get(SPEC_URL)).status == 200
    denied = await client.get("/scim/v2/Users")
    assert denied.status == 401


async def test_validation_middleware_is_not_installed(client: TestClient[Any, Any]) -> None:
    # Bodies are parsed by the server; webargs would drop the extension URN keys.
    assert validation_middleware not in client.app.middlewares
    handler = next(r.handler for r in client.app.router.routes() if r.name == "create_user")
    assert getattr(handler, "__name__", None) == "create_user"
