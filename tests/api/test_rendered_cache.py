"""Serialized resources kept for reads (api/rendered.py): never stale through the server, bounded,
membership always current, and byte-for-byte the responses the server gives without the cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.api.rendered import RenderedCache
from scim_server.services.render import ALL
from tests.helpers import TOKEN_B, ClientFactory, auth

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# -- the cache itself -------------------------------------------------------------------------------


def test_an_entry_is_found_by_scope_id_and_version_only() -> None:
    cache = RenderedCache(10, 60)
    scope = cache.scope(("orga", "User", ALL, "https://a"))
    cache.put(scope, "u1", 3, b"{v3}", now=0)
    assert cache.get(scope, "u1", 3, now=1) == b"{v3}"
    assert cache.get(scope, "u1", 4, now=1) is None  # another version
    assert cache.get(scope, "u2", 3, now=1) is None
    other = cache.scope(("orgb", "User", ALL, "https://a"))
    assert other != scope
    assert cache.get(other, "u1", 3, now=1) is None  # another organization
    assert cache.scope(("orga", "User", ALL, "https://a")) == scope


def test_an_entry_is_used_for_at_most_its_time_to_live() -> None:
    cache = RenderedCache(10, 60)
    cache.put(0, "u1", 1, b"{}", now=100)
    assert cache.get(0, "u1", 1, now=159.9) == b"{}"
    assert cache.get(0, "u1", 1, now=160) is None


def test_a_page_of_entries_is_found_in_one_call_as_one_by_one() -> None:
    cache = RenderedCache(10, 60)
    cache.put(0, "u1", 1, b"{1}", now=100)
    cache.put(0, "u2", 2, b"{2}", now=50)  # expires at 110
    cache.put(1, "u3", 1, b"{3}", now=100)  # another scope
    keys = [("u1", 1), ("u2", 2), ("u3", 1), ("u1", 2), ("u1", 1)]
    for now in (100, 109.9, 110, 160):
        assert cache.get_many(0, keys, now) == [cache.get(0, i, v, now) for i, v in keys]
    assert cache.get_many(0, keys, 105) == [b"{1}", b"{2}", None, None, b"{1}"]
    assert cache.get_many(0, [], 105) == []


def test_the_oldest_entries_leave_first_beyond_the_bound() -> None:
    cache = RenderedCache(3, 60)
    for n in range(5):
        cache.put(0, f"u{n}", 1, b"{}", now=0)
    assert len(cache) == 3
    assert [cache.get(0, f"u{n}", 1, now=0) for n in range(5)] == [None, None, b"{}", b"{}", b"{}"]


def test_naming_too_many_scopes_empties_the_cache() -> None:
    cache = RenderedCache(10, 60)
    cache.put(cache.scope("first"), "u1", 1, b"{}", now=0)
    for n in range(300):
        cache.scope(("org", n))
    assert len(cache) == 0


def test_zero_entries_or_seconds_turns_it_off() -> None:
    assert not RenderedCache(0, 60).enabled
    assert not RenderedCache(10, 0).enabled
    assert RenderedCache(10, 60).enabled


# -- over HTTP --------------------------------------------------------------------------------------


async def call(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None, token: str | None = None
) -> Any:
    headers = auth() if token is None else auth(token)
    async with client.request(method, "/scim/v2" + path, json=body, headers=headers) as response:
        assert response.status < 300, await response.text()
        return None if response.status == 204 else await response.read()


def user(n: int) -> dict[str, Any]:
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": f"user{n}@example.com",
        "name": {"givenName": f"G{n}", "familyName": "F"},
        "emails": [{"value": f"user{n}@example.com", "type": "work", "primary": True}],
        "title": "Engineer",
        "password": "secret-Password-1",
        ENTERPRISE: {"department": "Eng", "manager": {"value": "m-1"}},
    }


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": path, "value": value}]}


async def test_a_read_after_a_write_sees_the_write(client: TestClient[Any, Any]) -> None:
    created = json.loads(await call(client, "POST", "/Users", user(1)))
    uid = created["id"]
    assert json.loads(await call(client, "GET", f"/Users/{uid}"))["title"] == "Engineer"
    await call(client, "PATCH", f"/Users/{uid}", replace("title", "Boss"))
    assert json.loads(await call(client, "GET", f"/Users/{uid}"))["title"] == "Boss"
    page = json.loads(await call(client, "GET", "/Users"))
    assert page["Resources"][0]["title"] == "Boss"
    await call(client, "PUT", f"/Users/{uid}", {**user(1), "title": "Chief"})
    assert json.loads(await call(client, "GET", f"/Users/{uid}"))["title"] == "Chief"


async def test_membership_and_group_names_are_always_current(client: TestClient[Any, Any]) -> None:
    uid = json.loads(await call(client, "POST", "/Users", user(1)))["id"]
    assert "groups" not in json.loads(await call(client, "GET", f"/Users/{uid}"))
    gid = json.loads(await call(client, "POST", "/Groups", {"schemas": [GROUP], "displayName": "Eng"}))["id"]
    add = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]}
    await call(client, "PATCH", f"/Groups/{gid}", add)
    # The user's groups changed, and show at once, under a new version (before and after the pairs).
    read = json.loads(await call(client, "GET", f"/Users/{uid}"))
    assert read["meta"]["version"] == 'W/"3"'
    assert [(g["value"], g["display"]) for g in read["groups"]] == [(gid, "Eng")]
    await call(client, "PATCH", f"/Groups/{gid}", replace("displayName", "Engineering"))
    listed = json.loads(await call(client, "GET", '/Users?filter=userName eq "user1@example.com"'))
    assert [g["display"] for g in listed["Resources"][0]["groups"]] == ["Engineering"]
    remove = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": f'members[value eq "{uid}"]'}]}
    await call(client, "PATCH", f"/Groups/{gid}", remove)
    assert "groups" not in json.loads(await call(client, "GET", f"/Users/{uid}"))


async def test_each_projection_and_organization_gets_its_own_bodies(client: TestClient[Any, Any]) -> None:
    uid = json.loads(await call(client, "POST", "/Users", user(1)))["id"]
    full = json.loads(await call(client, "GET", f"/Users/{uid}"))
    assert "name" in full and "password" not in full
    only = json.loads(await call(client, "GET", f"/Users/{uid}?attributes=userName"))
    assert set(only) == {"schemas", "id", "userName"}
    without = json.loads(await call(client, "GET", f"/Users/{uid}?excludedAttributes=name,emails"))
    assert "name" not in without and "emails" not in without and "title" in without
    # Another organization never gets this user, cached or not.
    async with client.get(f"/scim/v2/Users/{uid}", headers=auth(TOKEN_B)) as response:
        assert response.status == 404


async def test_a_change_made_outside_the_server_shows_once_the_entry_expires(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], db: Any
) -> None:
    cached = await aiohttp_client(app_factory())
    uncached = await aiohttp_client(app_factory(render_cache_seconds=0))
    uid = json.loads(await call(cached, "POST", "/Users", user(1)))["id"]
    assert json.loads(await call(cached, "GET", f"/Users/{uid}"))["title"] == "Engineer"
    # An operator edits the document directly, without bumping its version.
    await db["org_orga_users"].update_one({"_id": uid}, {"$set": {"title": "Edited"}})
    assert json.loads(await call(cached, "GET", f"/Users/{uid}"))["title"] == "Engineer"
    assert json.loads(await call(uncached, "GET", f"/Users/{uid}"))["title"] == "Edited"


async def test_responses_are_the_same_bytes_with_and_without_the_cache(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    cached = await aiohttp_client(app_factory())
    uncached = await aiohttp_client(app_factory(render_cache_entries=0))
    ids = [json.loads(await call(cached, "POST", "/Users", user(n)))["id"] for n in range(5)]
    gid = json.loads(await call(cached, "POST", "/Groups", {"schemas": [GROUP], "displayName": "Eng"}))["id"]
    add = {
        "schemas": [PATCH],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": i} for i in ids[:3]]}],
    }
    await call(cached, "PATCH", f"/Groups/{gid}", add)
    paths = [
        "/Users",
        "/Users?attributes=userName,groups",
        "/Users?excludedAttributes=emails&count=3&startIndex=2",
        f"/Users/{ids[0]}",
        f"/Users/{ids[4]}",
        f"/Groups/{gid}",
        "/Groups?excludedAttributes=members",
    ]
    for _ in range(2):  # the second round is answered from the cache
        for path in paths:
            assert await call(cached, "GET", path) == await call(uncached, "GET", path), path


async def test_a_written_resource_has_the_bytes_a_read_of_it_gives(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    """Writes render from the canonical resource, reads from the stored document; a created
    resource's body is also kept for reads. Both ways give the same bytes."""
    cached = await aiohttp_client(app_factory())
    uncached = await aiohttp_client(app_factory(render_cache_entries=0))
    uid = json.loads(await call(cached, "POST", "/Users", user(1)))["id"]
    assert await call(cached, "GET", f"/Users/{uid}") == await call(uncached, "GET", f"/Users/{uid}")
    patched = await call(cached, "PATCH", f"/Users/{uid}", replace("name.givenName", "Babs"))
    assert patched == await call(uncached, "GET", f"/Users/{uid}")
    for name, client in (("Eng", cached), ("Ops", uncached)):  # one store: two names
        body = {"schemas": [GROUP], "displayName": name, "members": [{"value": uid}]}
        created = await call(client, "POST", "/Groups?excludedAttributes=meta", body)
        gid = json.loads(created)["id"]
        assert created == await call(uncached, "GET", f"/Groups/{gid}?excludedAttributes=meta")
        assert await call(client, "GET", f"/Groups/{gid}") == await call(uncached, "GET", f"/Groups/{gid}")
