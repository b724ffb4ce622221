"""Every error leaves as an RFC 7644 §3.12 body with the right status and scimType."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import SCIM, TOKEN_A, auth

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


async def error_of(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == SCIM
    body: dict[str, Any] = await response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert isinstance(body["detail"], str) and "Traceback" not in body["detail"]
    return body


async def test_malformed_json_is_400_invalid_syntax(client: TestClient[Any, Any]) -> None:
    response = await client.post("/scim/v2/Users", data=b'{"userName": ', headers=auth())
    await error_of(response, 400, "invalidSyntax")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userName": "a", "userName": "b"}',
        b'{"userName": "a", "x": NaN}',
        b'{"userName": "a", "x": Infinity}',
        b'{"userName": "\xff\xfe"}',
        b"[" * 100_000 + b"]" * 100_000,
        b"",
        b"   ",
    ],
    ids=["duplicate-keys", "nan", "infinity", "invalid-utf8", "deep-nesting", "empty", "blank"],
)
async def test_hostile_bodies_are_400_invalid_syntax(client: TestClient[Any, Any], raw: bytes) -> None:
    response = await client.post("/scim/v2/Users", data=raw, headers=auth())
    await error_of(response, 400, "invalidSyntax")


async def test_a_body_that_is_not_an_object_is_400_invalid_syntax(client: TestClient[Any, Any]) -> None:
    response = await client.post("/scim/v2/Users", json=["userName"], headers=auth())
    await error_of(response, 400, "invalidSyntax")


@pytest.mark.parametrize(
    "body",
    [
        {"userName": 12.5},
        {"userName": "x", "active": "maybe"},
        {"userName": "x", "name": "Barbara"},
        {
            "userName": "x",
            "emails": [{"value": "a@b.c", "primary": True}, {"value": "d@e.f", "primary": True}],
        },
        {"userName": ""},
        {"displayName": "no userName"},
    ],
    ids=[
        "number-username",
        "bad-boolean",
        "string-for-complex",
        "two-primaries",
        "empty-username",
        "missing",
    ],
)
async def test_wrong_values_are_400_invalid_value(client: TestClient[Any, Any], body: dict[str, Any]) -> None:
    response = await client.post("/scim/v2/Users", json=body, headers=auth())
    await error_of(response, 400, "invalidValue")
    listed = await (await client.get("/scim/v2/Users", headers=auth())).json()
    assert listed["totalResults"] == 0


async def test_unknown_route_is_404_and_wrong_method_is_405(client: TestClient[Any, Any]) -> None:
    await error_of(await client.get("/scim/v2/Widgets", headers=auth()), 404)
    await error_of(await client.get("/nowhere"), 404)
    response = await client.delete("/scim/v2/Users", headers=auth())
    await error_of(response, 405)
    assert "GET" in response.headers["Allow"]


async def test_oversized_body_is_413(aiohttp_client: Any, app_factory: Any) -> None:
    client = await aiohttp_client(app_factory(max_body_bytes=1024))
    response = await client.post("/scim/v2/Users", json={"userName": "x" * 2000}, headers=auth())
    await error_of(response, 413)


async def test_other_media_types_are_415_and_json_is_accepted(client: TestClient[Any, Any]) -> None:
    headers = auth() | {"Content-Type": "text/plain"}
    await error_of(await client.post("/scim/v2/Users", data=b'{"userName":"t"}', headers=headers), 415)
    plain_json = auth() | {"Content-Type": "application/json"}
    assert (await client.post("/scim/v2/Users", data=b'{"userName":"t"}', headers=plain_json)).status == 201
    okta = auth() | {"Content-Type": "application/scim+json; charset=utf-8"}
    assert (await client.post("/scim/v2/Users", data=b'{"userName":"u"}', headers=okta)).status == 201


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/scim+json", 201),
        ("application/json; charset=utf-8", 201),
        ("Application/SCIM+JSON; charset=UTF-8", 201),
        ("application/json;charset=utf-8", 201),
        ("application/scim+json; charset=utf-8; extra=1", 201),
        ("application/scim+json+x", 415),
        ("text/json", 415),
        ("application/x-www-form-urlencoded", 415),
    ],
)
async def test_the_media_type_is_read_whatever_the_spelling_of_the_header(
    client: TestClient[Any, Any], content_type: str, status: int
) -> None:
    headers = auth() | {"Content-Type": content_type}
    response = await client.post("/scim/v2/Users", data=b'{"userName":"media"}', headers=headers)
    assert response.status == status, await response.text()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer wrong-token-123",
        f"Bearer {TOKEN_A} extra",
        "Token " + TOKEN_A,
    ],
    ids=["missing", "empty-bearer", "basic", "unknown", "two-words", "other-scheme"],
)
async def test_bad_credentials_are_401_with_www_authenticate(
    client: TestClient[Any, Any], header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/scim/v2/Users", headers=headers)
    body = await error_of(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN_A not in body["detail"]


async def test_discovery_needs_a_token_but_healthz_does_not(client: TestClient[Any, Any]) -> None:
    await error_of(await client.get("/scim/v2/ServiceProviderConfig"), 401)
    health = await client.get("/healthz")
    assert health.status == 200 and await health.json() == {"status": "ok"}


async def test_unexpected_failures_are_a_generic_500_without_internals(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scim_server.services.resources import ResourceService

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal state")

    monkeypatch.setattr(ResourceService, "get", explode)
    response = await client.get("/scim/v2/Users/x", headers=auth())
    body = await error_of(response, 500)
    assert "secret" not in body["detail"]
