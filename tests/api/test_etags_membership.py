"""ETags that see membership (RFC 7644 §3.14, RFC 7232): a user's ``groups`` and a group's ``members``
(value, display, type, $ref) are part of what a version names.

For every way such an entry can change (a membership PATCH, PUT or POST of another group, a member's
or a group's deletion, a rename shown as ``display``), the tag read before the change no longer
matches: a GET with ``If-None-Match`` answers 200 with the new body and a new tag, and a PUT, PATCH or
DELETE with ``If-Match`` answers 412 and writes nothing. And a membership change of k members writes
O(k) documents, whatever the group's size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.app import create_app
from scim_server.errors import ServiceUnavailableError
from scim_server.storage.client import embedded_client
from scim_server.storage.repository import Member, MembershipRepository
from tests.helpers import ClientFactory, auth, make_settings

SCIM = "/scim/v2"
BASE = "https://scim.test/scim/v2"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Client = TestClient[Any, Any]
Body = dict[str, Any]


@pytest.fixture(params=["cached", "uncached"])
async def client(
    request: pytest.FixtureRequest, aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> Client:
    """Each case with the render cache (``api/rendered.py``, keyed by version) and without it."""
    entries = 10_000 if request.param == "cached" else 0
    return await aiohttp_client(app_factory(render_cache_entries=entries))


def ops(*operations: dict[str, Any]) -> Body:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


async def send(client: Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    response = await client.request(method, SCIM + path, json=body, headers=auth())
    assert response.status == status, await response.text()
    return None if status == 204 else await response.json()


async def new_user(client: Client, name: str) -> str:
    return str((await send(client, "POST", "/Users", {"userName": name}, 201))["id"])


async def new_group(client: Client, name: str, *members: str) -> str:
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    return str((await send(client, "POST", "/Groups", body, 201))["id"])


async def read(client: Client, path: str) -> tuple[str, Body]:
    response = await client.get(SCIM + path, headers=auth())
    assert response.status == 200, await response.text()
    body: Body = await response.json()
    assert response.headers["ETag"] == body["meta"]["version"]
    return response.headers["ETag"], body


def in_group(group_id: str, name: str) -> Body:
    """An entry of a user's ``groups``, as rendered."""
    return {"value": group_id, "display": name, "type": "direct", "$ref": f"{BASE}/Groups/{group_id}"}


def member(member_id: str, name: str, kind: str = "User") -> Body:
    """An entry of a group's ``members``, as rendered."""
    return {"value": member_id, "display": name, "type": kind, "$ref": f"{BASE}/{kind}s/{member_id}"}


def stale_writes(path: str, body: Body) -> list[tuple[str, Any]]:
    """A PUT, a PATCH and a DELETE that would succeed but for their If-Match."""
    if path.startswith("/Users/"):
        return [
            ("PUT", {"userName": body["userName"], "title": "put"}),
            ("PATCH", ops({"op": "replace", "path": "title", "value": "patched"})),
            ("DELETE", None),
        ]
    return [
        ("PUT", {"schemas": [GROUP], "displayName": body["displayName"]}),
        ("PATCH", ops({"op": "replace", "path": "displayName", "value": "patched"})),
        ("DELETE", None),
    ]


async def assert_not_matched(client: Client, path: str, before: tuple[str, Body]) -> Body:
    """The tag read ``before`` no longer names the resource: a conditional GET answers 200 with the
    new body under a new tag (and a ``lastModified`` no earlier). Returns the new body."""
    old_tag, old_body = before
    response = await client.get(SCIM + path, headers={**auth(), "If-None-Match": old_tag})
    assert response.status == 200
    body: Body = await response.json()
    assert body != old_body
    new_tag = response.headers["ETag"]
    assert new_tag == body["meta"]["version"] and new_tag != old_tag
    assert body["meta"]["lastModified"] >= old_body["meta"]["lastModified"]
    return body


async def assert_refused(client: Client, path: str, old_tag: str, body: Body) -> None:
    """PUT, PATCH and DELETE with ``old_tag`` as If-Match answer 412 and write nothing: the current
    tag (``body``'s) still answers 304."""
    for method, payload in stale_writes(path, body):
        refused = await client.request(
            method, SCIM + path, json=payload, headers={**auth(), "If-Match": old_tag}
        )
        assert refused.status == 412, (method, await refused.text())
        assert (await refused.json())["status"] == "412"
    unchanged = await client.get(SCIM + path, headers={**auth(), "If-None-Match": body["meta"]["version"]})
    assert unchanged.status == 304


async def assert_moved(client: Client, path: str, before: tuple[str, Body]) -> Body:
    """:func:`assert_not_matched`, then :func:`assert_refused`. Returns the new body."""
    body = await assert_not_matched(client, path, before)
    await assert_refused(client, path, before[0], body)
    return body


async def assert_both_moved(
    client: Client, group: tuple[str, tuple[str, Body]], user: tuple[str, tuple[str, Body]]
) -> tuple[Body, Body]:
    """:func:`assert_moved` for a group and a user, both read before either is written to."""
    bodies = [await assert_not_matched(client, path, before) for path, before in (group, user)]
    for (path, before), body in zip((group, user), bodies, strict=True):
        await assert_refused(client, path, before[0], body)
    return bodies[0], bodies[1]


# -- a user's groups ------------------------------------------------------------------------------------


async def test_a_user_added_by_a_group_patch_gets_a_new_tag(client: Client) -> None:
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng")
    before = await read(client, f"/Users/{uid}")
    add = ops({"op": "add", "path": "members", "value": [{"value": uid}]})
    await send(client, "PATCH", f"/Groups/{gid}", add, 204)

    body = await assert_moved(client, f"/Users/{uid}", before)
    assert body["groups"] == [in_group(gid, "Eng")]
    assert {k: v for k, v in body.items() if k not in ("groups", "meta")} == {
        k: v for k, v in before[1].items() if k != "meta"
    }


async def test_a_user_removed_by_a_group_patch_gets_a_new_tag(client: Client) -> None:
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng", uid)
    before = await read(client, f"/Users/{uid}")
    assert before[1]["groups"] == [in_group(gid, "Eng")]
    remove = ops({"op": "remove", "path": f'members[value eq "{uid}"]'})
    await send(client, "PATCH", f"/Groups/{gid}", remove, 204)

    body = await assert_moved(client, f"/Users/{uid}", before)
    assert "groups" not in body


async def test_users_added_and_removed_by_a_group_put_get_new_tags(client: Client) -> None:
    alice, bob, carol = [await new_user(client, n) for n in ("alice", "bob", "carol")]
    gid = await new_group(client, "Eng", alice, carol)
    before = {uid: await read(client, f"/Users/{uid}") for uid in (alice, bob, carol)}
    put = {"schemas": [GROUP], "displayName": "Eng", "members": [{"value": bob}, {"value": carol}]}
    await send(client, "PUT", f"/Groups/{gid}", put)

    assert "groups" not in await assert_moved(client, f"/Users/{alice}", before[alice])
    assert (await assert_moved(client, f"/Users/{bob}", before[bob]))["groups"] == [in_group(gid, "Eng")]
    # Carol was a member before and after, under the same name: her tag still holds.
    kept = await client.get(f"{SCIM}/Users/{carol}", headers={**auth(), "If-None-Match": before[carol][0]})
    assert kept.status == 304


async def test_a_user_made_a_member_by_a_group_post_gets_a_new_tag(client: Client) -> None:
    uid = await new_user(client, "alice")
    before = await read(client, f"/Users/{uid}")
    gid = await new_group(client, "Eng", uid)

    assert (await assert_moved(client, f"/Users/{uid}", before))["groups"] == [in_group(gid, "Eng")]


async def test_a_group_post_refused_as_a_duplicate_leaves_no_membership(client: Client, db: Any) -> None:
    uid = await new_user(client, "alice")
    await new_group(client, "Eng")
    before = await read(client, f"/Users/{uid}")
    duplicate = {"schemas": [GROUP], "displayName": "ENG", "members": [{"value": uid}]}
    refused = await send(client, "POST", "/Groups", duplicate, 409)
    assert refused["scimType"] == "uniqueness"

    # The pairs written before the group are gone again; the user shows no group (its version moved
    # once, before them: a spurious change, never a stale one).
    assert await db["org_orga_memberships"].count_documents({"m": uid}) == 0
    _, body = await read(client, f"/Users/{uid}")
    assert {k: v for k, v in body.items() if k != "meta"} == {
        k: v for k, v in before[1].items() if k != "meta"
    }


async def test_a_user_whose_group_is_deleted_gets_a_new_tag(client: Client) -> None:
    uid = await new_user(client, "alice")
    eng, ops_group = await new_group(client, "Eng", uid), await new_group(client, "Ops", uid)
    before = await read(client, f"/Users/{uid}")
    await send(client, "DELETE", f"/Groups/{eng}", status=204)

    assert (await assert_moved(client, f"/Users/{uid}", before))["groups"] == [in_group(ops_group, "Ops")]


@pytest.mark.parametrize("how", ["PATCH", "PUT"])
async def test_a_user_whose_group_is_renamed_gets_a_new_tag(client: Client, how: str) -> None:
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng", uid)
    before = await read(client, f"/Users/{uid}")
    if how == "PATCH":
        rename = ops({"op": "replace", "path": "displayName", "value": "Engineering"})
        await send(client, "PATCH", f"/Groups/{gid}", rename, 204)
    else:
        put = {"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": uid}]}
        await send(client, "PUT", f"/Groups/{gid}", put)

    body = await assert_moved(client, f"/Users/{uid}", before)
    assert body["groups"] == [in_group(gid, "Engineering")]


# -- a group's members ----------------------------------------------------------------------------------


async def test_a_group_whose_member_user_is_deleted_gets_a_new_tag(client: Client) -> None:
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    gid = await new_group(client, "Eng", alice, bob)
    before = await read(client, f"/Groups/{gid}")
    await send(client, "DELETE", f"/Users/{alice}", status=204)

    assert (await assert_moved(client, f"/Groups/{gid}", before))["members"] == [member(bob, "bob")]


@pytest.mark.parametrize("how", ["PATCH", "PUT"])
async def test_a_group_whose_member_user_is_renamed_gets_a_new_tag(client: Client, how: str) -> None:
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng", uid)
    before = await read(client, f"/Groups/{gid}")
    if how == "PATCH":
        rename = ops({"op": "replace", "path": "userName", "value": "alice.smith"})
        await send(client, "PATCH", f"/Users/{uid}", rename)
    else:
        await send(client, "PUT", f"/Users/{uid}", {"userName": "alice.smith"})

    body = await assert_moved(client, f"/Groups/{gid}", before)
    assert body["members"] == [member(uid, "alice.smith")]


async def test_a_user_change_that_renames_nothing_keeps_its_groups_tags(client: Client) -> None:
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng", uid)
    tag, _ = await read(client, f"/Groups/{gid}")
    await send(client, "PATCH", f"/Users/{uid}", ops({"op": "replace", "path": "title", "value": "Boss"}))
    await send(client, "PUT", f"/Users/{uid}", {"userName": "alice", "title": "Chief"})

    kept = await client.get(f"{SCIM}/Groups/{gid}", headers={**auth(), "If-None-Match": tag})
    assert kept.status == 304


async def test_a_group_whose_member_group_is_deleted_or_renamed_gets_a_new_tag(client: Client) -> None:
    inner, other = await new_group(client, "Inner"), await new_group(client, "Other")
    outer = await new_group(client, "Outer", inner, other)
    before = await read(client, f"/Groups/{outer}")
    rename = ops({"op": "replace", "path": "displayName", "value": "Core"})
    await send(client, "PATCH", f"/Groups/{inner}", rename, 204)

    renamed = await assert_moved(client, f"/Groups/{outer}", before)
    # Members are listed users first, then groups, each by id.
    expected = sorted(
        [member(inner, "Core", "Group"), member(other, "Other", "Group")], key=lambda m: m["value"]
    )
    assert renamed["members"] == expected

    before = (renamed["meta"]["version"], renamed)
    await send(client, "DELETE", f"/Groups/{other}", status=204)
    after = await assert_moved(client, f"/Groups/{outer}", before)
    assert after["members"] == [member(inner, "Core", "Group")]


async def test_a_group_whose_members_change_gets_a_new_tag_and_answers_it(client: Client) -> None:
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng")
    before = await read(client, f"/Groups/{gid}")
    add = ops({"op": "add", "path": "members", "value": [{"value": uid}]})
    response = await client.patch(f"{SCIM}/Groups/{gid}", json=add, headers=auth())
    assert response.status == 204

    body = await assert_moved(client, f"/Groups/{gid}", before)
    assert body["members"] == [member(uid, "alice")]
    # The tag the PATCH answered names what a read then shows.
    assert response.headers["ETag"] == body["meta"]["version"]


# -- the order of the writes ----------------------------------------------------------------------------


async def test_a_reader_between_the_group_write_and_the_pair_writes_holds_a_tag_left_behind(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GET that runs while a membership PATCH is between its writes (its guarded write and the
    users' first move done, no pair written yet) reads old members under a tag the PATCH then
    leaves behind, for the group and for the user."""
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng")
    seen: dict[str, tuple[str, Body]] = {}
    add = MembershipRepository.add

    async def reading_first(self: MembershipRepository, group_id: str, members: Any) -> None:
        if members and not seen:
            seen["group"] = await read(client, f"/Groups/{gid}")
            seen["user"] = await read(client, f"/Users/{uid}")
        await add(self, group_id, members)

    monkeypatch.setattr(MembershipRepository, "add", reading_first)
    await send(client, "PATCH", f"/Groups/{gid}", ops({"op": "add", "path": "members", "value": [uid]}), 204)

    assert "members" not in seen["group"][1] and "groups" not in seen["user"][1]
    group, user = await assert_both_moved(
        client, (f"/Groups/{gid}", seen["group"]), (f"/Users/{uid}", seen["user"])
    )
    assert group["members"] == [member(uid, "alice")] and user["groups"] == [in_group(gid, "Eng")]


async def test_a_crash_after_the_pair_writes_leaves_no_tag_on_a_changed_body(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pairs are written, then the request fails before the versions move again (the store goes
    away): the tags read before the change match nothing, since the versions moved before the pairs."""
    uid = await new_user(client, "alice")
    gid = await new_group(client, "Eng")
    before = {"group": await read(client, f"/Groups/{gid}"), "user": await read(client, f"/Users/{uid}")}
    add = MembershipRepository.add

    async def failing_after(self: MembershipRepository, group_id: str, members: list[Member]) -> None:
        await add(self, group_id, members)
        raise ServiceUnavailableError("the database is unavailable; retry later")

    monkeypatch.setattr(MembershipRepository, "add", failing_after)
    await send(client, "PATCH", f"/Groups/{gid}", ops({"op": "add", "path": "members", "value": [uid]}), 503)
    monkeypatch.undo()

    group, user = await assert_both_moved(
        client, (f"/Groups/{gid}", before["group"]), (f"/Users/{uid}", before["user"])
    )
    assert group["members"] == [member(uid, "alice")] and user["groups"] == [in_group(gid, "Eng")]


# -- cost -----------------------------------------------------------------------------------------------


class CountingCollection:
    """Passes every call through, counting the documents each write touched (and the reads' results)."""

    def __init__(self, collection: Any, counts: dict[str, int]) -> None:
        self._collection = collection
        self._counts = counts

    async def insert_many(self, documents: list[Any], *args: Any, **kwargs: Any) -> Any:
        self._counts["written"] += len(documents)
        return await self._collection.insert_many(documents, *args, **kwargs)

    async def insert_one(self, document: Any, *args: Any, **kwargs: Any) -> Any:
        self._counts["written"] += 1
        return await self._collection.insert_one(document, *args, **kwargs)

    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._collection.update_one(*args, **kwargs)
        self._counts["written"] += result.matched_count
        return result

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._collection.update_many(*args, **kwargs)
        self._counts["written"] += result.matched_count
        return result

    async def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._collection.delete_many(*args, **kwargs)
        self._counts["written"] += result.deleted_count
        return result

    async def delete_one(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._collection.delete_one(*args, **kwargs)
        self._counts["written"] += result.deleted_count
        return result

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        found = await self._collection.find_one(*args, **kwargs)
        self._counts["read"] += found is not None
        return found

    def find(self, *args: Any, **kwargs: Any) -> Any:
        return CountingCursor(self._collection.find(*args, **kwargs), self._counts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


class CountingCursor:
    def __init__(self, cursor: Any, counts: dict[str, int]) -> None:
        self._cursor = cursor
        self._counts = counts

    def sort(self, *args: Any, **kwargs: Any) -> CountingCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        found: list[Any] = await self._cursor.to_list(length=length)
        self._counts["read"] += len(found)
        return found


class CountingDatabase:
    def __init__(self, db: Any) -> None:
        self._db = db
        self.counts = {"written": 0, "read": 0}

    def __getitem__(self, name: str) -> CountingCollection:
        return CountingCollection(self._db[name], self.counts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def _membership_patch_cost(aiohttp_client: ClientFactory, group_size: int) -> dict[str, int]:
    """The documents written and read by one PATCH adding three members to a group of ``group_size``
    and removing two of its members."""
    db = CountingDatabase(embedded_client()["scim"])
    client = await aiohttp_client(
        create_app(make_settings(rate_limit_per_second=0), db=db, announce=lambda _: None)
    )
    users = [await new_user(client, f"user{n}") for n in range(group_size + 3)]
    gid = await new_group(client, "Big", *users[:group_size])
    db.counts.update(written=0, read=0)
    patch = ops(
        {"op": "add", "path": "members", "value": [{"value": u} for u in users[group_size:]]},
        {"op": "remove", "path": "members", "value": [{"value": u} for u in users[:2]]},
    )
    await send(client, "PATCH", f"/Groups/{gid}", patch, 204)
    return dict(db.counts)


async def test_a_membership_patch_of_k_members_writes_o_of_k_documents(aiohttp_client: ClientFactory) -> None:
    small = await _membership_patch_cost(aiohttp_client, group_size=10)
    large = await _membership_patch_cost(aiohttp_client, group_size=300)

    assert small == large
    # 5 users moved before and after (10), 3 pairs inserted and 2 deleted (5), the group's guarded
    # write and its second move (2), the audit event (1).
    assert large["written"] == 18


# -- concurrency ----------------------------------------------------------------------------------------


async def test_if_match_writers_converge_while_groups_add_and_remove_the_user(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    """Membership changes move the user's version without its lock: If-Match writers see 412 and
    retry, and every one gets its change in; the writes without If-Match lose nothing either."""
    client = await aiohttp_client(app_factory(rate_limit_per_second=0))
    uid = await new_user(client, "alice")
    groups = [await new_group(client, f"g{n}") for n in range(10)]
    url = f"{SCIM}/Users/{uid}"
    refused = 0

    async def writer(n: int) -> None:
        nonlocal refused
        for _ in range(500):
            current = await client.get(url, headers=auth())
            email = {"op": "add", "path": "emails", "value": [{"value": f"w{n}@example.com"}]}
            response = await client.patch(
                url, json=ops(email), headers={**auth(), "If-Match": current.headers["ETag"]}
            )
            if response.status == 412:
                refused += 1
                continue
            assert response.status == 200, await response.text()
            return
        raise AssertionError(f"writer {n} never got its change in")

    async def plain(n: int) -> None:
        phone = {"op": "add", "path": "phoneNumbers", "value": [{"value": f"+1 555 01{n:02}"}]}
        await send(client, "PATCH", f"/Users/{uid}", ops(phone))

    async def membership(gid: str) -> None:
        add = ops({"op": "add", "path": "members", "value": [{"value": uid}]})
        remove = ops({"op": "remove", "path": f'members[value eq "{uid}"]'})
        for body in (add, remove, add):
            await send(client, "PATCH", f"/Groups/{gid}", body, 204)

    await asyncio.gather(
        *(writer(n) for n in range(10)), *(plain(n) for n in range(10)), *(membership(g) for g in groups)
    )

    _, final = await read(client, f"/Users/{uid}")
    assert sorted(e["value"] for e in final["emails"]) == sorted(f"w{n}@example.com" for n in range(10))
    assert sorted(p["value"] for p in final["phoneNumbers"]) == sorted(f"+1 555 01{n:02}" for n in range(10))
    assert sorted(g["value"] for g in final["groups"]) == sorted(groups)
    assert refused > 0  # the race happened: some If-Match writers had to retry
