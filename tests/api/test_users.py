"""Users over HTTP: the RFC 7644 §3 lifecycle, headers and status codes."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import SCIM, auth

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def create(
    client: TestClient[Any, Any], body: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    response = await client.post("/scim/v2/Users", json=body, headers=auth(token) if token else auth())
    assert response.status == 201, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def test_post_returns_201_with_location_etag_and_the_full_resource(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/scim/v2/Users",
        json={
            "schemas": [USER, ENTERPRISE],
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
            "active": True,
            "password": "t1meMa$heen",
            ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "boss-1"}},
        },
        headers=auth(),
    )
    assert response.status == 201
    assert response.content_type == SCIM
    body = await response.json()
    user_id = body["id"]
    assert response.headers["Location"] == f"https://scim.test/scim/v2/Users/{user_id}"
    assert response.headers["ETag"] == 'W/"1"'
    meta = body.pop("meta")
    assert body == {
        "schemas": [USER, ENTERPRISE],
        "id": user_id,
        "userName": "bjensen@example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "active": True,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "boss-1"}},
    }
    assert meta["resourceType"] == "User"
    assert meta["location"] == response.headers["Location"]
    assert meta["version"] == 'W/"1"'
    assert ISO_MS.match(meta["created"]) and meta["created"] == meta["lastModified"]


async def test_password_is_never_returned_and_is_stored_only_as_a_hash(
    client: TestClient[Any, Any], db: Any
) -> None:
    user = await create(client, {"userName": "pw", "password": "Secret-123"})
    assert "password" not in user
    doc = await db["org_orga_users"].find_one({"_id": user["id"]})
    assert doc["password"].startswith("$scrypt$") and "Secret-123" not in str(doc)
    listed = await (await client.get("/scim/v2/Users?attributes=password", headers=auth())).json()
    assert "password" not in listed["Resources"][0]


async def test_get_by_id_returns_the_resource_and_304_for_a_matching_if_none_match(
    client: TestClient[Any, Any],
) -> None:
    user = await create(client, {"userName": "alice"})
    response = await client.get(f"/scim/v2/Users/{user['id']}", headers=auth())
    assert response.status == 200
    assert await response.json() == user
    cached = await client.get(f"/scim/v2/Users/{user['id']}", headers=auth() | {"If-None-Match": 'W/"1"'})
    assert cached.status == 304
    stale = await client.get(f"/scim/v2/Users/{user['id']}", headers=auth() | {"If-None-Match": 'W/"0"'})
    assert stale.status == 200


async def test_unknown_id_is_404_with_a_scim_error_body(client: TestClient[Any, Any]) -> None:
    response = await client.get("/scim/v2/Users/does-not-exist", headers=auth())
    assert response.status == 404
    assert response.content_type == SCIM
    assert await response.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "404",
        "detail": "User does-not-exist not found",
    }


async def test_delete_answers_204_and_the_user_is_gone(client: TestClient[Any, Any]) -> None:
    user = await create(client, {"userName": "gone"})
    response = await client.delete(f"/scim/v2/Users/{user['id']}", headers=auth())
    assert response.status == 204
    assert (await client.get(f"/scim/v2/Users/{user['id']}", headers=auth())).status == 404
    assert (await client.delete(f"/scim/v2/Users/{user['id']}", headers=auth())).status == 404


async def test_username_is_unique_case_insensitively_with_409_uniqueness(
    client: TestClient[Any, Any],
) -> None:
    await create(client, {"userName": "Runscope300@Example.com"})
    response = await client.post(
        "/scim/v2/Users", json={"userName": "runscope300@example.COM"}, headers=auth()
    )
    assert response.status == 409
    body = await response.json()
    assert body["scimType"] == "uniqueness" and body["status"] == "409"
    assert "userName" in body["detail"]


async def test_put_replaces_ignores_read_only_keeps_password_and_bumps_the_version(
    client: TestClient[Any, Any], db: Any
) -> None:
    user = await create(
        client, {"userName": "putme", "password": "Pw-123456", "title": "Boss", "active": True}
    )
    stored_hash = (await db["org_orga_users"].find_one({"_id": user["id"]}))["password"]
    response = await client.put(
        f"/scim/v2/Users/{user['id']}",
        json={
            "schemas": [USER],
            "id": "someone-else",
            "userName": "putme",
            "groups": [],
            "meta": {"resourceType": "User", "created": "2000-01-01T00:00:00Z"},
            "displayName": "Put Me",
            "active": False,
        },
        headers=auth(),
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["id"] == user["id"]
    assert body["displayName"] == "Put Me" and body["active"] is False
    assert "title" not in body  # PUT replaces: omitted attributes are cleared
    assert body["meta"]["created"] == user["meta"]["created"]
    assert body["meta"]["version"] == 'W/"2"' and response.headers["ETag"] == 'W/"2"'
    doc = await db["org_orga_users"].find_one({"_id": user["id"]})
    assert doc["password"] == stored_hash


async def test_if_match_mismatch_is_412_on_put_patch_and_delete(client: TestClient[Any, Any]) -> None:
    user = await create(client, {"userName": "guarded"})
    url = f"/scim/v2/Users/{user['id']}"
    stale = auth() | {"If-Match": 'W/"7"'}
    patch = {"Operations": [{"op": "replace", "path": "title", "value": "x"}]}
    assert (await client.put(url, json={"userName": "guarded"}, headers=stale)).status == 412
    assert (await client.patch(url, json=patch, headers=stale)).status == 412
    assert (await client.delete(url, headers=stale)).status == 412
    ok = await client.patch(url, json=patch, headers=auth() | {"If-Match": 'W/"1"'})
    assert ok.status == 200 and ok.headers["ETag"] == 'W/"2"'
    assert (await client.delete(url, headers=auth() | {"If-Match": '"2"'})).status == 204


async def test_patch_returns_the_updated_resource_and_a_noop_patch_keeps_the_version(
    client: TestClient[Any, Any],
) -> None:
    user = await create(client, {"userName": "patchy", "active": True})
    url = f"/scim/v2/Users/{user['id']}"
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    response = await client.patch(url, json=body, headers=auth())
    assert response.status == 200
    patched = await response.json()
    assert patched["active"] is False and patched["meta"]["version"] == 'W/"2"'
    again = await (await client.patch(url, json=body, headers=auth())).json()
    assert again["meta"]["version"] == 'W/"2"'


async def test_disabled_users_stay_visible_to_get_and_filters(client: TestClient[Any, Any]) -> None:
    user = await create(client, {"userName": "disabled", "active": False})
    got = await (await client.get(f"/scim/v2/Users/{user['id']}", headers=auth())).json()
    assert got["active"] is False
    found = await (await client.get('/scim/v2/Users?filter=userName eq "disabled"', headers=auth())).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["active"] is False


async def test_attributes_and_excluded_attributes_shape_every_read(client: TestClient[Any, Any]) -> None:
    user = await create(
        client,
        {
            "userName": "shape",
            "name": {"givenName": "S", "familyName": "H"},
            "emails": [{"value": "s@x.org", "type": "work"}],
            ENTERPRISE: {"department": "R&D"},
        },
    )
    url = f"/scim/v2/Users/{user['id']}"
    only = await (await client.get(url + "?attributes=name.givenName,emails", headers=auth())).json()
    assert only == {
        "schemas": [USER, ENTERPRISE],
        "id": user["id"],
        "name": {"givenName": "S"},
        "emails": [{"value": "s@x.org", "type": "work"}],
    }
    without = await (
        await client.get(url + f"?excludedAttributes=emails,meta,{ENTERPRISE}:department", headers=auth())
    ).json()
    assert without == {
        "schemas": [USER, ENTERPRISE],
        "id": user["id"],
        "userName": "shape",
        "name": {"familyName": "H", "givenName": "S"},
    }
    listed = await (
        await client.get('/scim/v2/Users?ATTRIBUTES=userName&filter=userName eq "shape"', headers=auth())
    ).json()
    assert listed["Resources"] == [{"schemas": [USER, ENTERPRISE], "id": user["id"], "userName": "shape"}]


async def test_stray_id_meta_and_unknown_schema_urns_in_a_post_are_ignored(
    client: TestClient[Any, Any],
) -> None:
    user = await create(
        client,
        {
            "schemas": [
                USER,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
                "urn:scim:schemas:core:1.0",
            ],
            "id": None,
            "meta": {"resourceType": "User"},
            "userName": "stray",
            "addresses": None,
            "title": None,
            "manager": None,
            "roles": [],
        },
    )
    assert user["schemas"] == [USER]
    assert set(user) == {"schemas", "id", "userName", "meta"}
