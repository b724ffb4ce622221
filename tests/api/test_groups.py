"""Groups over HTTP: lifecycle, membership, back-references, IdP replays, isolation, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from tests.helpers import TOKEN_B, auth

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
BASE = "https://scim.test/scim/v2"


async def call(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    body: Any = None,
    status: int = 200,
    token: str | None = None,
) -> Any:
    response = await client.request(
        method, "/scim/v2" + path, json=body, headers=auth(token) if token else auth()
    )
    assert response.status == status, await response.text()
    return None if status in (204, 304) else await response.json()


async def user(client: TestClient[Any, Any], name: str, token: str | None = None) -> str:
    created = await call(client, "POST", "/Users", {"userName": name}, status=201, token=token)
    return str(created["id"])


async def group(client: TestClient[Any, Any], name: str, **extra: Any) -> dict[str, Any]:
    body = {"schemas": [GROUP], "displayName": name, **extra}
    result: dict[str, Any] = await call(client, "POST", "/Groups", body, status=201)
    return result


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


async def member_ids(client: TestClient[Any, Any], group_id: str) -> list[str]:
    body = await call(client, "GET", f"/Groups/{group_id}")
    return sorted(m["value"] for m in body.get("members", []))


async def test_create_get_and_render_members_with_ref_type_and_display(client: TestClient[Any, Any]) -> None:
    alice = await user(client, "alice")
    inner = await group(client, "Inner")
    created = await call(
        client,
        "POST",
        "/Groups",
        {
            "displayName": "Outer",
            "externalId": "ext-1",
            "members": [{"value": alice}, {"value": inner["id"]}],
        },
        status=201,
    )
    meta = created.pop("meta")
    assert meta["resourceType"] == "Group" and meta["version"] == 'W/"1"'
    assert created == {
        "schemas": [GROUP],
        "id": created["id"],
        "externalId": "ext-1",
        "displayName": "Outer",
        "members": [
            {"value": alice, "$ref": f"{BASE}/Users/{alice}", "type": "User", "display": "alice"},
            {
                "value": inner["id"],
                "$ref": f"{BASE}/Groups/{inner['id']}",
                "type": "Group",
                "display": "Inner",
            },
        ],
    }
    fetched = await call(client, "GET", f"/Groups/{created['id']}")
    assert fetched["members"] == created["members"]


async def test_display_name_is_required_and_unique_case_insensitively(client: TestClient[Any, Any]) -> None:
    await group(client, "Engineering")
    clash = await client.post("/scim/v2/Groups", json={"displayName": "ENGINEERING"}, headers=auth())
    assert clash.status == 409 and (await clash.json())["scimType"] == "uniqueness"
    missing = await client.post("/scim/v2/Groups", json={"externalId": "x"}, headers=auth())
    assert missing.status == 400 and (await missing.json())["scimType"] == "invalidValue"


async def test_unknown_member_ids_are_400_naming_them_and_change_nothing(
    client: TestClient[Any, Any],
) -> None:
    alice = await user(client, "alice")
    eng = await group(client, "Eng", members=[{"value": alice}])
    response = await client.patch(
        f"/scim/v2/Groups/{eng['id']}",
        json=ops(
            {"op": "replace", "path": "displayName", "value": "Renamed"},
            {"op": "add", "path": "members", "value": [{"value": "ghost-1"}]},
        ),
        headers=auth(),
    )
    assert response.status == 400
    body = await response.json()
    assert body["scimType"] == "invalidValue" and "ghost-1" in body["detail"]
    after = await call(client, "GET", f"/Groups/{eng['id']}")
    assert after["displayName"] == "Eng" and after["meta"]["version"] == 'W/"1"'
    assert [m["value"] for m in after["members"]] == [alice]
    create = await client.post(
        "/scim/v2/Groups", json={"displayName": "X", "members": [{"value": "nope"}]}, headers=auth()
    )
    assert create.status == 400
    assert (await call(client, "GET", '/Groups?filter=displayName eq "X"'))["totalResults"] == 0


async def test_adding_a_member_twice_leaves_one_entry(client: TestClient[Any, Any]) -> None:
    alice = await user(client, "alice")
    eng = await group(client, "Eng")
    for _ in range(2):
        await call(
            client,
            "PATCH",
            f"/Groups/{eng['id']}",
            ops({"op": "add", "path": "members", "value": [{"value": alice}]}),
            status=204,
        )
    twice = await call(
        client,
        "PATCH",
        f"/Groups/{eng['id']}",
        ops({"op": "add", "path": "members", "value": [{"value": alice}, {"value": alice}]}),
        status=204,
    )
    assert twice is None
    assert await member_ids(client, eng["id"]) == [alice]


async def test_a_group_cannot_contain_itself_and_member_types_are_checked(
    client: TestClient[Any, Any],
) -> None:
    alice = await user(client, "alice")
    eng = await group(client, "Eng")
    own = await client.patch(
        f"/scim/v2/Groups/{eng['id']}",
        json=ops({"op": "add", "path": "members", "value": [{"value": eng["id"]}]}),
        headers=auth(),
    )
    assert own.status == 400
    wrong = await client.patch(
        f"/scim/v2/Groups/{eng['id']}",
        json=ops({"op": "add", "path": "members", "value": [{"value": alice, "type": "Group"}]}),
        headers=auth(),
    )
    assert wrong.status == 400 and "is a User" in (await wrong.json())["detail"]


async def test_membership_patch_answers_204_with_etag_unless_attributes_are_asked(
    client: TestClient[Any, Any],
) -> None:
    alice = await user(client, "alice")
    eng = await group(client, "Eng")
    add = ops({"op": "add", "path": "members", "value": [{"value": alice}]})
    response = await client.patch(f"/scim/v2/Groups/{eng['id']}", json=add, headers=auth())
    # The guarded write moves the version, and once more after the pair writes.
    assert response.status == 204 and response.headers["ETag"] == 'W/"3"'
    asked = await client.patch(
        f"/scim/v2/Groups/{eng['id']}?excludedAttributes=members",
        json=ops({"op": "replace", "path": "displayName", "value": "Eng2"}),
        headers=auth(),
    )
    assert asked.status == 200
    body = await asked.json()
    assert body["displayName"] == "Eng2" and "members" not in body and body["meta"]["version"] == 'W/"4"'


async def test_user_groups_back_reference_and_filters_both_ways(client: TestClient[Any, Any]) -> None:
    alice, bob = await user(client, "alice"), await user(client, "bob")
    eng = await group(client, "Eng", members=[{"value": alice}])
    ops_group = await group(client, "Ops", members=[{"value": alice}, {"value": bob}])
    alice_body = await call(client, "GET", f"/Users/{alice}")
    assert sorted(alice_body["groups"], key=lambda g: g["display"]) == [
        {"value": eng["id"], "$ref": f"{BASE}/Groups/{eng['id']}", "display": "Eng", "type": "direct"},
        {
            "value": ops_group["id"],
            "$ref": f"{BASE}/Groups/{ops_group['id']}",
            "display": "Ops",
            "type": "direct",
        },
    ]
    by_group = await call(client, "GET", "/Users?filter=" + quote(f'groups.value eq "{eng["id"]}"'))
    assert [r["id"] for r in by_group["Resources"]] == [alice]
    by_member = await call(client, "GET", "/Groups?filter=" + quote(f'members.value eq "{bob}"'))
    assert [r["displayName"] for r in by_member["Resources"]] == ["Ops"]
    bracket = await call(
        client, "GET", "/Groups?filter=" + quote(f'members[value eq "{alice}"]') + "&sortBy=displayName"
    )
    assert [r["displayName"] for r in bracket["Resources"]] == ["Eng", "Ops"]
    not_member = await call(client, "GET", "/Groups?filter=" + quote(f'not (members.value eq "{bob}")'))
    assert [r["displayName"] for r in not_member["Resources"]] == ["Eng"]
    # "Some member other than bob" would need every membership: refused (docs: filters on membership).
    other_member = await client.get(
        "/scim/v2/Groups?filter=" + quote(f'members.value ne "{bob}"'), headers=auth()
    )
    assert other_member.status == 400 and (await other_member.json())["scimType"] == "invalidFilter"
    by_name = await call(
        client, "GET", "/Groups?filter=" + quote('displayName eq "eng"') + "&excludedAttributes=members"
    )
    assert [r["id"] for r in by_name["Resources"]] == [eng["id"]] and "members" not in by_name["Resources"][0]
    excluded = await call(client, "GET", f"/Users/{alice}?excludedAttributes=groups")
    assert "groups" not in excluded
    unsupported = await client.get(
        "/scim/v2/Groups?filter=" + quote('members.display eq "alice"'), headers=auth()
    )
    assert unsupported.status == 400 and (await unsupported.json())["scimType"] == "invalidFilter"


async def test_deleting_a_user_or_a_group_removes_it_from_every_group(client: TestClient[Any, Any]) -> None:
    alice, bob = await user(client, "alice"), await user(client, "bob")
    child = await group(client, "Child", members=[{"value": bob}])
    parent = await group(client, "Parent", members=[{"value": alice}, {"value": child["id"]}])
    await call(client, "DELETE", f"/Users/{alice}", status=204)
    assert await member_ids(client, parent["id"]) == [child["id"]]
    await call(client, "DELETE", f"/Groups/{child['id']}", status=204)
    assert await member_ids(client, parent["id"]) == []
    bob_body = await call(client, "GET", f"/Users/{bob}")
    assert "groups" not in bob_body


async def test_put_replaces_members_and_keeps_the_same_display_name(client: TestClient[Any, Any]) -> None:
    alice, bob = await user(client, "alice"), await user(client, "bob")
    eng = await group(client, "Eng", members=[{"value": alice}])
    put = await call(
        client,
        "PUT",
        f"/Groups/{eng['id']}",
        {
            "schemas": [GROUP],
            "id": eng["id"],
            "displayName": "Eng",
            "members": [{"value": bob, "display": "bob"}],
        },
    )
    assert [m["value"] for m in put["members"]] == [bob] and put["meta"]["version"] == 'W/"3"'
    emptied = await call(client, "PUT", f"/Groups/{eng['id']}", {"displayName": "Eng"})
    assert "members" not in emptied


async def test_entra_group_sequence(client: TestClient[Any, Any]) -> None:
    user_1, user_2 = await user(client, "u1@contoso.com"), await user(client, "u2@contoso.com")
    probe = await call(
        client, "GET", "/Groups?excludedAttributes=members&filter=" + quote('displayName eq "displayName"')
    )
    assert probe == {
        "schemas": [LIST],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    created = await call(
        client,
        "POST",
        "/Groups",
        {
            "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
        },
        status=201,
    )
    gid = created["id"]
    assert created["schemas"] == [GROUP] and "members" not in created
    found = await call(
        client, "GET", "/Groups?excludedAttributes=members&filter=" + quote('displayName eq "displayName"')
    )
    assert [r["id"] for r in found["Resources"]] == [gid]
    single = await call(client, "GET", f"/Groups/{gid}?excludedAttributes=members")
    assert single["displayName"] == "displayName" and "members" not in single
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        {"Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59updatedDisplayName"}]},
        status=204,
    )
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        {
            "Operations": [
                {
                    "op": "Add",
                    "path": "members",
                    "value": [{"$ref": None, "value": user_1}, {"$ref": None, "value": user_2}],
                }
            ]
        },
        status=204,
    )
    assert await member_ids(client, gid) == sorted([user_1, user_2])
    # A remove with a value list removes only the listed members, never all of them.
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        {"Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user_1}]}]},
        status=204,
    )
    assert await member_ids(client, gid) == [user_2]
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        ops({"op": "remove", "path": f'members[value eq "{user_2}"]'}),
        status=204,
    )
    assert await member_ids(client, gid) == []
    # Microsoft test-collection noise: a top-level id, per-operation names, displayName in members.
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        {
            "schemas": [PATCH_OP],
            "id": gid,
            "Operations": [
                {
                    "name": "addMember",
                    "op": "add",
                    "path": "members",
                    "value": [{"displayName": "u1", "value": user_1}],
                },
            ],
        },
        status=204,
    )
    assert await member_ids(client, gid) == [user_1]
    renamed = await call(client, "GET", f"/Groups/{gid}")
    assert renamed["displayName"] == "1879db59updatedDisplayName"
    await call(client, "DELETE", f"/Groups/{gid}", status=204)
    await call(client, "GET", f"/Groups/{gid}", status=404)


async def test_okta_group_push_sequence(client: TestClient[Any, Any]) -> None:
    u1, u2, u3 = [await user(client, f"user{i}@okta.local") for i in range(3)]
    created = await call(
        client,
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []},
        status=201,
    )
    gid = created["id"]
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        ops(
            {
                "op": "replace",
                "path": "members",
                "value": [{"value": u1, "display": "user0@okta.local"}, {"value": u2}],
            }
        ),
        status=204,
    )
    assert await member_ids(client, gid) == sorted([u1, u2])
    # Rename with no path and the group's id inside the value: the id is ignored.
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        ops({"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}),
        status=204,
    )
    # Remove-then-add in one request.
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        ops(
            {"op": "remove", "path": f'members[value eq "{u1}"]'},
            {"op": "add", "path": "members", "value": [{"value": u3, "display": "user2@okta.local"}]},
        ),
        status=204,
    )
    after = await call(client, "GET", f"/Groups/{gid}")
    assert after["displayName"] == "Test SCIMv2 renamed"
    assert sorted(m["value"] for m in after["members"]) == sorted([u2, u3])
    # Import paging over groups, then an AIW-style PUT of the same group (no 409 on its own name).
    page = await call(client, "GET", "/Groups?startIndex=1&count=100")
    assert page["totalResults"] == 1
    put = await call(
        client,
        "PUT",
        f"/Groups/{gid}",
        {"schemas": [GROUP], "displayName": "Test SCIMv2 renamed", "members": [{"value": u1}]},
    )
    assert [m["value"] for m in put["members"]] == [u1]
    await call(client, "DELETE", f"/Groups/{gid}", status=204)


async def test_jumpcloud_style_no_filter_member_add(client: TestClient[Any, Any]) -> None:
    uid = await user(client, "jc@x.org")
    gid = (await group(client, "JC"))["id"]
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        {"Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]},
        status=204,
    )
    assert await member_ids(client, gid) == [uid]


async def test_onelogin_lowercase_ops_and_member_replace_in_a_no_path_value(
    client: TestClient[Any, Any],
) -> None:
    u1, u2 = await user(client, "a"), await user(client, "b")
    gid = (await group(client, "OL"))["id"]
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        ops({"op": "add", "value": {"members": [{"value": u1}]}}),
        status=204,
    )
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        ops({"op": "replace", "value": {"members": [{"value": u2}], "displayName": "OL2"}}),
        status=204,
    )
    body = await call(client, "GET", f"/Groups/{gid}")
    assert body["displayName"] == "OL2" and [m["value"] for m in body["members"]] == [u2]


async def test_member_sub_attributes_and_other_member_filters_are_refused(
    client: TestClient[Any, Any],
) -> None:
    gid = (await group(client, "G"))["id"]
    for operation, scim_type in [
        ({"op": "replace", "path": "members.value", "value": "x"}, "mutability"),
        ({"op": "remove", "path": 'members[type eq "User"]'}, "invalidPath"),
        ({"op": "add", "path": 'members[value eq "x"]', "value": {"value": "x"}}, "invalidPath"),
    ]:
        response = await client.patch(f"/scim/v2/Groups/{gid}", json=ops(operation), headers=auth())
        assert response.status == 400, operation
        assert (await response.json())["scimType"] == scim_type


async def test_org_b_can_neither_see_a_groups_nor_add_its_users_to_them(client: TestClient[Any, Any]) -> None:
    alice = await user(client, "alice")
    eng = await group(client, "Eng", members=[{"value": alice}])
    mallory = await user(client, "mallory", token=TOKEN_B)
    b_group = await call(client, "POST", "/Groups", {"displayName": "Eng"}, status=201, token=TOKEN_B)
    for method, path in [("GET", f"/Groups/{eng['id']}"), ("DELETE", f"/Groups/{eng['id']}")]:
        await call(client, method, path, status=404, token=TOKEN_B)
    await call(
        client,
        "PATCH",
        f"/Groups/{eng['id']}",
        ops({"op": "add", "path": "members", "value": [{"value": mallory}]}),
        status=404,
        token=TOKEN_B,
    )
    # From its own group, org B cannot reference org A's user: that id does not exist for B.
    response = await client.patch(
        f"/scim/v2/Groups/{b_group['id']}",
        json=ops({"op": "add", "path": "members", "value": [{"value": alice}]}),
        headers=auth(TOKEN_B),
    )
    assert response.status == 400
    # Nor can org A add org B's user.
    response = await client.patch(
        f"/scim/v2/Groups/{eng['id']}",
        json=ops({"op": "add", "path": "members", "value": [{"value": mallory}]}),
        headers=auth(),
    )
    assert response.status == 400
    listed = await call(
        client, "GET", "/Groups?filter=" + quote(f'members.value eq "{alice}"'), token=TOKEN_B
    )
    assert listed["totalResults"] == 0
    assert await member_ids(client, eng["id"]) == [alice]


async def test_fifty_concurrent_member_add_patches_keep_all_fifty(client: TestClient[Any, Any]) -> None:
    gid = (await group(client, "Busy"))["id"]
    users = [await user(client, f"u{i}") for i in range(50)]

    async def add(uid: str) -> int:
        response = await client.patch(
            f"/scim/v2/Groups/{gid}",
            json=ops({"op": "add", "path": "members", "value": [{"value": uid}]}),
            headers=auth(),
        )
        return response.status

    assert await asyncio.gather(*(add(u) for u in users)) == [204] * 50
    assert await member_ids(client, gid) == sorted(users)
    assert (await call(client, "GET", f"/Groups/{gid}?attributes=meta"))["meta"]["version"] == 'W/"101"'


async def test_group_documents_do_not_grow_with_members(client: TestClient[Any, Any], db: Any) -> None:
    gid = (await group(client, "Big"))["id"]
    before = await db["org_orga_groups"].find_one({"_id": gid})
    users = [await user(client, f"m{i}") for i in range(30)]
    await call(
        client,
        "PATCH",
        f"/Groups/{gid}",
        ops({"op": "add", "path": "members", "value": [{"value": u} for u in users]}),
        status=204,
    )
    after = await db["org_orga_groups"].find_one({"_id": gid})
    assert set(after) == set(before) and "members" not in after


async def test_a_page_renders_each_resources_own_memberships(client: TestClient[Any, Any]) -> None:
    # Users sharing a set of groups, one in another set, one in none; groups with the same members.
    ids = [await user(client, f"page{n}") for n in range(6)]
    ops_group = await group(client, "Ops", members=[{"value": i} for i in ids[:4]])
    dev = await group(client, "Dev", members=[{"value": i} for i in ids[2:5]])
    await group(client, "Ops copy", members=[{"value": i} for i in ids[:4]])
    await group(client, "Dev copy", members=[{"value": i} for i in ids[2:5]])
    await call(
        client,
        "PATCH",
        f"/Groups/{dev['id']}",
        ops({"op": "replace", "path": "displayName", "value": "Dev2"}),
        204,
    )
    for path in ("/Users?count=50", "/Groups?count=50", "/Users?count=50&attributes=groups.display"):
        page = await call(client, "GET", path)
        assert page["totalResults"] == len(page["Resources"]) >= 4
        endpoint, _, query = path.partition("?")
        projection = "&".join(p for p in query.split("&") if not p.startswith("count="))
        for resource in page["Resources"]:
            one = await call(
                client, "GET", f"{endpoint}/{resource['id']}" + (f"?{projection}" if projection else "")
            )
            assert resource == one
    users = {r["id"]: r for r in (await call(client, "GET", "/Users?count=50"))["Resources"]}
    assert sorted(g["display"] for g in users[ids[3]]["groups"]) == ["Dev copy", "Dev2", "Ops", "Ops copy"]
    assert sorted(g["display"] for g in users[ids[0]]["groups"]) == ["Ops", "Ops copy"]
    assert "groups" not in users[ids[5]]
    assert {g["value"] for g in users[ids[4]]["groups"]} == {
        dev["id"],
        (await call(client, "GET", '/Groups?filter=displayName eq "Dev copy"'))["Resources"][0]["id"],
    }
    assert ops_group["id"] in {g["value"] for g in users[ids[1]]["groups"]}
