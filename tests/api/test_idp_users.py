"""User requests replayed as each IdP sends them (../shared/design/idp-behaviour.md), over HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from tests.helpers import auth

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


async def call(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    response = await client.request(method, "/scim/v2" + path, json=body, headers=auth())
    assert response.status == status, await response.text()
    return None if status == 204 else await response.json()


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


ENTRA_CREATE = {
    "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
    "active": "True",
    "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
    "meta": {"resourceType": "User"},
    "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
    "roles": [],
    "addresses": None,
    "title": None,
    "manager": None,
}


async def test_entra_connection_test_probe_and_create_and_matching(client: TestClient[Any, Any]) -> None:
    probe = await call(
        client, "GET", "/Users?filter=" + quote('userName eq "7f4bc1a3-0000-4c4c-9a9a-1e1e1e1e1e1e"')
    )
    assert probe == {
        "schemas": [LIST],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    created = await call(client, "POST", "/Users", ENTRA_CREATE, status=201)
    assert created["active"] is True
    assert created["schemas"] == [USER]
    assert created["emails"] == ENTRA_CREATE["emails"]
    assert {"title", "addresses", "roles"}.isdisjoint(created)
    by_name = await call(client, "GET", "/Users?filter=" + quote(f'userName eq "{ENTRA_CREATE["userName"]}"'))
    assert [r["id"] for r in by_name["Resources"]] == [created["id"]]
    by_external = await call(
        client, "GET", "/Users?filter=" + quote(f"externalId eq {ENTRA_CREATE['externalId']}")
    )
    assert by_external["totalResults"] == 1
    by_email = await call(
        client,
        "GET",
        "/Users?filter=" + quote('emails[type eq "work"].value eq "test_user_FD0EA19B@testuser.com"'),
    )
    assert by_email["totalResults"] == 1
    on_demand = await call(client, "GET", "/Users?filter=" + quote(f'id eq "{created["id"]}"'))
    assert on_demand["totalResults"] == 1
    reference = await call(
        client, "GET", "/Users?filter=" + quote(f'id eq "{created["id"]}" and manager eq "nobody"')
    )
    assert reference["totalResults"] == 0


async def test_entra_default_mode_update_patch(client: TestClient[Any, Any]) -> None:
    user = await call(client, "POST", "/Users", ENTRA_CREATE, status=201)
    updated = await call(
        client,
        "PATCH",
        f"/Users/{user['id']}",
        patch(
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "userName", "value": "5b50f9a1@testuser.com"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Eqpj"},
            {"op": "Add", "path": "nickName", "value": "Babs"},
        ),
    )
    assert updated["emails"] == [{"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}]
    assert updated["name"]["familyName"] == "updatedFamilyName"
    assert updated["userName"] == "5b50f9a1@testuser.com"
    assert updated["active"] is False
    assert updated[ENTERPRISE] == {"employeeNumber": "Eqpj"}
    assert updated["nickName"] == "Babs"
    assert updated["schemas"] == [USER, ENTERPRISE]
    again = await call(
        client, "PATCH", f"/Users/{user['id']}", patch({"op": "Add", "path": "nickName", "value": "Bo"})
    )
    assert again["nickName"] == "Bo"
    found = await call(client, "GET", "/Users?filter=" + quote('userName eq "5B50F9A1@testuser.com"'))
    assert found["totalResults"] == 1 and found["Resources"][0]["active"] is False


async def test_entra_scim_compliant_mode_no_path_replace_with_attribute_path_keys(
    client: TestClient[Any, Any],
) -> None:
    user = await call(client, "POST", "/Users", ENTRA_CREATE, status=201)
    updated = await call(
        client,
        "PATCH",
        f"/Users/{user['id']}",
        patch(
            {"op": "replace", "path": "active", "value": False},
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    f"{ENTERPRISE}:employeeNumber": "Aklq",
                },
            },
        ),
    )
    assert updated["active"] is False
    assert updated["displayName"] == "Bjfe"
    assert updated["name"] == {"formatted": "givenName familyName", "familyName": "Unua", "givenName": "Kkom"}
    assert updated[ENTERPRISE] == {"employeeNumber": "Aklq"}


async def test_entra_filtered_adds_create_missing_elements_and_merge_into_one(
    client: TestClient[Any, Any],
) -> None:
    user = await call(client, "POST", "/Users", {"userName": "addr"}, status=201)
    updated = await call(
        client,
        "PATCH",
        f"/Users/{user['id']}",
        patch(
            {"op": "Add", "path": 'addresses[type eq "work"].formatted', "value": "1 Main St, Springfield"},
            {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Springfield"},
            {"op": "Add", "path": 'addresses[type eq "work"].region', "value": "IL"},
            {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "55555555555"},
            {"op": "Add", "path": 'emails[type eq "other"].Value', "value": "other@x.org"},
        ),
    )
    assert updated["addresses"] == [
        {"formatted": "1 Main St, Springfield", "locality": "Springfield", "region": "IL", "type": "work"}
    ]
    assert updated["phoneNumbers"] == [{"value": "55555555555", "type": "mobile"}]
    assert updated["emails"] == [{"value": "other@x.org", "type": "other"}]


async def test_entra_long_email_patch_switches_primary(client: TestClient[Any, Any]) -> None:
    user = await call(
        client,
        "POST",
        "/Users",
        {"userName": "mails", "emails": [{"type": "work", "value": "w@x.org", "primary": True}]},
        status=201,
    )
    updated = await call(
        client,
        "PATCH",
        f"/Users/{user['id']}",
        patch(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w2@x.org"},
            {"op": "add", "path": 'emails[type eq "home"].value', "value": "h@x.org"},
            {"op": "replace", "path": 'emails[type eq "home"].display', "value": "Home"},
            {"op": "add", "path": 'emails[type eq "work"].primary', "value": False},
            {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True},
        ),
    )
    emails = {e["type"]: e for e in updated["emails"]}
    assert emails["work"]["value"] == "w2@x.org" and emails["work"].get("primary") is not True
    assert emails["home"] == {"value": "h@x.org", "display": "Home", "type": "home", "primary": True}


async def test_entra_manager_in_all_three_forms(client: TestClient[Any, Any]) -> None:
    user = await call(client, "POST", "/Users", {"userName": "report"}, status=201)
    url = f"/Users/{user['id']}"
    bare = await call(
        client, "PATCH", url, patch({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "271"})
    )
    assert bare[ENTERPRISE]["manager"] == {"value": "271"}
    array = await call(
        client,
        "PATCH",
        url,
        patch(
            {
                "op": "Add",
                "path": "manager",
                "value": [{"$ref": "https://scim.test/Users/00aa", "value": "00aa"}],
            }
        ),
    )
    assert array[ENTERPRISE]["manager"] == {"value": "00aa", "$ref": "https://scim.test/Users/00aa"}
    dotted = await call(
        client,
        "PATCH",
        url,
        patch({"op": "Replace", "path": f"{ENTERPRISE}.manager", "value": {"value": "42"}}),
    )
    assert dotted[ENTERPRISE]["manager"]["value"] == "42"
    by_manager = await call(client, "GET", "/Users?filter=" + quote('manager eq "42"'))
    assert by_manager["totalResults"] == 1


async def test_entra_roles_create_json_string_patch_and_primary_string_filter(
    client: TestClient[Any, Any],
) -> None:
    user = await call(
        client,
        "POST",
        "/Users",
        {
            "userName": "roles",
            "roles": [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}],
        },
        status=201,
    )
    url = f"/Users/{user['id']}"
    encoded = '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}'
    added = await call(
        client, "PATCH", url, patch({"op": "Add", "path": "roles", "value": [{"value": encoded}]})
    )
    assert {"value": encoded} in added["roles"]
    replaced = await call(
        client,
        "PATCH",
        url,
        patch({"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "Reader"}),
    )
    assert {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Reader"} in replaced[
        "roles"
    ]
    found = await call(client, "GET", "/Users?filter=" + quote('roles[primary eq "True"].value eq "Reader"'))
    assert found["totalResults"] == 1


async def test_entra_legacy_enterprise_dot_path(client: TestClient[Any, Any]) -> None:
    user = await call(client, "POST", "/Users", {"userName": "legacy"}, status=201)
    updated = await call(
        client,
        "PATCH",
        f"/Users/{user['id']}",
        patch(
            {"op": "Add", "path": "urn:scim:schemas:extension:enterprise:1.0.department", "value": "Sales"}
        ),
    )
    assert updated[ENTERPRISE] == {"department": "Sales"}


async def test_entra_inbound_sync_reads(client: TestClient[Any, Any]) -> None:
    await call(client, "POST", "/Users", {"userName": "sync1", "active": True}, status=201)
    await call(client, "POST", "/Users", {"userName": "sync2", "active": False}, status=201)
    assert (await call(client, "GET", "/Users?count=1"))["itemsPerPage"] == 1
    window = quote(
        'active eq true and (meta.lastModified ge "0001-01-03T00:00:00.0000000Z" and '
        'meta.lastModified le "2999-01-01T00:00:00.0000000Z")'
    )
    page = await call(client, "GET", f"/Users?filter={window}&count=100&startindex=0")
    assert page["startIndex"] == 1 and [r["userName"] for r in page["Resources"]] == ["sync1"]
    recent = quote('(ActiVe eq true) and meta.lastmodified ge "2021-09-23T19:35:41.8420572Z"')
    assert (await call(client, "GET", f"/Users?filter={recent}"))["totalResults"] == 1


async def test_okta_test_connection_probe_create_duplicate_put_and_deactivate(
    client: TestClient[Any, Any],
) -> None:
    await call(client, "POST", "/Users", {"userName": "seed@okta.local"}, status=201)
    connection = await call(client, "GET", "/Users?startIndex=1&count=2")
    assert connection["Resources"] and all(
        isinstance(connection[k], int) for k in ("totalResults", "startIndex", "itemsPerPage")
    )
    probe = await call(
        client, "GET", "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100"
    )
    assert probe["totalResults"] == 0 and probe["Resources"] == []
    okta_user = {
        "schemas": [USER],
        "userName": "RUNSCOPE300test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    created = await call(client, "POST", "/Users", okta_user, status=201)
    assert "password" not in created and "groups" not in created
    caps = await call(
        client, "GET", "/Users?filter=" + quote('userName eq "runscope300TEST.USER@okta.local"')
    )
    assert caps["totalResults"] == 1
    duplicate = await client.post("/scim/v2/Users", json=okta_user, headers=auth())
    assert duplicate.status == 409 and (await duplicate.json())["scimType"] == "uniqueness"
    current = await call(client, "GET", f"/Users/{created['id']}")
    put_body = dict(current, name={"givenName": "Another", "familyName": "User"}, groups=[])
    put_body["meta"] = {"resourceType": "User"}
    replaced = await call(client, "PUT", f"/Users/{created['id']}", put_body)
    assert replaced["name"] == {"givenName": "Another", "familyName": "User"} and replaced["active"] is True
    off = await call(
        client, "PATCH", f"/Users/{created['id']}", patch({"op": "replace", "value": {"active": False}})
    )
    assert off["active"] is False
    on = await call(
        client, "PATCH", f"/Users/{created['id']}", patch({"op": "replace", "value": {"active": True}})
    )
    assert on["active"] is True


async def test_okta_import_pagination_is_consistent(client: TestClient[Any, Any]) -> None:
    for i in range(7):
        await call(client, "POST", "/Users", {"userName": f"import{i}"}, status=201)
    seen: list[str] = []
    for start in (1, 4, 7):
        page = await call(client, "GET", f"/Users?startIndex={start}&count=3")
        seen.extend(r["id"] for r in page["Resources"])
    everything = await call(client, "GET", "/Users?startIndex=1&count=100")
    assert seen == [r["id"] for r in everything["Resources"]] and len(set(seen)) == 7


async def test_onelogin_template_with_string_boolean_empty_strings_and_scim1_schema(
    client: TestClient[Any, Any],
) -> None:
    created = await call(
        client,
        "POST",
        "/Users",
        {
            "schemas": ["urn:scim:schemas:core:1.0"],
            "id": None,
            "userName": "jdoe@onelogin.test",
            "name": {"givenName": "John", "familyName": "", "formatted": ""},
            "title": "",
            "active": "true",
            ENTERPRISE: {"manager": {"managerId": "m-9"}},
        },
        status=201,
    )
    assert created["active"] is True
    assert created["name"] == {"givenName": "John"}
    assert "title" not in created
    assert created[ENTERPRISE] == {"manager": {"value": "m-9"}}
    lowercase_ops = await call(
        client, "PATCH", f"/Users/{created['id']}", patch({"op": "add", "path": "title", "value": "Eng"})
    )
    assert lowercase_ops["title"] == "Eng"


async def test_ping_capitalized_operators_and_lower_case_attribute_names(
    client: TestClient[Any, Any],
) -> None:
    await call(
        client, "POST", "/Users", {"userName": "PingUser", "emails": [{"value": "ping@x.org"}]}, status=201
    )
    assert (await call(client, "GET", "/Users?filter=" + quote('username Eq "pinguser"')))[
        "totalResults"
    ] == 1
    assert (await call(client, "GET", "/Users?filter=" + quote('emails Co "PING@"')))["totalResults"] == 1


async def test_ping_full_put_keeps_the_password(client: TestClient[Any, Any], db: Any) -> None:
    user = await call(client, "POST", "/Users", {"userName": "pd", "password": "Passw0rd!"}, status=201)
    before = (await db["org_orga_users"].find_one({"_id": user["id"]}))["password"]
    await call(client, "PUT", f"/Users/{user['id']}", {"userName": "pd", "title": "T"})
    after = (await db["org_orga_users"].find_one({"_id": user["id"]}))["password"]
    assert before == after


async def test_google_probe_and_jumpcloud_delete_or_deactivate(client: TestClient[Any, Any]) -> None:
    assert (await call(client, "GET", "/Users?count=1"))["schemas"] == [LIST]
    user = await call(client, "POST", "/Users", {"userName": "jc-test@x.org", "active": True}, status=201)
    off = await call(
        client, "PATCH", f"/Users/{user['id']}", patch({"op": "replace", "path": "active", "value": False})
    )
    assert off["active"] is False
    await call(client, "DELETE", f"/Users/{user['id']}", status=204)
    await call(client, "GET", f"/Users/{user['id']}", status=404)


async def test_sailpoint_replace_on_a_complex_attribute_merges(client: TestClient[Any, Any]) -> None:
    user = await call(
        client,
        "POST",
        "/Users",
        {"userName": "sp", "name": {"givenName": "A", "familyName": "B"}},
        status=201,
    )
    updated = await call(
        client,
        "PATCH",
        f"/Users/{user['id']}",
        patch({"op": "replace", "path": "name", "value": {"givenName": "C"}}),
    )
    # RFC 7644 §3.5.2.3: sub-attributes not in the value are left unchanged.
    assert updated["name"] == {"givenName": "C", "familyName": "B"}
