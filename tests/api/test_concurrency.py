"""Concurrency without loss: many tasks hammer one resource over HTTP (asyncio.gather on the test client).

The checks are exact. Every successful modifying response carries the version it produced; those
versions must be exactly 2, 3, ..., 1 + (number of successes), and replaying the successful requests in
version order through a pure model must reproduce every response body and the final state. So the
outcome equals one serial order of the requests that succeeded, and nothing was lost or applied twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import ClientFactory, auth

USERS = "/scim/v2/Users"
GROUPS = "/scim/v2/Groups"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_NAME = "race@example.com"
RETRY_LIMIT = 500  # a client that needs more attempts than this is starved, which is a failure too

Client = TestClient[Any, Any]
State = dict[str, Any]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]) -> Client:
    """The shared fixture's app without the per-organization rate limit: these tests send hundreds of
    requests in a burst on purpose."""
    return await aiohttp_client(app_factory(rate_limit_per_second=0))


def version_of(etag: str) -> int:
    assert etag.startswith('W/"') and etag.endswith('"'), etag
    return int(etag[3:-1])


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def attributes_of(resource: dict[str, Any]) -> State:
    """The client-visible state of a user, without what the server manages (id, meta, schemas)."""
    return {k: v for k, v in resource.items() if k not in ("id", "meta", "schemas")}


@dataclass(frozen=True)
class Request:
    """One request of the race and how a pure model applies it to the state."""

    kind: str  # "patch-email", "patch-title", "put", "delete"
    index: int

    def send(self, client: Client, url: str) -> Awaitable[Any]:
        if self.kind == "patch-email":
            email = {"value": f"p{self.index}@example.com", "type": "work"}
            body = patch_body({"op": "add", "path": "emails", "value": [email]})
            return client.patch(url, json=body, headers=auth())
        if self.kind == "patch-title":
            body = patch_body({"op": "replace", "path": "title", "value": f"title-{self.index}"})
            return client.patch(url, json=body, headers=auth())
        if self.kind == "put":
            return client.put(url, json=self.put_body(), headers=auth())
        return client.delete(url, headers=auth())

    def put_body(self) -> State:
        return {
            "userName": USER_NAME,
            "displayName": f"put-{self.index}",
            "emails": [{"value": f"put{self.index}@example.com", "type": "home"}],
        }

    def apply(self, state: State) -> State:
        """The model: what this request does to the state when it runs alone."""
        if self.kind == "put":
            return self.put_body()
        new = {**state}
        if self.kind == "patch-email":
            new["emails"] = [
                *state.get("emails", []),
                {"value": f"p{self.index}@example.com", "type": "work"},
            ]
        else:
            new["title"] = f"title-{self.index}"
        return new


@dataclass(frozen=True)
class Outcome:
    request: Request
    status: int
    version: int | None
    body: Any


async def race(client: Client, url: str, requests: list[Request], *, second_wave: int = 0) -> list[Outcome]:
    """Send the requests at once, except the DELETEs and the last ``second_wave`` others: those go
    together once the first wave is half answered, so the DELETEs land mid-race, not first or last."""
    answered = 0
    halfway = asyncio.Event()
    writes = [r for r in requests if r.kind != "delete"]
    late = {id(r) for r in requests if r.kind == "delete"} | {
        id(r) for r in writes[len(writes) - second_wave :]
    }
    first_wave = len(requests) - len(late)
    if not late:
        halfway.set()

    async def run(request: Request) -> Outcome:
        nonlocal answered
        if id(request) in late:
            await halfway.wait()
        response = await request.send(client, url)
        answered += 1
        if answered >= first_wave // 2:
            halfway.set()
        etag = response.headers.get("ETag")
        body = await response.json() if response.status not in (204, 304) else None
        return Outcome(request, response.status, version_of(etag) if etag else None, body)

    return list(await asyncio.gather(*(run(r) for r in requests)))


def check_serial(initial: State, outcomes: list[Outcome]) -> State:
    """Assert the successes form one serial history; return the state it ends in."""
    writes = sorted(
        (o for o in outcomes if o.request.kind != "delete" and o.status == 200), key=lambda o: o.version
    )
    assert [o.version for o in writes] == list(range(2, 2 + len(writes))), "versions skip or repeat"
    state = initial
    for outcome in writes:
        state = outcome.request.apply(state)
        # Each response shows exactly the state its own version stands for.
        assert attributes_of(outcome.body) == state, outcome
        assert outcome.body["meta"]["version"] == f'W/"{outcome.version}"'
    return state


def mixed_requests(patches: int, puts: int, deletes: int, seed: int) -> list[Request]:
    requests = [Request("patch-email" if i % 2 else "patch-title", i) for i in range(patches)]
    requests += [Request("put", j) for j in range(puts)]
    requests += [Request("delete", k) for k in range(deletes)]
    random.Random(seed).shuffle(requests)
    return requests


async def create_user(client: Client) -> tuple[str, State]:
    initial: State = {"userName": USER_NAME, "displayName": "initial"}
    response = await client.post(USERS, json=initial, headers=auth())
    assert response.status == 201
    return f"{USERS}/{(await response.json())['id']}", initial


async def test_mixed_patches_and_puts_on_one_user_equal_a_serial_order(client: Client) -> None:
    url, initial = await create_user(client)
    requests = mixed_requests(patches=60, puts=12, deletes=0, seed=1)
    outcomes = await race(client, url, requests)
    assert sorted({o.status for o in outcomes}) == [200], [o for o in outcomes if o.status != 200]
    final_state = check_serial(initial, outcomes)
    final = await (await client.get(url, headers=auth())).json()
    assert attributes_of(final) == final_state
    assert final["meta"]["version"] == f'W/"{1 + len(requests)}"'
    # Every PATCH since the last PUT left its email; the PUTs before it replaced the others'.
    last_put = max((o for o in outcomes if o.request.kind == "put"), key=lambda o: o.version or 0)
    later = {
        f"p{o.request.index}@example.com"
        for o in outcomes
        if o.request.kind == "patch-email" and (o.version or 0) > (last_put.version or 0)
    }
    assert {e["value"] for e in final["emails"]} == later | {f"put{last_put.request.index}@example.com"}


async def test_a_delete_racing_patches_and_puts_ends_everything_after_it(client: Client) -> None:
    url, initial = await create_user(client)
    requests = mixed_requests(patches=40, puts=8, deletes=3, seed=2)
    outcomes = await race(client, url, requests, second_wave=24)
    deletes = [o for o in outcomes if o.request.kind == "delete"]
    assert sorted(o.status for o in deletes) == [204, 404, 404]
    writes = [o for o in outcomes if o.request.kind != "delete"]
    assert {o.status for o in writes} <= {200, 404}, [o for o in writes if o.status not in (200, 404)]
    for outcome in outcomes:
        if outcome.status == 404:
            assert outcome.body["status"] == "404"
    # The writes that succeeded ran before the DELETE, as one serial history; the rest found no user.
    assert len(check_serial(initial, outcomes)) > 0
    succeeded = sum(o.status == 200 for o in writes)
    assert 12 <= succeeded < len(writes)  # the DELETE landed mid-race: writes both before and after it
    assert (await client.get(url, headers=auth())).status == 404
    listed = await (await client.get(USERS, headers=auth())).json()
    assert listed["totalResults"] == 0


# --- group membership ----------------------------------------------------------------------------------


async def test_concurrent_member_adds_and_removes_on_one_group_equal_the_serial_result(
    client: Client, db: Any
) -> None:
    ids = []
    for i in range(60):
        created = await client.post(USERS, json={"userName": f"member{i}"}, headers=auth())
        ids.append((await created.json())["id"])
    initial, joining = ids[:30], ids[30:]
    group = await client.post(
        GROUPS, json={"displayName": "crowd", "members": [{"value": m} for m in initial]}, headers=auth()
    )
    group_id = (await group.json())["id"]
    url = f"{GROUPS}/{group_id}"

    def add(member: str) -> Awaitable[Any]:
        body = patch_body({"op": "add", "path": "members", "value": [{"value": member}]})
        return client.patch(url, json=body, headers=auth())

    def remove(member: str) -> Awaitable[Any]:
        body = patch_body({"op": "remove", "path": f'members[value eq "{member}"]'})
        return client.patch(url, json=body, headers=auth())

    # Each joining member is added by three tasks at once (duplicates must not appear); each initial
    # member is removed once.
    calls: list[Callable[[], Awaitable[Any]]] = [partial(add, m) for m in joining for _ in range(3)]
    calls += [partial(remove, m) for m in initial]
    random.Random(3).shuffle(calls)
    responses = await asyncio.gather(*(call() for call in calls))
    assert [r.status for r in responses] == [204] * len(calls)
    # Every change moves the version by two (its guarded write, and once more after its pair writes),
    # with no gaps; a repeated add changes nothing and answers the version it found (two racing first
    # adds of one member may both count as changes).
    versions = sorted({version_of(r.headers["ETag"]) for r in responses})
    assert versions == list(range(3, 3 + 2 * len(versions), 2))
    assert len(versions) >= len(joining) + len(initial)

    final = await (await client.get(url, headers=auth())).json()
    assert sorted(m["value"] for m in final["members"]) == sorted(joining)
    assert final["meta"]["version"] == f'W/"{versions[-1]}"'
    pairs = await db["org_orga_memberships"].find({"g": group_id}).to_list(None)
    assert sorted(p["m"] for p in pairs) == sorted(joining)  # one pair per member, no duplicates
    for member in joining[:3]:
        user = await (await client.get(f"{USERS}/{member}", headers=auth())).json()
        assert [g["value"] for g in user["groups"]] == [group_id]


async def test_a_membership_patch_that_changes_nothing_keeps_the_version(client: Client) -> None:
    member = (await (await client.post(USERS, json={"userName": "m"}, headers=auth())).json())["id"]
    created = await client.post(
        GROUPS, json={"displayName": "g", "members": [{"value": member}]}, headers=auth()
    )
    url = f"{GROUPS}/{(await created.json())['id']}"
    for operation in (
        {"op": "add", "path": "members", "value": [{"value": member}]},
        {"op": "remove", "path": "members", "value": [{"value": "not-a-member"}]},
    ):
        response = await client.patch(url, json=patch_body(operation), headers=auth())
        assert response.status == 204
        assert response.headers["ETag"] == 'W/"1"', operation


# --- creation races ------------------------------------------------------------------------------------


async def test_concurrent_posts_of_one_username_in_any_case_create_exactly_one(client: Client) -> None:
    spellings = ["race@example.com", "RACE@example.com", "Race@Example.Com", "race@EXAMPLE.COM"]
    responses = await asyncio.gather(
        *(client.post(USERS, json={"userName": spellings[i % 4]}, headers=auth()) for i in range(40))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 39
    for response in responses:
        if response.status == 409:
            assert (await response.json())["scimType"] == "uniqueness"
    listed = await (await client.get(USERS, headers=auth())).json()
    assert listed["totalResults"] == 1


async def test_concurrent_posts_of_one_group_display_name_create_exactly_one(client: Client) -> None:
    responses = await asyncio.gather(
        *(
            client.post(GROUPS, json={"displayName": "Admins" if i % 2 else "ADMINS"}, headers=auth())
            for i in range(40)
        )
    )
    assert sorted(r.status for r in responses) == [201] + [409] * 39
    listed = await (await client.get(GROUPS, headers=auth())).json()
    assert listed["totalResults"] == 1


# --- optimistic concurrency: If-Match retry loops ------------------------------------------------------


async def test_if_match_retry_loops_all_succeed_and_lose_nothing(client: Client) -> None:
    url, _ = await create_user(client)
    clients = 25
    attempts: list[int] = []

    async def writer(i: int) -> int:
        for attempt in range(1, RETRY_LIMIT + 1):
            current = await client.get(url, headers=auth())
            etag = current.headers["ETag"]
            email = {"value": f"w{i}@example.com", "type": "work"}
            body = patch_body({"op": "add", "path": "emails", "value": [email]})
            response = await client.patch(url, json=body, headers={**auth(), "If-Match": etag})
            if response.status == 412:
                assert (await response.json())["status"] == "412"
                continue
            assert response.status == 200, await response.text()
            # The version it produced follows the one it was based on.
            assert version_of(response.headers["ETag"]) == version_of(etag) + 1
            attempts.append(attempt)
            return version_of(response.headers["ETag"])
        raise AssertionError(f"writer {i} never got its change in")

    produced = await asyncio.gather(*(writer(i) for i in range(clients)))
    assert sorted(produced) == list(range(2, 2 + clients))
    final = await (await client.get(url, headers=auth())).json()
    assert final["meta"]["version"] == f'W/"{1 + clients}"'
    assert sorted(e["value"] for e in final["emails"]) == sorted(f"w{i}@example.com" for i in range(clients))
    print(
        f"If-Match: {clients} writers, {sum(attempts)} PATCH attempts, {sum(attempts) - clients} answered 412"
    )
    assert sum(attempts) > clients  # the race really happened: some writers had to retry
