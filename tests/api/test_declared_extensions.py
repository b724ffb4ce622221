"""Declared schema extensions (the organizations file's ``extensions``): one organization's own
attributes, validated, stored, indexed, filtered, sorted, patched and published for it alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.api.keys import ORGANIZATIONS
from scim_server.compiler.query import compile_filter
from scim_server.filters import parse_filter
from tests.helpers import TOKEN_A, TOKEN_B, ClientFactory, auth

TOKEN_C = "token-org-c-0123456789"
TOKENS = f"orga:{TOKEN_A},orgb:{TOKEN_B},orgc:{TOKEN_C}"
URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
STORED = "urn:example:params:scim:schemas:extension:acme:2_0:User"  # the URN without dots
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

REGION = {"name": "region", "type": "string", "description": "Sales region"}
BADGE = {"name": "badge", "type": "string", "uniqueness": "server", "caseExact": True}
LEVEL = {"name": "level", "type": "integer"}


def extension_file(tmp_path: Path, *attributes: dict[str, Any]) -> None:
    schema = {
        "id": URN,
        "name": "AcmeUser",
        "description": "Acme's own user attributes",
        "resourceType": "User",
        "attributes": list(attributes),
    }
    (tmp_path / "acme-user.json").write_text(json.dumps(schema), encoding="utf-8")


def organizations_file(tmp_path: Path, *orgs: str) -> str:
    path = tmp_path / "organizations.toml"
    path.write_text(
        "".join(f'[organizations.{org}]\nextensions = ["acme-user.json"]\n' for org in orgs),
        encoding="utf-8",
    )
    return str(path)


async def start(
    aiohttp_client: ClientFactory,
    app_factory: Callable[..., web.Application],
    tmp_path: Path,
    *orgs: str,
    attributes: tuple[dict[str, Any], ...] = (REGION, BADGE, LEVEL),
) -> TestClient[Any, Any]:
    extension_file(tmp_path, *attributes)
    path = organizations_file(tmp_path, *orgs)
    return await aiohttp_client(app_factory(organizations_file=path, bootstrap_tokens=TOKENS))


async def create(client: TestClient[Any, Any], body: dict[str, Any], token: str = TOKEN_A) -> dict[str, Any]:
    response = await client.post("/scim/v2/Users", json=body, headers=auth(token))
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def user_names(client: TestClient[Any, Any], query: str, token: str = TOKEN_A) -> list[str]:
    response = await client.get(f"/scim/v2/Users?{query}", headers=auth(token))
    assert response.status == 200, await response.text()
    return [r["userName"] for r in (await response.json())["Resources"]]


def reload(client: TestClient[Any, Any]) -> None:
    """What SIGHUP does in every worker."""
    assert client.app is not None
    assert client.app[ORGANIZATIONS].reload()


async def test_an_organizations_extension_is_published_to_it_alone(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga", attributes=(REGION,))

    response = await client.get(f"/scim/v2/Schemas/{URN}", headers=auth())
    assert response.status == 200
    assert await response.json() == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": URN,
        "name": "AcmeUser",
        "description": "Acme's own user attributes",
        "attributes": [
            {
                "name": "region",
                "type": "string",
                "multiValued": False,
                "description": "Sales region",
                "required": False,
                "caseExact": False,
                "mutability": "readWrite",
                "returned": "default",
                "uniqueness": "none",
            }
        ],
        "meta": {"resourceType": "Schema", "location": f"https://scim.test/scim/v2/Schemas/{URN}"},
    }
    listed = await (await client.get("/scim/v2/Schemas", headers=auth())).json()
    assert [s["id"] for s in listed["Resources"]] == [
        USER,
        ENTERPRISE,
        URN,
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    ]
    user_type = await (await client.get("/scim/v2/ResourceTypes/User", headers=auth())).json()
    assert user_type["schemaExtensions"] == [
        {"schema": ENTERPRISE, "required": False},
        {"schema": URN, "required": False},
    ]

    # Another organization sees the built-in catalog only.
    response = await client.get(f"/scim/v2/Schemas/{URN}", headers=auth(TOKEN_B))
    assert response.status == 404
    listed = await (await client.get("/scim/v2/Schemas", headers=auth(TOKEN_B))).json()
    assert URN not in [s["id"] for s in listed["Resources"]]
    types = await (await client.get("/scim/v2/ResourceTypes", headers=auth(TOKEN_B))).json()
    [user_type] = [t for t in types["Resources"] if t["name"] == "User"]
    assert user_type["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]


async def test_another_organization_sending_the_urn_gets_what_an_unknown_schema_gets(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path, db: Any
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga")
    body = {"schemas": [USER, URN], "userName": "ann", URN: {"region": "EMEA"}}
    unknown = {"schemas": [USER, "urn:example:unknown"], "userName": "bob", "urn:example:unknown": {"x": 1}}

    mine = await create(client, body)
    theirs = await create(client, body, TOKEN_B)
    other = await create(client, unknown, TOKEN_B)

    assert mine["schemas"] == [USER, URN] and mine[URN] == {"region": "EMEA"}
    # Ignored, as an unknown schema is: nothing of it is returned or stored.
    assert theirs["schemas"] == other["schemas"] == [USER]
    assert set(theirs) == set(other) == {"schemas", "id", "userName", "meta"}
    stored = await db["org_orgb_users"].find_one({"_id": theirs["id"]})
    assert STORED not in stored
    response = await client.get(f'/scim/v2/Users?filter={URN}:region eq "EMEA"', headers=auth(TOKEN_B))
    assert response.status == 400
    assert (await response.json())["scimType"] == "invalidFilter"
    response = await client.get(f"/scim/v2/Users?sortBy={URN}:region", headers=auth(TOKEN_B))
    assert response.status == 400
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": f"{URN}:region", "value": "x"}]}
    response = await client.patch(f"/scim/v2/Users/{theirs['id']}", json=patch, headers=auth(TOKEN_B))
    assert response.status == 400, await response.text()


async def test_entras_body_without_the_urn_in_schemas_is_accepted(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path, db: Any
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga")

    created = await create(
        client, {"schemas": [USER], "userName": "ann", URN: {"region": "EMEA", "level": 3}}
    )

    assert created["schemas"] == [USER, URN]
    assert created[URN] == {"region": "EMEA", "level": 3}
    stored = await db["org_orga_users"].find_one({"_id": created["id"]})
    assert stored[STORED] == {"region": "EMEA", "level": 3, "_lc": {"region": "emea"}}
    read = await (await client.get(f"/scim/v2/Users/{created['id']}", headers=auth())).json()
    assert read == created


async def test_an_eq_filter_on_a_declared_attribute_is_index_backed(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path, db: Any
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga")
    await create(client, {"userName": "ann", URN: {"region": "EMEA"}})
    await create(client, {"userName": "bob", URN: {"region": "Americas"}})
    await create(client, {"userName": "cy", URN: {"region": "emea"}})

    assert await user_names(client, f'filter={URN}:region eq "Emea"') == ["ann", "cy"]
    assert await user_names(client, 'filter=region eq "AMERICAS"') == ["bob"]

    assert client.app is not None
    resource_type = client.app[ORGANIZATIONS].resource_types.user("orga")
    query = compile_filter(
        parse_filter(f'{URN}:region eq "Emea"', schema_uris=resource_type.schema_uris), resource_type
    )
    assert query == {f"{STORED}._lc.region": "emea"}
    indexes = await db["org_orga_users"].index_information()
    assert indexes[f"declared:{STORED}._lc.region"]["key"] == [(f"{STORED}._lc.region", 1), ("_id", 1)]
    assert indexes[f"declared:{STORED}.level"]["key"] == [(f"{STORED}.level", 1), ("_id", 1)]
    unique = indexes[f"declared:{STORED}.badge:unique"]
    assert unique["unique"] is True
    assert unique["partialFilterExpression"] == {f"{STORED}.badge": {"$exists": True}}
    # Another organization's collection has none of them.
    await create(client, {"userName": "dee"}, TOKEN_B)
    assert not [n for n in await db["org_orgb_users"].index_information() if n.startswith("declared:")]


async def test_a_declared_attribute_sorts(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga")
    for name, level in (("ann", 2), ("bob", 10), ("cy", 1)):
        await create(client, {"userName": name, URN: {"level": level}})
    await create(client, {"userName": "dee"})

    # As for every attribute, a resource without a value sorts as the smallest (MongoDB's order).
    assert await user_names(client, f"sortBy={URN}:level") == ["dee", "cy", "ann", "bob"]
    assert await user_names(client, "sortBy=level&sortOrder=descending") == ["bob", "ann", "cy", "dee"]


async def test_a_declared_attribute_is_patched_with_and_without_the_urn(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path, db: Any
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga")
    created = await create(client, {"userName": "ann", URN: {"region": "EMEA"}})
    url = f"/scim/v2/Users/{created['id']}"

    async def patch(*operations: dict[str, Any]) -> dict[str, Any]:
        body = {"schemas": [PATCH_OP], "Operations": list(operations)}
        response = await client.patch(url, json=body, headers=auth())
        assert response.status == 200, await response.text()
        patched: dict[str, Any] = await response.json()
        return patched

    assert (await patch({"op": "replace", "path": f"{URN}:region", "value": "APAC"}))[URN] == {
        "region": "APAC"
    }
    assert (await patch({"op": "replace", "path": "region", "value": "LATAM"}))[URN] == {"region": "LATAM"}
    assert (await patch({"op": "add", "value": {f"{URN}:level": 4}}))[URN] == {"region": "LATAM", "level": 4}
    assert (await patch({"op": "add", "value": {URN: {"level": 5}}}))[URN] == {"region": "LATAM", "level": 5}
    patched = await patch({"op": "remove", "path": "region"})
    assert patched[URN] == {"level": 5}
    assert patched["meta"]["version"] == 'W/"6"'  # created, then five writes
    stored = await db["org_orga_users"].find_one({"_id": created["id"]})
    assert stored[STORED] == {"level": 5}
    assert await user_names(client, f"filter={URN}:level eq 5") == ["ann"]


async def test_uniqueness_is_enforced_per_organization(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga", "orgb")
    await create(client, {"userName": "ann", URN: {"badge": "B-1"}})
    # Users without a badge never clash with each other.
    await create(client, {"userName": "bob"})
    await create(client, {"userName": "cy"})

    response = await client.post(
        "/scim/v2/Users", json={"userName": "dee", URN: {"badge": "B-1"}}, headers=auth()
    )
    assert response.status == 409
    assert await response.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "409",
        "scimType": "uniqueness",
        "detail": "badge is already in use in this organization",
    }
    # caseExact: another case is another value.
    await create(client, {"userName": "dee", URN: {"badge": "b-1"}})
    # Another organization declaring the same extension has its own values.
    await create(client, {"userName": "ann", URN: {"badge": "B-1"}}, TOKEN_B)


async def test_a_removed_attribute_stops_being_returned_and_its_value_survives(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path, db: Any
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga", attributes=(REGION, LEVEL))
    created = await create(client, {"userName": "ann", URN: {"region": "EMEA", "level": 1}})
    url = f"/scim/v2/Users/{created['id']}"

    extension_file(tmp_path, LEVEL)
    reload(client)
    read = await (await client.get(url, headers=auth())).json()
    assert read[URN] == {"level": 1}
    response = await client.get(f'/scim/v2/Users?filter={URN}:region eq "EMEA"', headers=auth())
    assert response.status == 400
    # Writes while it is not declared keep the stored value: a PATCH, and a PUT.
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "level", "value": 2}]}
    assert (await client.patch(url, json=patch, headers=auth())).status == 200
    put = {"schemas": [USER], "userName": "ann", URN: {"level": 3}}
    response = await client.put(url, json=put, headers=auth())
    assert response.status == 200
    assert (await response.json())[URN] == {"level": 3}
    stored = await db["org_orga_users"].find_one({"_id": created["id"]})
    assert stored[STORED] == {"level": 3, "region": "EMEA", "_lc": {"region": "emea"}}
    indexes = await db["org_orga_users"].index_information()
    assert f"declared:{STORED}._lc.region" not in indexes

    extension_file(tmp_path, REGION, LEVEL)
    reload(client)
    read = await (await client.get(url, headers=auth())).json()
    assert read[URN] == {"level": 3, "region": "EMEA"}
    assert await user_names(client, f'filter={URN}:region eq "emea"') == ["ann"]


async def test_a_reload_publishes_and_accepts_a_new_declaration(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga")
    assert client.app is not None
    registry = client.app[ORGANIZATIONS]
    before = registry.resource_types.user("orga")
    ignored = await create(client, {"userName": "ann", URN: {"region": "EMEA"}}, TOKEN_C)
    assert URN not in ignored

    organizations_file(tmp_path, "orga", "orgc")
    reload(client)

    # An unchanged declaration keeps its resource type (and what is cached by it).
    assert registry.resource_types.user("orga") is before
    types = await (await client.get("/scim/v2/ResourceTypes/User", headers=auth(TOKEN_C))).json()
    assert types["schemaExtensions"][-1] == {"schema": URN, "required": False}
    created = await create(client, {"userName": "bob", URN: {"region": "EMEA"}}, TOKEN_C)
    assert created[URN] == {"region": "EMEA"}
    assert await user_names(client, 'filter=region eq "emea"', TOKEN_C) == ["bob"]

    # An invalid file keeps the configuration in force.
    (tmp_path / "acme-user.json").write_text("{", encoding="utf-8")
    assert not registry.reload()
    assert await user_names(client, 'filter=region eq "emea"', TOKEN_C) == ["bob"]


async def test_an_extension_holding_only_undeclared_values_is_not_shown(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path, db: Any
) -> None:
    client = await start(aiohttp_client, app_factory, tmp_path, "orga", attributes=(REGION, LEVEL))
    created = await create(client, {"userName": "ann", URN: {"region": "EMEA"}})
    url = f"/scim/v2/Users/{created['id']}"

    extension_file(tmp_path, LEVEL)
    reload(client)
    read = await (await client.get(url, headers=auth())).json()
    assert read == {
        "schemas": [USER],
        "id": created["id"],
        "userName": "ann",
        "meta": {**created["meta"]},
    }
    put = {"schemas": [USER], "userName": "Ann"}
    replaced = await (await client.put(url, json=put, headers=auth())).json()
    assert replaced["schemas"] == [USER] and URN not in replaced
    stored = await db["org_orga_users"].find_one({"_id": created["id"]})
    assert stored[STORED] == {"region": "EMEA", "_lc": {"region": "emea"}}

    # The whole extension undeclared: its stored object stays untouched through writes.
    (tmp_path / "organizations.toml").write_text("[organizations.orga]\n", encoding="utf-8")
    reload(client)
    put = {"schemas": [USER], "userName": "ann", URN: {"level": 1}}
    replaced = await (await client.put(url, json=put, headers=auth())).json()
    assert replaced["schemas"] == [USER] and URN not in replaced
    stored = await db["org_orga_users"].find_one({"_id": created["id"]})
    assert stored[STORED] == {"region": "EMEA", "_lc": {"region": "emea"}}


async def test_a_group_extension_serves_groups_bulk_and_the_root_search(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path
) -> None:
    group_urn = "urn:example:acme:2.0:Group"
    schema = {"id": group_urn, "name": "AcmeGroup", "resourceType": "Group", "attributes": [REGION]}
    (tmp_path / "acme-group.json").write_text(json.dumps(schema), encoding="utf-8")
    path = tmp_path / "organizations.toml"
    path.write_text('[organizations.orga]\nextensions = ["acme-group.json"]\n', encoding="utf-8")
    client = await aiohttp_client(app_factory(organizations_file=str(path), bootstrap_tokens=TOKENS))

    response = await client.post(
        "/scim/v2/Groups", json={"displayName": "Sales", group_urn: {"region": "EMEA"}}, headers=auth()
    )
    assert response.status == 201
    assert (await response.json())[group_urn] == {"region": "EMEA"}
    bulk = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g",
                "data": {"displayName": "Ops", f"{group_urn}:region": "APAC"},
            }
        ],
    }
    response = await client.post("/scim/v2/Bulk", json=bulk, headers=auth())
    assert [op["status"] for op in (await response.json())["Operations"]] == ["201"]

    response = await client.get(f'/scim/v2/?filter={group_urn}:region eq "apac"', headers=auth())
    assert [r["displayName"] for r in (await response.json())["Resources"]] == ["Ops"]
    response = await client.get("/scim/v2/Groups?filter=region pr&sortBy=region", headers=auth())
    assert [r["displayName"] for r in (await response.json())["Resources"]] == ["Ops", "Sales"]
    response = await client.get(f'/scim/v2/?filter={group_urn}:region eq "apac"', headers=auth(TOKEN_B))
    assert response.status == 400
