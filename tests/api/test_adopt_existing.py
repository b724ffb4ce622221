"""Adopt existing (``adopt_existing = true`` in the organizations file): a POST naming a resource
that exists replaces it as a PUT would and answers 201 with its id, instead of 409
(docs/organizations.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.api.keys import ORGANIZATIONS
from scim_server.schema.catalog import BULK_REQUEST_SCHEMA
from tests.helpers import (
    TOKEN_A,
    TOKEN_B,
    TOKEN_C,
    ClientFactory,
    auth,
    client_with_organizations,
    write_organizations,
)
from tests.helpers import (
    post_created as post,
)

BASE = "https://scim.test/scim/v2"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
# orga adopts existing resources; orgb deletes softly and does not adopt; orgc is not in the file.
FILE_TEXT = """
[organizations.orga]
adopt_existing = true

[organizations.orgb]
delete = "soft"
"""

Client = TestClient[Any, Any]


@pytest.fixture
def organizations_file(tmp_path: Path) -> Path:
    return write_organizations(tmp_path, FILE_TEXT)


@pytest.fixture
async def adopting(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], organizations_file: Path
) -> Client:
    return await client_with_organizations(aiohttp_client, app_factory, organizations_file)


async def get(client: Client, path: str, token: str = TOKEN_A) -> Any:
    response = await client.get(f"/scim/v2{path}", headers=auth(token))
    assert response.status == 200, await response.text()
    return await response.json()


async def conflict(client: Client, path: str, body: dict[str, Any], token: str) -> None:
    response = await client.post(f"/scim/v2{path}", json=body, headers=auth(token))
    assert response.status == 409, await response.text()
    assert (await response.json())["scimType"] == "uniqueness"


async def test_a_post_naming_an_existing_user_replaces_it_as_a_put_would_and_answers_201(
    adopting: Client, db: Any
) -> None:
    alice = await post(adopting, "/Users", {"userName": "alice", "title": "Boss", "password": "s3cret-Pass"})
    team = await post(adopting, "/Groups", {"displayName": "team", "members": [{"value": alice["id"]}]})
    in_team = await get(adopting, f"/Users/{alice['id']}")
    hashed = (await db["org_orga_users"].find_one({"_id": alice["id"]}))["password"]

    adopted = await post(adopting, "/Users", {"userName": "Alice", "displayName": "Alice Smith"})

    assert adopted == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": alice["id"],
        "userName": "Alice",
        "displayName": "Alice Smith",
        "groups": [
            {"value": team["id"], "display": "team", "type": "direct", "$ref": f"{BASE}/Groups/{team['id']}"}
        ],
        "meta": {
            "resourceType": "User",
            "created": alice["meta"]["created"],
            "lastModified": adopted["meta"]["lastModified"],
            "version": 'W/"4"',
            "location": f"{BASE}/Users/{alice['id']}",
        },
    }
    assert in_team["meta"]["version"] == 'W/"3"'  # the group's creation moved it twice
    assert await get(adopting, f"/Users/{alice['id']}") == adopted
    # A PUT keeps a password the body omits.
    assert (await db["org_orga_users"].find_one({"_id": alice["id"]}))["password"] == hashed
    assert await db["org_orga_users"].count_documents({}) == 1
    events = (await get(adopting, "/events"))["events"]
    assert [(e["type"], e["resource"]["id"]) for e in events] == [
        ("User.created", alice["id"]),
        ("Group.created", team["id"]),
        ("User.updated", alice["id"]),
    ]
    assert events[2]["changed"] == ["displayName", "title", "userName"]


async def test_a_post_naming_an_existing_group_replaces_its_members_too(adopting: Client) -> None:
    alice = await post(adopting, "/Users", {"userName": "alice"})
    bob = await post(adopting, "/Users", {"userName": "bob"})
    team = await post(adopting, "/Groups", {"displayName": "team", "members": [{"value": alice["id"]}]})

    adopted = await post(adopting, "/Groups", {"displayName": "team", "members": [{"value": bob["id"]}]})

    assert adopted["id"] == team["id"]
    assert adopted["meta"]["created"] == team["meta"]["created"]
    assert [m["value"] for m in adopted["members"]] == [bob["id"]]
    assert "groups" not in await get(adopting, f"/Users/{alice['id']}")
    assert [g["value"] for g in (await get(adopting, f"/Users/{bob['id']}"))["groups"]] == [team["id"]]
    events = (await get(adopting, "/events"))["events"]
    assert (events[-1]["type"], events[-1]["changed"]) == ("Group.updated", ["members"])


async def test_a_bulk_post_adopts_as_a_post_does(adopting: Client) -> None:
    alice = await post(adopting, "/Users", {"userName": "alice"})
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "alice", "title": "x"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "bob"}},
    ]

    response = await adopting.post(
        "/scim/v2/Bulk", json={"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations}, headers=auth()
    )

    answered = (await response.json())["Operations"]
    assert [(op["status"], op["version"]) for op in answered] == [("201", 'W/"2"'), ("201", 'W/"1"')]
    assert answered[0]["location"] == f"{BASE}/Users/{alice['id']}"
    assert (await get(adopting, f"/Users/{alice['id']}"))["title"] == "x"


async def test_organizations_without_adopt_existing_answer_409(adopting: Client) -> None:
    for token in (TOKEN_B, TOKEN_C):  # one in the file without the setting, one not in the file
        await post(adopting, "/Users", {"userName": "alice"}, token)
        await post(adopting, "/Groups", {"displayName": "team"}, token)

        await conflict(adopting, "/Users", {"userName": "ALICE"}, token)
        await conflict(adopting, "/Groups", {"displayName": "team"}, token)


async def test_two_organizations_in_one_app_keep_their_own_settings(adopting: Client, db: Any) -> None:
    first = {
        b: await post(adopting, "/Users", {"userName": "alice"}, t)
        for b, t in (("a", TOKEN_A), ("b", TOKEN_B))
    }
    await adopting.delete(f"/scim/v2/Users/{first['a']['id']}", headers=auth(TOKEN_A))
    await adopting.delete(f"/scim/v2/Users/{first['b']['id']}", headers=auth(TOKEN_B))

    # orga deletes hard: a new user; orgb deletes softly: the same user back.
    again_a = await post(adopting, "/Users", {"userName": "alice"}, TOKEN_A)
    again_b = await post(adopting, "/Users", {"userName": "alice"}, TOKEN_B)

    assert again_a["id"] != first["a"]["id"]
    assert again_b["id"] == first["b"]["id"]
    assert await db["org_orga_users"].count_documents({}) == 1
    # And only orga adopts.
    assert (await post(adopting, "/Users", {"userName": "alice"}, TOKEN_A))["id"] == again_a["id"]
    await conflict(adopting, "/Users", {"userName": "alice"}, TOKEN_B)


async def test_a_reloaded_file_applies_to_the_next_request(
    adopting: Client, organizations_file: Path
) -> None:
    await post(adopting, "/Users", {"userName": "alice"}, TOKEN_C)
    await conflict(adopting, "/Users", {"userName": "alice"}, TOKEN_C)

    text = FILE_TEXT + "\n[organizations.orgc]\nadopt_existing = true\n"
    await asyncio.to_thread(organizations_file.write_text, text, encoding="utf-8")
    assert adopting.app[ORGANIZATIONS].reload()  # what SIGHUP does

    adopted = await post(adopting, "/Users", {"userName": "alice", "title": "x"}, TOKEN_C)
    assert adopted["title"] == "x"
