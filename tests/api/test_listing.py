"""List and search: ListResponse shape, paging, sorting, filters through the store (RFC 7644 §3.4)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import auth

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


async def seed(client: TestClient[Any, Any]) -> dict[str, str]:
    users = [
        {
            "userName": "bjensen",
            "externalId": "jyoung",
            "title": "Tour Guide",
            "userType": "Employee",
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "active": True,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": True},
                {"value": "babs@jensen.org", "type": "home"},
            ],
            ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "mgr-1"}},
        },
        {
            "userName": "Jsmith",
            "userType": "Intern",
            "name": {"familyName": "O'Malley"},
            "active": False,
            "emails": [{"value": "js@example.org", "type": "work"}],
            "ims": [{"value": "js@foo.com", "type": "xmpp"}],
        },
        {
            "userName": "zed",
            "title": "CTO",
            "userType": "Employee",
            "active": True,
            "emails": [
                {"value": "zed@other.net", "type": "work"},
                {"value": "zed@example.com", "type": "home"},
            ],
        },
    ]
    ids = {}
    for body in users:
        response = await client.post("/scim/v2/Users", json=body, headers=auth())
        assert response.status == 201
        ids[body["userName"]] = (await response.json())["id"]
    return ids


async def query(client: TestClient[Any, Any], params: str) -> dict[str, Any]:
    response = await client.get(f"/scim/v2/Users?{params}", headers=auth())
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def names(client: TestClient[Any, Any], filter_text: str) -> set[str]:
    body = await query(client, "filter=" + quote(filter_text))
    assert body["totalResults"] == len(body["Resources"])
    return {r["userName"] for r in body["Resources"]}


async def test_an_empty_result_is_a_complete_list_response(client: TestClient[Any, Any]) -> None:
    body = await query(client, 'filter=userName eq "Test_User_00aa"')
    assert body == {"schemas": [LIST], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}


async def test_paging_is_one_based_stable_and_integer_typed(client: TestClient[Any, Any]) -> None:
    ids = await seed(client)
    first = await query(client, "startIndex=1&count=2")
    second = await query(client, "startIndex=3&count=2")
    assert (first["totalResults"], first["startIndex"], first["itemsPerPage"]) == (3, 1, 2)
    assert (second["totalResults"], second["startIndex"], second["itemsPerPage"]) == (3, 3, 1)
    order = [r["id"] for r in first["Resources"] + second["Resources"]]
    assert sorted(order) == sorted(ids.values())
    everything = await query(client, "count=100")
    assert [r["id"] for r in everything["Resources"]] == order


async def test_startindex_zero_and_lower_case_parameter_names_work(client: TestClient[Any, Any]) -> None:
    await seed(client)
    body = await query(client, "startindex=0&COUNT=1")
    assert body["startIndex"] == 1 and body["itemsPerPage"] == 1


async def test_count_zero_returns_only_the_total(client: TestClient[Any, Any]) -> None:
    await seed(client)
    assert await query(client, "count=0") == {
        "schemas": [LIST],
        "totalResults": 3,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


async def test_count_is_capped_at_the_configured_maximum(aiohttp_client: Any, app_factory: Any) -> None:
    client = await aiohttp_client(app_factory(max_page_size=2, default_page_size=1))
    await seed(client)
    assert (await query(client, ""))["itemsPerPage"] == 1
    assert (await query(client, "count=50"))["itemsPerPage"] == 2


@pytest.mark.parametrize("params", ["count=abc", "startIndex=1.5", "sortOrder=up"])
async def test_bad_paging_parameters_are_400_invalid_value(client: TestClient[Any, Any], params: str) -> None:
    response = await client.get(f"/scim/v2/Users?{params}", headers=auth())
    assert response.status == 400
    assert (await response.json())["scimType"] == "invalidValue"


async def test_sorting_is_case_insensitive_for_case_insensitive_attributes(
    client: TestClient[Any, Any],
) -> None:
    await seed(client)
    up = await query(client, "sortBy=userName")
    down = await query(client, "sortBy=userName&sortOrder=descending")
    assert [r["userName"] for r in up["Resources"]] == ["bjensen", "Jsmith", "zed"]
    assert [r["userName"] for r in down["Resources"]] == ["zed", "Jsmith", "bjensen"]


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        # RFC 7644 §3.4.2.2 examples
        ('userName eq "bjensen"', {"bjensen"}),
        ('name.familyName co "O\'Malley"', {"Jsmith"}),
        ('userName sw "J"', {"Jsmith"}),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', {"Jsmith"}),
        ("title pr", {"bjensen", "zed"}),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', {"bjensen", "Jsmith", "zed"}),
        ('meta.lastModified ge "2011-05-13T04:42:34Z"', {"bjensen", "Jsmith", "zed"}),
        ('meta.lastModified lt "2011-05-13T04:42:34Z"', set()),
        ('meta.lastModified le "2011-05-13T04:42:34Z"', set()),
        ('title pr and userType eq "Employee"', {"bjensen", "zed"}),
        ('title pr or userType eq "Intern"', {"bjensen", "Jsmith", "zed"}),
        ('schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', {"bjensen"}),
        (
            'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
            {"bjensen", "zed"},
        ),
        ('userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', set()),
        ('userType eq "Employee" and (emails.type eq "work")', {"bjensen", "zed"}),
        ('userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', {"bjensen"}),
        (
            'emails[type eq "work" and value co "@example.com"] or '
            'ims[type eq "xmpp" and value co "@foo.com"]',
            {"bjensen", "Jsmith"},
        ),
        # IdP shapes from idp-behaviour.md
        ("externalId eq jyoung", {"bjensen"}),
        ('username Eq "BJENSEN"', {"bjensen"}),
        ('emails[type eq "work"].value eq "bjensen@example.com"', {"bjensen"}),
        ('(ActiVe eq true) and meta.lastmodified ge "2021-09-23T19:35:41.8420572Z"', {"bjensen", "zed"}),
        (
            'active eq true and (meta.lastModified ge "0001-01-03T00:00:00.0000000Z" and '
            'meta.lastModified le "9999-01-01T00:00:00Z")',
            {"bjensen", "zed"},
        ),
        (
            'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"',
            {"bjensen"},
        ),
        ('manager eq "mgr-1"', {"bjensen"}),
        ("active eq false", {"Jsmith"}),
        ('userName ew "ED"', {"zed"}),
        ('userName gt "jsmith"', {"zed"}),
        ('userName ge "jsmith"', {"Jsmith", "zed"}),
        ('userName ne "zed"', {"bjensen", "Jsmith"}),
        ('userName co ".*"', set()),
    ],
)
async def test_filters_select_exactly_the_matching_users(
    client: TestClient[Any, Any], filter_text: str, expected: set[str]
) -> None:
    await seed(client)
    assert await names(client, filter_text) == expected


async def test_filter_by_id_is_entras_on_demand_probe(client: TestClient[Any, Any]) -> None:
    ids = await seed(client)
    assert await names(client, f'id eq "{ids["zed"]}"') == {"zed"}


@pytest.mark.parametrize(
    "filter_text",
    [
        'unknown eq "x"',
        "userName eq",
        'userName xx "a"',
        '(userName eq "a"',
        'password eq "x"',
        'urn:example:unknown:2.0:User:thing eq "x"',
        'active eq "maybe"',
    ],
)
async def test_bad_filters_are_400_invalid_filter_never_a_silent_result(
    client: TestClient[Any, Any], filter_text: str
) -> None:
    await seed(client)
    response = await client.get("/scim/v2/Users?filter=" + quote(filter_text), headers=auth())
    assert response.status == 400
    assert (await response.json())["scimType"] == "invalidFilter"


async def test_post_search_takes_the_same_parameters_in_a_body(client: TestClient[Any, Any]) -> None:
    await seed(client)
    response = await client.post(
        "/scim/v2/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userType eq "Employee"',
            "sortBy": "userName",
            "sortOrder": "descending",
            "attributes": ["userName"],
            "startIndex": 1,
            "count": 10,
        },
        headers=auth(),
    )
    assert response.status == 200
    body = await response.json()
    assert [r["userName"] for r in body["Resources"]] == ["zed", "bjensen"]
    assert all(set(r) == {"schemas", "id", "userName"} for r in body["Resources"])


async def test_probes_of_one_shape_each_find_their_own_user(client: TestClient[Any, Any]) -> None:
    """An IdP probes with one filter shape and a new string each time; the server compiles the shape
    once, and every probe must still select by its own string (in any case, specials literal)."""
    ids = await seed(client)
    for _ in range(2):
        assert await names(client, 'userName eq "bjensen"') == {"bjensen"}
        assert await names(client, 'userName eq "JSMITH"') == {"Jsmith"}
        assert await names(client, 'userName eq "nobody"') == set()
        assert await names(client, 'userName sw "J"') == {"Jsmith"}
        assert await names(client, 'userName sw "z"') == {"zed"}
        assert await names(client, 'userName co ".*"') == set()
        assert await names(client, 'externalId eq "jyoung"') == {"bjensen"}
        assert await names(client, 'externalId eq "JYOUNG"') == set()  # caseExact
        assert await names(client, f'id eq "{ids["zed"]}"') == {"zed"}
        assert await names(client, f'{ENTERPRISE}:manager eq "mgr-1"') == {"bjensen"}
        for refused in ['password eq "x"', 'unknown eq "x"', 'active eq "maybe"']:
            response = await client.get("/scim/v2/Users?filter=" + quote(refused), headers=auth())
            assert response.status == 400
            assert (await response.json())["scimType"] == "invalidFilter"


async def test_membership_probes_of_one_shape_follow_membership_changes(client: TestClient[Any, Any]) -> None:
    ids = await seed(client)
    response = await client.post(
        "/scim/v2/Groups",
        json={"displayName": "Sales", "members": [{"value": ids["bjensen"]}]},
        headers=auth(),
    )
    assert response.status == 201
    group = (await response.json())["id"]
    assert await names(client, f'groups.value eq "{group}"') == {"bjensen"}
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "members", "value": [{"value": ids["zed"]}]}],
    }
    response = await client.patch(f"/scim/v2/Groups/{group}", json=patch, headers=auth())
    assert response.status in (200, 204)
    assert await names(client, f'groups.value eq "{group}"') == {"zed"}
    assert await names(client, 'groups.value eq "no-such-group"') == set()
