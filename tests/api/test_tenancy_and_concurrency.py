"""Organization isolation and concurrent writers."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import TOKEN_A, TOKEN_B, auth


async def test_org_b_never_sees_changes_or_deletes_org_a_users(client: TestClient[Any, Any]) -> None:
    created = await client.post(
        "/scim/v2/Users", json={"userName": "alice", "title": "A"}, headers=auth(TOKEN_A)
    )
    user = await created.json()
    url = f"/scim/v2/Users/{user['id']}"
    b = auth(TOKEN_B)
    assert (await client.get(url, headers=b)).status == 404
    assert (await client.put(url, json={"userName": "alice"}, headers=b)).status == 404
    patch = {"Operations": [{"op": "replace", "path": "title", "value": "pwned"}]}
    assert (await client.patch(url, json=patch, headers=b)).status == 404
    assert (await client.delete(url, headers=b)).status == 404
    for params in ["", f'?filter=id eq "{user["id"]}"', '?filter=userName eq "alice"']:
        listed = await (await client.get("/scim/v2/Users" + params, headers=b)).json()
        assert listed["totalResults"] == 0
    searched = await (await client.post("/scim/v2/Users/.search", json={}, headers=b)).json()
    assert searched["totalResults"] == 0
    # The same userName is free in another organization.
    assert (await client.post("/scim/v2/Users", json={"userName": "alice"}, headers=b)).status == 201
    still = await (await client.get(url, headers=auth(TOKEN_A))).json()
    assert still["title"] == "A" and still["meta"]["version"] == 'W/"1"'


async def test_fifty_concurrent_patches_on_one_user_lose_nothing(client: TestClient[Any, Any]) -> None:
    user = await (await client.post("/scim/v2/Users", json={"userName": "busy"}, headers=auth())).json()
    url = f"/scim/v2/Users/{user['id']}"

    async def add_email(i: int) -> int:
        body = {
            "Operations": [
                {"op": "add", "path": "emails", "value": [{"value": f"u{i}@x.org", "type": "other"}]}
            ]
        }
        response = await client.patch(url, json=body, headers=auth())
        return response.status

    statuses = await asyncio.gather(*(add_email(i) for i in range(50)))
    assert statuses == [200] * 50
    final = await (await client.get(url, headers=auth())).json()
    assert sorted(e["value"] for e in final["emails"]) == sorted(f"u{i}@x.org" for i in range(50))
    assert final["meta"]["version"] == 'W/"51"'


async def test_concurrent_posts_of_one_username_give_exactly_one_201(client: TestClient[Any, Any]) -> None:
    async def post(i: int) -> int:
        body = {"userName": "Race@Example.com" if i % 2 else "race@example.com"}
        return (await client.post("/scim/v2/Users", json=body, headers=auth())).status

    statuses = await asyncio.gather(*(post(i) for i in range(20)))
    assert sorted(statuses) == [201] + [409] * 19
    listed = await (await client.get("/scim/v2/Users", headers=auth())).json()
    assert listed["totalResults"] == 1
