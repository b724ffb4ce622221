"""The audit trail over HTTP: the token that made each write, by id and name."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from scim_server.services.tokens import TokenService, hash_token
from scim_server.storage.tokens import TOKENS_COLLECTION, TokenRepository
from tests.helpers import TOKEN_A, TOKEN_B, auth

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def events(db: Any, org: str = "orga") -> list[dict[str, Any]]:
    return list(
        await db[f"org_{org}_audit"].find({}, {"_id": 0}).sort([("time", 1), ("_id", 1)]).to_list(None)
    )


async def token_id(db: Any, token: str) -> str:
    doc = await db[TOKENS_COLLECTION].find_one({"hash": hash_token(token)})
    return str(doc["_id"])


async def test_every_write_records_the_bootstrap_token_by_id_and_name(
    client: TestClient[Any, Any], db: Any
) -> None:
    response = await client.post(
        "/scim/v2/Users",
        json={"userName": "alice", "password": "Sup3r-Secret!", "emails": [{"value": "alice@corp.example"}]},
        headers=auth(),
    )
    user = await response.json()
    response = await client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "Staff", "members": [{"value": user["id"]}]},
        headers=auth(),
    )
    group = await response.json()
    response = await client.patch(
        f"/scim/v2/Groups/{group['id']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": f'members[value eq "{user["id"]}"]'}],
        },
        headers=auth(),
    )
    assert response.status == 204
    response = await client.put(
        f"/scim/v2/Users/{user['id']}", json={"userName": "alice", "title": "CTO"}, headers=auth()
    )
    assert response.status == 200
    response = await client.delete(f"/scim/v2/Users/{user['id']}", headers=auth())
    assert response.status == 204

    recorded = await events(db)
    bootstrap = await token_id(db, TOKEN_A)
    assert [(e["tokenId"], e["tokenName"], e["org"]) for e in recorded] == [
        (bootstrap, "bootstrap", "orga")
    ] * 5
    assert [
        (e["operation"], e["resourceType"], e["resourceId"], e["changed"], e.get("members")) for e in recorded
    ] == [
        ("create", "User", user["id"], ["emails", "password", "userName"], None),
        ("create", "Group", group["id"], ["displayName", "members"], {"added": 1, "removed": 0}),
        ("patch", "Group", group["id"], ["members"], {"added": 0, "removed": 1}),
        ("replace", "User", user["id"], ["emails", "title"], None),
        ("delete", "User", user["id"], [], None),
    ]
    text = json.dumps(recorded, default=str)
    assert "Sup3r-Secret!" not in text and "alice@corp.example" not in text
    assert await events(db, "orgb") == []


async def test_the_audit_names_the_token_an_operator_issued(client: TestClient[Any, Any], db: Any) -> None:
    record, token = await TokenService(TokenRepository(db), cache_seconds=0).create("orgb", name="okta-prod")

    response = await client.post("/scim/v2/Users", json={"userName": "bob"}, headers=auth(token))
    assert response.status == 201
    response = await client.post("/scim/v2/Users", json={"userName": "carol"}, headers=auth(TOKEN_B))
    assert response.status == 201

    assert [(e["tokenId"], e["tokenName"]) for e in await events(db, "orgb")] == [
        (record.id, "okta-prod"),
        (await token_id(db, TOKEN_B), "bootstrap"),
    ]


async def test_reads_and_refused_writes_record_nothing(client: TestClient[Any, Any], db: Any) -> None:
    await client.get("/scim/v2/Users", headers=auth())
    response = await client.post("/scim/v2/Users", json={"userName": ""}, headers=auth())
    assert response.status == 400
    response = await client.delete("/scim/v2/Users/missing", headers=auth())
    assert response.status == 404

    assert await events(db) == []
