"""Cursor paging (RFC 9865) at /Users, /Groups, their .search, over HTTP: pages, cursors, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.api.keys import USERS
from scim_server.storage.secrets import SECRETS_COLLECTION
from tests.helpers import TOKEN_B, ClientFactory, auth

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


async def create_users(client: TestClient[Any, Any], names: list[str]) -> list[str]:
    ids = []
    for name in names:
        response = await client.post("/scim/v2/Users", json={"userName": name}, headers=auth())
        assert response.status == 201
        ids.append((await response.json())["id"])
    return ids


async def get(client: TestClient[Any, Any], path: str, status: int = 200, token: str | None = None) -> Any:
    response = await client.get(path, headers=auth(token) if token else auth())
    assert response.status == status, await response.text()
    return await response.json()


def names(body: dict[str, Any]) -> list[str]:
    return [r["userName"] for r in body["Resources"]]


async def test_a_walk_by_next_cursor_lists_every_user_once_in_the_default_order(
    client: TestClient[Any, Any],
) -> None:
    await create_users(client, [f"u{n:02d}" for n in range(7)])
    # The default order: creation time, then id (users made in one millisecond are ordered by id).
    created = names(await get(client, "/scim/v2/Users?attributes=userName"))
    first = await get(client, "/scim/v2/Users?cursor&count=3&attributes=userName")
    assert first["schemas"] == [LIST]
    assert first["totalResults"] == 7
    assert first["itemsPerPage"] == 3
    assert "startIndex" not in first
    assert "previousCursor" not in first
    assert names(first) == created[:3]
    second = await get(client, f"/scim/v2/Users?cursor={first['nextCursor']}&count=3&attributes=userName")
    assert names(second) == created[3:6]
    assert "previousCursor" in second
    third = await get(client, f"/scim/v2/Users?cursor={second['nextCursor']}&count=3&attributes=userName")
    assert names(third) == created[6:]
    assert "nextCursor" not in third
    assert third["totalResults"] == 7
    back = await get(client, f"/scim/v2/Users?cursor={third['previousCursor']}&count=3&attributes=userName")
    assert names(back) == created[3:6]
    assert set(back) >= {"nextCursor", "previousCursor"}
    front = await get(client, f"/scim/v2/Users?cursor={back['previousCursor']}&count=3&attributes=userName")
    assert names(front) == created[:3]
    assert "previousCursor" not in front
    assert names(await get(client, f"/scim/v2/Users?cursor={front['nextCursor']}&count=3")) == created[3:6]


async def test_cursor_pages_follow_sort_by_and_sort_order_with_a_filter(client: TestClient[Any, Any]) -> None:
    await create_users(client, ["Carol", "alice", "Bob", "dave", "Eve", "x-other"])
    flt = quote('userName ne "x-other"')
    walked: list[str] = []
    cursor = ""
    while True:
        body = await get(
            client,
            f"/scim/v2/Users?filter={flt}&sortBy=userName&sortOrder=descending&count=2&cursor={cursor}",
        )
        assert body["totalResults"] == 5
        walked += names(body)
        if "nextCursor" not in body:
            break
        cursor = body["nextCursor"]
    assert walked == ["Eve", "dave", "Carol", "Bob", "alice"]


async def test_search_requests_page_by_cursor_too(client: TestClient[Any, Any]) -> None:
    await create_users(client, ["a", "b", "c"])
    request = {"schemas": [SEARCH], "cursor": "", "count": 2, "sortBy": "userName"}
    response = await client.post("/scim/v2/Users/.search", json=request, headers=auth())
    assert response.status == 200
    first = await response.json()
    assert names(first) == ["a", "b"]
    request["cursor"] = first["nextCursor"]
    response = await client.post("/scim/v2/Users/.search", json=request, headers=auth())
    assert names(await response.json()) == ["c"]


async def test_groups_page_by_cursor(client: TestClient[Any, Any]) -> None:
    for name in ("g1", "g2", "g3"):
        response = await client.post("/scim/v2/Groups", json={"displayName": name}, headers=auth())
        assert response.status == 201
    ordered = [g["displayName"] for g in (await get(client, "/scim/v2/Groups"))["Resources"]]
    first = await get(client, "/scim/v2/Groups?cursor=&count=2&excludedAttributes=members")
    assert [g["displayName"] for g in first["Resources"]] == ordered[:2]
    second = await get(client, f"/scim/v2/Groups?cursor={first['nextCursor']}&count=2")
    assert [g["displayName"] for g in second["Resources"]] == ordered[2:]
    assert "nextCursor" not in second


def error(status: int, scim_type: str, detail: str) -> dict[str, Any]:
    return {"schemas": [ERROR], "status": str(status), "scimType": scim_type, "detail": detail}


async def test_a_cursor_edited_by_hand_or_made_up_is_invalid(client: TestClient[Any, Any]) -> None:
    await create_users(client, ["a", "b", "c"])
    first = await get(client, "/scim/v2/Users?cursor&count=1")
    cursor: str = first["nextCursor"]
    payload, tag = cursor.split(".")
    edited = ("B" if payload[0] != "B" else "C") + payload[1:] + "." + tag
    for bad in (edited, "nonsense", "a.b", payload, f"{payload}.{tag[:-2]}", "x" * 5000):
        body = await get(client, f"/scim/v2/Users?cursor={bad}&count=1", status=400)
        assert body["scimType"] == "invalidCursor"
        assert body["status"] == "400"


async def test_a_cursor_is_bound_to_its_organization_filter_sort_and_endpoint(
    client: TestClient[Any, Any],
) -> None:
    await create_users(client, ["a", "b", "c"])
    first = await get(client, "/scim/v2/Users?cursor&count=1")
    cursor = first["nextCursor"]
    for other in (
        f"/scim/v2/Users?cursor={cursor}&count=1&filter={quote('userName pr')}",
        f"/scim/v2/Users?cursor={cursor}&count=1&sortBy=userName",
        f"/scim/v2/Users?cursor={cursor}&count=1&sortBy=meta.created&sortOrder=descending",
        f"/scim/v2/Groups?cursor={cursor}&count=1",
    ):
        assert (await get(client, other, status=400))["scimType"] == "invalidCursor"
    body = await get(client, f"/scim/v2/Users?cursor={cursor}&count=1", status=400, token=TOKEN_B)
    assert body["scimType"] == "invalidCursor"
    # The same order spelled another way is the same query.
    same = await get(client, f"/scim/v2/Users?cursor={cursor}&count=1&sortBy=meta.created")
    assert names(same) == names(await get(client, "/scim/v2/Users?startIndex=2&count=1"))


async def test_a_cursor_past_its_timeout_has_expired(client: TestClient[Any, Any]) -> None:
    await create_users(client, ["a", "b"])
    first = await get(client, "/scim/v2/Users?cursor&count=1")
    service = client.app[USERS]
    clock = service.cursors._clock
    service.cursors._clock = lambda: clock() + service.cursors.timeout_seconds + 1
    try:
        body = await get(client, f"/scim/v2/Users?cursor={first['nextCursor']}&count=1", status=400)
    finally:
        service.cursors._clock = clock
    assert body["scimType"] == "expiredCursor"
    assert "3600 seconds" in body["detail"]


async def test_count_must_be_positive_and_start_index_excludes_a_cursor(client: TestClient[Any, Any]) -> None:
    body = await get(client, "/scim/v2/Users?cursor&count=0", status=400)
    detail = "count must be a positive integer with cursor paging (RFC 9865)"
    assert body == error(400, "invalidCount", detail)
    body = await get(client, "/scim/v2/Users?cursor&startIndex=1", status=400)
    assert body["scimType"] == "invalidValue"
    body = await get(client, "/scim/v2/Users?cursor&sortBy=emails.value", status=400)
    assert body["scimType"] == "invalidValue"
    assert "multi-valued" in body["detail"]


async def test_service_provider_config_advertises_both_paging_methods(client: TestClient[Any, Any]) -> None:
    body = await get(client, "/scim/v2/ServiceProviderConfig")
    assert body["pagination"] == {
        "cursor": True,
        "index": True,
        "defaultPaginationMethod": "index",
        "defaultPageSize": 100,
        "maxPageSize": 1000,
        "cursorTimeout": 3600,
    }


async def walk_root(client: TestClient[Any, Any], params: str, count: int) -> list[str]:
    listed: list[str] = []
    cursor = ""
    for _ in range(50):
        body = await get(client, f"/scim/v2/?{params}&count={count}&cursor={cursor}")
        assert "startIndex" not in body
        listed += [r["id"] for r in body["Resources"]]
        if "nextCursor" not in body:
            return listed
        cursor = body["nextCursor"]
    raise AssertionError("the walk did not end")


async def test_the_server_root_pages_users_and_groups_together_by_cursor(
    client: TestClient[Any, Any],
) -> None:
    await create_users(client, ["u1", "u2", "u3", "u4"])
    for name in ("g1", "u2x", "g3"):
        response = await client.post("/scim/v2/Groups", json={"displayName": name}, headers=auth())
        assert response.status == 201
    await create_users(client, ["u5"])
    for params in (
        "filter=" + quote("meta.resourceType pr"),
        "sortBy=displayName",
        "sortBy=userName&sortOrder=descending",
        "filter=" + quote('userName sw "u" or displayName sw "g"') + "&sortBy=id",
    ):
        everything = await get(client, f"/scim/v2/?{params}&count=100")
        expected = [r["id"] for r in everything["Resources"]]
        for count in (1, 2, 3, 100):
            assert await walk_root(client, params, count) == expected, (params, count)
    body = await client.post(
        "/scim/v2/.search",
        json={"schemas": [SEARCH], "cursor": "", "count": 3, "sortBy": "meta.created"},
        headers=auth(),
    )
    first = await body.json()
    assert first["totalResults"] == 8 and first["itemsPerPage"] == 3 and "nextCursor" in first
    other = await get(client, f"/scim/v2/Users?cursor={first['nextCursor']}", status=400)
    assert other["scimType"] == "invalidCursor"


async def test_a_cursor_issued_by_one_worker_is_read_by_another_through_the_stored_secret(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], db: Any
) -> None:
    # Two applications on one database: two worker processes, or one before and after a restart.
    first = await aiohttp_client(app_factory())
    second = await aiohttp_client(app_factory())
    await create_users(first, ["a", "b", "c"])
    page = await get(first, "/scim/v2/Users?cursor&count=2")
    last = names(await get(first, "/scim/v2/Users?startIndex=3"))
    assert names(await get(second, f"/scim/v2/Users?cursor={page['nextCursor']}&count=2")) == last
    stored = await db[SECRETS_COLLECTION].find({}).to_list(None)
    assert [(s["_id"], len(s["value"])) for s in stored] == [("cursor", 64)]


async def test_the_cursor_secret_setting_signs_cursors_and_changing_it_invalidates_them(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], db: Any
) -> None:
    first = await aiohttp_client(app_factory(cursor_secret="one secret for every worker"))
    same = await aiohttp_client(app_factory(cursor_secret="one secret for every worker"))
    other = await aiohttp_client(app_factory(cursor_secret="another secret"))
    await create_users(first, ["a", "b"])
    cursor = (await get(first, "/scim/v2/Users?cursor&count=1"))["nextCursor"]
    second = names(await get(first, "/scim/v2/Users?startIndex=2"))
    assert names(await get(same, f"/scim/v2/Users?cursor={cursor}&count=1")) == second
    body = await get(other, f"/scim/v2/Users?cursor={cursor}&count=1", status=400)
    assert body["scimType"] == "invalidCursor"
    assert await db[SECRETS_COLLECTION].count_documents({}) == 0  # the setting needs no stored secret


async def test_a_page_sorted_by_a_shadowed_attribute_shows_what_a_list_shows(
    client: TestClient[Any, Any],
) -> None:
    # The positions of a case-insensitive sort are read off the lower-cased shadow, so the page is
    # read whole: it must still render exactly as index paging renders it, password left out.
    for name in ("Bea", "al"):
        body = {"userName": name, "password": "Secret-123", "title": name.upper()}
        assert (await client.post("/scim/v2/Users", json=body, headers=auth())).status == 201
    by_cursor = await get(client, "/scim/v2/Users?cursor&sortBy=userName")
    by_index = await get(client, "/scim/v2/Users?sortBy=userName")
    assert by_cursor["Resources"] == by_index["Resources"]
    assert names(by_cursor) == ["al", "Bea"]
    assert all("password" not in r and "_lc" not in r for r in by_cursor["Resources"])
