"""Queries at the server root (RFC 7644 §3.4.2.1, §3.4.3): Users and Groups together."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from scim_server.filters import parse_filter
from scim_server.filters.render import render_filter
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE
from scim_server.services.search import narrow
from tests.helpers import TOKEN_B, auth

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
URIS = (*USER_RESOURCE_TYPE.schema_uris, *GROUP_RESOURCE_TYPE.schema_uris)


async def post(client: TestClient[Any, Any], path: str, body: Any, token: str | None = None) -> Any:
    response = await client.post("/scim/v2" + path, json=body, headers=auth(token) if token else auth())
    assert response.status in (200, 201), await response.text()
    return await response.json()


async def root(client: TestClient[Any, Any], status: int = 200, **params: Any) -> Any:
    response = await client.get("/scim/v2/?" + urlencode(params), headers=auth())
    assert response.status == status, await response.text()
    return await response.json()


async def search(client: TestClient[Any, Any], body: dict[str, Any], status: int = 200) -> Any:
    response = await client.post("/scim/v2/.search", json={"schemas": [SEARCH], **body}, headers=auth())
    assert response.status == status, await response.text()
    return await response.json()


def names(body: Any) -> list[str]:
    return [r.get("userName") or r.get("displayName") for r in body["Resources"]]


@pytest.fixture
async def seeded(client: TestClient[Any, Any]) -> dict[str, str]:
    """Users alice, bob (displayName "Bob B"), carol and groups Admins, bobcats (with alice), in order."""
    ids: dict[str, str] = {}
    for name, extra in (("alice", {}), ("bob", {"displayName": "Bob B"}), ("carol", {})):
        ids[name] = (await post(client, "/Users", {"userName": name, **extra}))["id"]
    await asyncio.sleep(0.005)  # the groups' meta.created (in milliseconds) follows every user's
    ids["Admins"] = (await post(client, "/Groups", {"displayName": "Admins"}))["id"]
    ids["bobcats"] = (
        await post(client, "/Groups", {"displayName": "bobcats", "members": [{"value": ids["alice"]}]})
    )["id"]
    await post(client, "/Users", {"userName": "other-org"}, token=TOKEN_B)
    return ids


def test_narrowing_treats_an_attribute_a_type_lacks_as_having_no_value() -> None:
    text = 'userName eq "a" or (displayName sw "b" and not (members pr))'
    tree = parse_filter(text, schema_uris=URIS)
    assert render_filter(narrow(tree, USER_RESOURCE_TYPE)) == 'userName eq "a" or displayName sw "b"'
    assert render_filter(narrow(tree, GROUP_RESOURCE_TYPE)) == 'displayName sw "b" and not (members pr)'
    assert narrow(parse_filter('userName eq "a"', schema_uris=URIS), GROUP_RESOURCE_TYPE) is False
    assert narrow(parse_filter("not (userName pr)", schema_uris=URIS), GROUP_RESOURCE_TYPE) is True
    assert narrow(parse_filter('emails[type eq "work"]', schema_uris=URIS), GROUP_RESOURCE_TYPE) is False


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "a \\"quoted\\" \\u00e9"',
        'active eq true and not (title pr) or meta.created gt "2020-01-01T00:00:00Z"',
        'emails[type eq "work" and value co "@x"] and (x.y eq null or name.givenName ne 1.5)',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7"',
    ],
)
def test_a_rendered_filter_parses_back_to_the_same_tree(text: str) -> None:
    tree = parse_filter(text, schema_uris=URIS)
    assert parse_filter(render_filter(tree), schema_uris=URIS) == tree


async def test_a_root_query_lists_users_and_groups_each_as_its_endpoint_renders_it(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    body = await root(client, filter='displayName sw "b"')
    assert body["schemas"] == [LIST]
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (2, 1, 2)
    alone = [
        await (await client.get(f"/scim/v2/Users/{seeded['bob']}", headers=auth())).json(),
        await (await client.get(f"/scim/v2/Groups/{seeded['bobcats']}", headers=auth())).json(),
    ]
    assert body["Resources"] == alone  # creation order: bob first
    assert [r["meta"]["resourceType"] for r in body["Resources"]] == ["User", "Group"]
    assert [r["schemas"] for r in body["Resources"]] == [[USER], [GROUP]]


async def test_an_attribute_of_one_type_matches_nothing_of_the_other(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    assert names(await root(client, filter='userName eq "alice"')) == ["alice"]
    assert names(await root(client, filter=f'members.value eq "{seeded["alice"]}"')) == ["bobcats"]
    assert names(await root(client, filter="not (userName pr)")) == ["Admins", "bobcats"]
    body = await root(client, filter=f'groups.value eq "{seeded["bobcats"]}" or displayName eq "Admins"')
    assert names(body) == ["alice", "Admins"]


async def test_a_filter_attribute_no_type_defines_is_invalid_filter(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    body = await root(client, status=400, filter='nickname eq "x" or bogus eq "y"')
    assert body == {
        "schemas": [ERROR],
        "status": "400",
        "scimType": "invalidFilter",
        "detail": 'Unknown attribute "bogus" in filter.',
    }
    body = await search(client, {"sortBy": "bogus"}, status=400)
    assert body["scimType"] == "invalidValue"


async def test_paging_runs_over_the_combined_order_across_the_type_boundary(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    everything = await root(client, filter="meta.created pr")
    order = [(r["meta"]["created"], r["meta"]["resourceType"], r["id"]) for r in everything["Resources"]]
    assert order == sorted(order)  # creation, then resource type, then id
    assert names(everything)[3:] == ["Admins", "bobcats"]  # created after every user (the fixture)
    pages = [await root(client, filter="meta.created pr", startIndex=i, count=2) for i in (1, 3, 5)]
    assert [names(p) for p in pages] == [names(everything)[0:2], names(everything)[2:4], ["bobcats"]]
    assert [r["meta"]["resourceType"] for r in pages[1]["Resources"]] == ["User", "Group"]
    assert [(p["totalResults"], p["startIndex"], p["itemsPerPage"]) for p in pages] == [
        (5, 1, 2),
        (5, 3, 2),
        (5, 5, 1),
    ]
    counted = await root(client, count=0, filter="id pr")
    assert (counted["totalResults"], counted["Resources"]) == (5, [])


async def test_sorting_mixes_the_types_by_value_then_type_then_id(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    # Users without a displayName sort first ascending, as they do at /Users.
    ascending = await search(client, {"sortBy": "displayName", "attributes": ["displayName", "userName"]})
    assert names(ascending)[:2] == sorted(["alice", "carol"], key=lambda n: seeded[n])
    assert names(ascending)[2:] == ["Admins", "bob", "bobcats"]  # "admins" < "bob b" < "bobcats"
    descending = await search(
        client, {"sortBy": "displayName", "sortOrder": "descending", "startIndex": 2, "count": 2}
    )
    assert names(descending) == ["bob", "Admins"]
    by_user_name = await root(client, sortBy="userName", filter="id pr")
    assert names(by_user_name)[:2] == sorted(["Admins", "bobcats"], key=lambda n: seeded[n])
    assert names(by_user_name)[2:] == ["alice", "bob", "carol"]


async def test_attributes_apply_to_each_type_as_it_reads_them(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    body = await search(client, {"filter": 'displayName sw "b"', "attributes": ["userName", "members"]})
    [bob, bobcats] = body["Resources"]
    assert bob == {"schemas": [USER], "id": seeded["bob"], "userName": "bob"}
    assert bobcats["members"][0]["value"] == seeded["alice"]
    assert set(bobcats) == {"schemas", "id", "members"}
    excluded = await root(client, filter='displayName eq "bobcats"', excludedAttributes="members,meta")
    assert excluded["Resources"] == [{"schemas": [GROUP], "id": seeded["bobcats"], "displayName": "bobcats"}]


async def test_the_root_without_parameters_keeps_answering_404(client: TestClient[Any, Any]) -> None:
    for path in ("/scim/v2/", "/scim/v2"):
        response = await client.get(path, headers=auth())
        assert response.status == 404
        assert (await response.json())["detail"] == "no such endpoint or resource"


async def test_a_root_query_sees_only_the_tokens_organization(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    body = await root(client, filter='userName sw "other"')
    assert body["totalResults"] == 0
    response = await client.get("/scim/v2/?filter=id%20pr", headers=auth(TOKEN_B))
    assert names(await response.json()) == ["other-org"]


async def test_resource_endpoints_search_by_post_too(
    client: TestClient[Any, Any], seeded: dict[str, str]
) -> None:
    users = await post(client, "/Users/.search", {"schemas": [SEARCH], "filter": 'userName eq "bob"'})
    groups = await post(client, "/Groups/.search", {"schemas": [SEARCH], "filter": 'displayName sw "bobc"'})
    assert (names(users), names(groups)) == (["bob"], ["bobcats"])
