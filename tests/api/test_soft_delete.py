"""Soft delete (``delete = "soft"`` in the organizations file): a deleted resource is invisible to
every SCIM read and to membership, stays in the store until its retention passes, and a POST naming
it restores it with its id (docs/organizations.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.api import application
from scim_server.schema.catalog import BULK_REQUEST_SCHEMA, GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE
from scim_server.services.groups import GroupService
from scim_server.services.organizations import OrganizationsRegistry
from scim_server.services.resources import ResourceService
from scim_server.services.retention import DeletedPurge
from scim_server.settings import Settings
from scim_server.storage.documents import DELETED
from scim_server.storage.repository import Store
from tests.helpers import (
    TOKEN_A,
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
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
# orga deletes softly; orgb adopts existing users (and deletes hard); orgc is not in the file.
ORGANIZATIONS = """
[organizations.orga]
delete = "soft"
soft_delete_retention_days = 7

[organizations.orgb]
adopt_existing = true
"""

Client = TestClient[Any, Any]


@pytest.fixture
def organizations_file(tmp_path: Path) -> Path:
    return write_organizations(tmp_path, ORGANIZATIONS)


@pytest.fixture
async def soft(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], organizations_file: Path
) -> Client:
    return await client_with_organizations(aiohttp_client, app_factory, organizations_file)


async def get(client: Client, path: str, status: int = 200, token: str = TOKEN_A) -> Any:
    response = await client.get(f"/scim/v2{path}", headers=auth(token))
    assert response.status == status, await response.text()
    return await response.json()


async def delete(client: Client, path: str, token: str = TOKEN_A, **headers: str) -> None:
    response = await client.delete(f"/scim/v2{path}", headers={**auth(token), **headers})
    assert response.status == 204, await response.text()


async def listed(client: Client, path: str, body: dict[str, Any] | None = None) -> list[str]:
    """The ids a list, a filter or a .search answers (POST when ``body`` is given)."""
    if body is None:
        result = await get(client, path)
    else:
        response = await client.post(f"/scim/v2{path}", json={"schemas": [SEARCH], **body}, headers=auth())
        assert response.status == 200, await response.text()
        result = await response.json()
    assert result["totalResults"] == len(result["Resources"])
    return [resource["id"] for resource in result["Resources"]]


async def test_a_soft_deleted_user_is_invisible_to_every_read_and_stays_in_the_store(
    soft: Client, db: Any
) -> None:
    alice = await post(soft, "/Users", {"userName": "alice", "title": "Boss"})
    bob = await post(soft, "/Users", {"userName": "bob"})
    team = await post(soft, "/Groups", {"displayName": "team", "members": [{"value": alice["id"]}]})

    await delete(soft, f"/Users/{alice['id']}")

    gone = await get(soft, f"/Users/{alice['id']}", 404)
    assert gone == {"schemas": [ERROR], "status": "404", "detail": f"User {alice['id']} not found"}
    assert await listed(soft, "/Users") == [bob["id"]]
    assert await listed(soft, '/Users?filter=userName eq "alice"') == []
    assert await listed(soft, "/Users?filter=title pr") == []
    assert await listed(soft, "/Users/.search", {"filter": 'userName sw "a"'}) == []
    # (created in the same millisecond, a group comes before a user: compared as sets)
    assert set(await listed(soft, "/.search", {})) == {bob["id"], team["id"]}
    assert await listed(soft, "/.search", {"filter": 'userName eq "alice"'}) == []
    # It left its group: the members, the filter on them, and a new membership all ignore it.
    assert "members" not in await get(soft, f"/Groups/{team['id']}")
    assert await listed(soft, f'/Groups?filter=members.value eq "{alice["id"]}"') == []
    add = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": alice["id"]}]}],
    }
    refused = await soft.patch(f"/scim/v2/Groups/{team['id']}", json=add, headers=auth())
    assert refused.status == 400
    assert (await refused.json())["detail"] == (
        f"no User or Group with id {alice['id']} exists in this organization"
    )
    # Writes find nothing either, at its endpoint and in a Bulk request.
    replace = {"userName": "alice"}
    assert (await soft.put(f"/scim/v2/Users/{alice['id']}", json=replace, headers=auth())).status == 404
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}
    assert (await soft.patch(f"/scim/v2/Users/{alice['id']}", json=patch, headers=auth())).status == 404
    assert (await soft.delete(f"/scim/v2/Users/{alice['id']}", headers=auth())).status == 404
    bulk = {
        "schemas": [BULK_REQUEST_SCHEMA],
        "Operations": [
            {"method": "PATCH", "path": f"/Users/{alice['id']}", "data": patch},
            {"method": "DELETE", "path": f"/Users/{alice['id']}"},
        ],
    }
    answered = await soft.post("/scim/v2/Bulk", json=bulk, headers=auth())
    assert [op["status"] for op in (await answered.json())["Operations"]] == ["404", "404"]

    stored = await db["org_orga_users"].find_one({"_id": alice["id"]})
    assert stored["userName"] == "alice" and stored["title"] == "Boss"
    assert isinstance(stored[DELETED], datetime)
    assert await db["org_orga_memberships"].count_documents({}) == 0


async def test_a_soft_deleted_group_leaves_its_members_groups_and_moves_their_versions(
    soft: Client, db: Any
) -> None:
    bob = await post(soft, "/Users", {"userName": "bob"})
    team = await post(soft, "/Groups", {"displayName": "team", "members": [{"value": bob["id"]}]})
    before = await get(soft, f"/Users/{bob['id']}")
    assert [g["value"] for g in before["groups"]] == [team["id"]]

    await delete(soft, f"/Groups/{team['id']}")

    after = await get(soft, f"/Users/{bob['id']}")
    assert "groups" not in after
    assert after["meta"]["version"] != before["meta"]["version"]
    assert await listed(soft, "/Groups") == []
    assert await listed(soft, f'/Users?filter=groups.value eq "{team["id"]}"') == []
    assert (await db["org_orga_groups"].find_one({"_id": team["id"]}))["displayName"] == "team"


async def test_a_soft_delete_moves_the_versions_of_the_groups_that_showed_the_user(soft: Client) -> None:
    alice = await post(soft, "/Users", {"userName": "alice"})
    team = await post(soft, "/Groups", {"displayName": "team", "members": [{"value": alice["id"]}]})

    await delete(soft, f"/Users/{alice['id']}")

    assert (await get(soft, f"/Groups/{team['id']}"))["meta"]["version"] != team["meta"]["version"]


async def test_a_refused_soft_delete_marks_nothing(soft: Client, db: Any) -> None:
    alice = await post(soft, "/Users", {"userName": "alice"})

    response = await soft.delete(f"/scim/v2/Users/{alice['id']}", headers={**auth(), "If-Match": 'W/"7"'})

    assert response.status == 412
    assert DELETED not in await db["org_orga_users"].find_one({"_id": alice["id"]})
    await delete(soft, f"/Users/{alice['id']}", **{"If-Match": 'W/"1"'})
    await get(soft, f"/Users/{alice['id']}", 404)


async def test_a_post_with_the_same_username_restores_the_user_with_its_id_and_created_time(
    soft: Client, db: Any
) -> None:
    alice = await post(soft, "/Users", {"userName": "alice", "title": "Boss", "password": "s3cret-Pass"})
    await delete(soft, f"/Users/{alice['id']}")

    # userName is caseExact=false: the same name in another case is the same user.
    restored = await post(soft, "/Users", {"userName": "ALICE", "displayName": "Alice Again"})

    assert restored == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": alice["id"],
        "userName": "ALICE",
        "displayName": "Alice Again",
        "meta": {
            "resourceType": "User",
            "created": alice["meta"]["created"],
            "lastModified": restored["meta"]["lastModified"],
            "version": 'W/"2"',
            "location": f"{BASE}/Users/{alice['id']}",
        },
    }
    assert await get(soft, f"/Users/{alice['id']}") == restored
    assert await listed(soft, '/Users?filter=userName eq "alice"') == [alice["id"]]
    # Nothing of the deleted user is kept but its id and creation time: not its title, not its password.
    stored = await db["org_orga_users"].find_one({"_id": alice["id"]})
    assert DELETED not in stored and "title" not in stored and "password" not in stored
    assert await db["org_orga_users"].count_documents({}) == 1
    events = (await get(soft, "/events"))["events"]
    assert [(e["type"], e["resource"]["id"], e["resource"]["version"]) for e in events] == [
        ("User.created", alice["id"], 'W/"1"'),
        ("User.deleted", alice["id"], None),
        ("User.restored", alice["id"], 'W/"2"'),
    ]
    assert events[2]["changed"] == ["displayName", "userName"]


async def test_a_deleted_user_keeps_its_name_from_other_users(soft: Client) -> None:
    alice = await post(soft, "/Users", {"userName": "alice"})
    bob = await post(soft, "/Users", {"userName": "bob"})
    await delete(soft, f"/Users/{alice['id']}")

    renamed = await soft.put(f"/scim/v2/Users/{bob['id']}", json={"userName": "Alice"}, headers=auth())

    assert renamed.status == 409
    assert (await renamed.json())["detail"] == "userName is already in use in this organization"


async def test_a_restored_user_is_in_no_group_until_added_again(soft: Client) -> None:
    alice = await post(soft, "/Users", {"userName": "alice"})
    team = await post(soft, "/Groups", {"displayName": "team", "members": [{"value": alice["id"]}]})
    await delete(soft, f"/Users/{alice['id']}")

    restored = await post(soft, "/Users", {"userName": "alice"})

    assert "groups" not in restored and "groups" not in await get(soft, f"/Users/{alice['id']}")
    assert "members" not in await get(soft, f"/Groups/{team['id']}")


async def test_a_post_with_the_same_display_name_restores_the_group_with_the_members_it_lists(
    soft: Client,
) -> None:
    alice = await post(soft, "/Users", {"userName": "alice"})
    bob = await post(soft, "/Users", {"userName": "bob"})
    team = await post(soft, "/Groups", {"displayName": "team", "members": [{"value": alice["id"]}]})
    await delete(soft, f"/Groups/{team['id']}")

    restored = await post(
        soft, "/Groups", {"displayName": "Team", "externalId": "t-1", "members": [{"value": bob["id"]}]}
    )

    assert restored["id"] == team["id"]
    assert restored["meta"]["created"] == team["meta"]["created"]
    assert (restored["displayName"], restored["externalId"]) == ("Team", "t-1")
    assert restored["members"] == [
        {"value": bob["id"], "display": "bob", "type": "User", "$ref": f"{BASE}/Users/{bob['id']}"}
    ]
    assert [g["value"] for g in (await get(soft, f"/Users/{bob['id']}"))["groups"]] == [team["id"]]
    assert "groups" not in await get(soft, f"/Users/{alice['id']}")
    assert await get(soft, f"/Groups/{team['id']}") == restored
    events = (await get(soft, "/events"))["events"]
    assert [e["type"] for e in events][-2:] == ["Group.deleted", "Group.restored"]
    assert events[-1]["changed"] == ["displayName", "externalId", "members"]


async def test_a_restore_with_a_member_that_does_not_exist_writes_nothing(soft: Client, db: Any) -> None:
    team = await post(soft, "/Groups", {"displayName": "team"})
    await delete(soft, f"/Groups/{team['id']}")

    body = {"displayName": "team", "members": [{"value": "no-such-user"}]}
    response = await soft.post("/scim/v2/Groups", json=body, headers=auth())

    assert response.status == 400
    assert isinstance((await db["org_orga_groups"].find_one({"_id": team["id"]}))[DELETED], datetime)
    # Nor can it be restored as a member of itself: a deleted group is no member to add.
    body = {"displayName": "team", "members": [{"value": team["id"]}]}
    response = await soft.post("/scim/v2/Groups", json=body, headers=auth())
    assert response.status == 400
    assert (await response.json())["detail"] == (
        f"no User or Group with id {team['id']} exists in this organization"
    )
    await get(soft, f"/Groups/{team['id']}", 404)


async def test_a_bulk_post_restores_as_a_post_does(soft: Client) -> None:
    alice = await post(soft, "/Users", {"userName": "alice"})
    await delete(soft, f"/Users/{alice['id']}")
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "alice"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "bob"}},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "bob"}},
    ]

    response = await soft.post(
        "/scim/v2/Bulk", json={"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations}, headers=auth()
    )

    answered = (await response.json())["Operations"]
    assert [(op["status"], op.get("version")) for op in answered] == [
        ("201", 'W/"2"'),
        ("201", 'W/"1"'),
        ("409", None),
    ]
    assert answered[0]["location"] == f"{BASE}/Users/{alice['id']}"
    assert sorted(await listed(soft, "/Users")) == sorted([alice["id"], answered[1]["location"][-36:]])


async def test_an_organization_not_in_the_file_deletes_hard(soft: Client, db: Any) -> None:
    alice = await post(soft, "/Users", {"userName": "alice"}, TOKEN_C)

    await delete(soft, f"/Users/{alice['id']}", TOKEN_C)

    assert await db["org_orgc_users"].count_documents({}) == 0
    again = await post(soft, "/Users", {"userName": "alice"}, TOKEN_C)
    assert again["id"] != alice["id"]


async def test_the_purge_removes_what_was_deleted_longer_ago_than_the_retention(
    db: Any, organizations_file: Path
) -> None:
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    registry = OrganizationsRegistry(organizations_file)
    store = Store(db)
    users = ResourceService(
        USER_RESOURCE_TYPE,
        store.users,
        store.memberships,
        Settings(),
        clock=lambda: now[0],
        organizations=registry,
    )
    groups = GroupService(
        GROUP_RESOURCE_TYPE,
        store.groups,
        store.memberships,
        Settings(),
        clock=lambda: now[0],
        organizations=registry,
    )
    purge = DeletedPurge((users, groups), store.organizations, registry, clock=lambda: now[0])
    early = [await users.create("orga", {"userName": f"early{n}"}) for n in range(3)]
    late = await users.create("orga", {"userName": "late"})
    kept = await users.create("orga", {"userName": "kept"})
    group = await groups.create("orga", {"displayName": "g"})
    hard = await users.create("orgc", {"userName": "hard"})
    for stored in early:
        await users.delete("orga", stored.id, None)
    await groups.delete("orga", group.id, None)
    now[0] += timedelta(days=2)
    await users.delete("orga", late.id, None)

    now[0] += timedelta(days=6)  # 8 days after the first deletions (retention 7), 6 after the last
    assert await purge.purge(batch=2) == 3  # at most 2 users and 2 groups per organization a pass
    assert await purge.purge(batch=2) == 1
    assert await purge.purge(batch=2) == 0

    assert sorted(d["_id"] for d in await db["org_orga_users"].find({}).to_list(None)) == sorted(
        [late.id, kept.id]
    )
    assert await db["org_orga_groups"].count_documents({}) == 0
    assert await db["org_orgc_users"].count_documents({"_id": hard.id}) == 1
    now[0] += timedelta(days=1, seconds=1)
    assert await purge.purge() == 1
    assert [d["_id"] for d in await db["org_orga_users"].find({}).to_list(None)] == [kept.id]


async def test_the_server_purges_in_the_background_soon_after_its_start(
    aiohttp_client: ClientFactory,
    app_factory: Callable[..., web.Application],
    organizations_file: Path,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(application, "PURGE_DELAY_SECONDS", 1.0)
    first = await aiohttp_client(app_factory(organizations_file=str(organizations_file)))
    alice = await post(first, "/Users", {"userName": "alice"})
    bob = await post(first, "/Users", {"userName": "bob"})
    await delete(first, f"/Users/{alice['id']}")
    await delete(first, f"/Users/{bob['id']}")
    # alice was deleted eight days ago, past orga's retention of seven; bob just now.
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)
    await db["org_orga_users"].update_one({"_id": alice["id"]}, {"$set": {DELETED: eight_days_ago}})

    await aiohttp_client(app_factory(organizations_file=str(organizations_file)))  # a restart
    # Not at once: the first pass waits for the delay, off the first requests' way.
    assert await db["org_orga_users"].count_documents({"_id": alice["id"]}) == 1

    deadline = time.monotonic() + 15
    while await db["org_orga_users"].count_documents({"_id": alice["id"]}):
        assert time.monotonic() < deadline, "not purged"
        await asyncio.sleep(0.01)
    assert await db["org_orga_users"].count_documents({"_id": bob["id"]}) == 1
