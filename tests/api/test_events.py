"""The change-event feed over HTTP: every write once, in commit order, never a value."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.services.audit import AuditEvent, AuditTrail
from scim_server.services.events import EventFeed, encode_cursor
from scim_server.services.tokens import TokenService
from scim_server.storage.audit import AuditStore
from scim_server.storage.tokens import TokenRepository
from tests.helpers import TOKEN_A, TOKEN_B, ClientFactory, auth

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
EVENT_ID = re.compile(r"[0-9a-f]{24}")


async def feed(client: TestClient[Any, Any], query: str = "", token: str = TOKEN_A) -> tuple[int, Any]:
    response = await client.get(f"/scim/v2/events{query}", headers=auth(token))
    return response.status, await response.json()


async def drain(client: TestClient[Any, Any], cursor: str | None, limit: int = 2) -> tuple[list[Any], str]:
    """Every event after ``cursor``, page by page; the events and the last ``next``."""
    seen: list[Any] = []
    while True:
        query = f"?limit={limit}" + (f"&after={cursor}" if cursor else "")
        status, body = await feed(client, query)
        assert status == 200, body
        seen += body["events"]
        if not body["events"]:
            assert body["next"] == (cursor or body["next"])
            return seen, body["next"]
        cursor = body["next"]


def shape(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its id and time checked for form and taken out."""
    assert EVENT_ID.fullmatch(event["id"]), event
    assert TIME.fullmatch(event["time"]), event
    return {k: v for k, v in event.items() if k not in ("id", "time")}


async def test_every_write_is_an_event_in_commit_order_and_no_value_appears(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/scim/v2/Users",
        json={"userName": "alice", "password": "Sup3r-Secret!", "emails": [{"value": "alice@corp.example"}]},
        headers=auth(),
    )
    user = (await response.json())["id"]
    response = await client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "Staff", "members": [{"value": user}]},
        headers=auth(),
    )
    group = (await response.json())["id"]
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": f'members[value eq "{user}"]'}]}
    assert (await client.patch(f"/scim/v2/Groups/{group}", json=patch, headers=auth())).status == 204
    response = await client.put(
        f"/scim/v2/Users/{user}", json={"userName": "alice", "title": "CTO"}, headers=auth()
    )
    assert response.status == 200
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "name.familyName", "value": "L"}],
    }
    assert (await client.patch(f"/scim/v2/Users/{user}", json=patch, headers=auth())).status == 200
    assert (await client.delete(f"/scim/v2/Users/{user}", headers=auth())).status == 204
    assert (await client.delete(f"/scim/v2/Groups/{group}", headers=auth())).status == 204

    events, _ = await drain(client, None)

    def event(kind: str, rid: str, version: int | None, changed: list[str]) -> dict[str, Any]:
        return {
            "type": kind,
            "organization": "orga",
            "resource": {"type": kind.partition(".")[0], "id": rid, "version": version and f'W/"{version}"'},
            "changed": changed,
            "actor": "bootstrap",
        }

    assert [shape(e) for e in events] == [
        event("User.created", user, 1, ["emails", "password", "userName"]),
        event("Group.created", group, 1, ["displayName", "members"]),
        # A membership change moves the group's and the member's versions twice each (docs/design.md,
        # Membership), and is the group's event only: the user's version is 5 before its own update.
        event("Group.updated", group, 3, ["members"]),
        event("User.updated", user, 6, ["emails", "title"]),
        event("User.updated", user, 7, ["name.familyName"]),
        event("User.deleted", user, None, []),
        event("Group.deleted", group, None, []),
    ]
    assert len({e["id"] for e in events}) == 7
    text = repr(events)
    assert "Sup3r-Secret!" not in text and "alice@corp.example" not in text and "CTO" not in text
    # Another organization's feed is its own.
    assert await feed(client, token=TOKEN_B) == (200, {"events": [], "next": encode_cursor(0)})


async def test_a_read_only_token_may_read_the_feed(client: TestClient[Any, Any], db: Any) -> None:
    _, reader = await TokenService(TokenRepository(db), cache_seconds=0).create(
        "orga", name="d", read_only=True
    )
    await client.post("/scim/v2/Users", json={"userName": "bob"}, headers=auth())

    status, body = await feed(client, token=reader)

    assert status == 200
    assert [e["type"] for e in body["events"]] == ["User.created"]


async def test_a_consumer_keeping_next_sees_each_event_once_across_a_restart(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    first = await aiohttp_client(app_factory())
    for name in ("a", "b", "c"):
        assert (await first.post("/scim/v2/Users", json={"userName": name}, headers=auth())).status == 201
    status, page = await feed(first, "?limit=2")
    assert status == 200 and len(page["events"]) == 2
    seen, cursor = list(page["events"]), page["next"]
    await first.close()  # the server stops; the consumer keeps its cursor

    second = await aiohttp_client(app_factory())
    for name in ("d", "e"):
        assert (await second.post("/scim/v2/Users", json={"userName": name}, headers=auth())).status == 201
    rest, cursor = await drain(second, cursor)
    seen += rest

    users = (await (await second.get("/scim/v2/Users?sortBy=userName", headers=auth())).json())["Resources"]
    assert [e["resource"]["id"] for e in seen] == [u["id"] for u in users]
    assert len({e["id"] for e in seen}) == 5
    assert await feed(second, f"?after={cursor}") == (200, {"events": [], "next": cursor})


async def test_two_instances_on_one_database_are_read_in_one_order(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    one = await aiohttp_client(app_factory())
    two = await aiohttp_client(app_factory())

    async def writer(client: TestClient[Any, Any], prefix: str) -> list[str]:
        ids = []
        for n in range(6):
            response = await client.post("/scim/v2/Users", json={"userName": f"{prefix}{n}"}, headers=auth())
            rid = (await response.json())["id"]
            patch = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "x"}]}
            assert (await client.patch(f"/scim/v2/Users/{rid}", json=patch, headers=auth())).status == 200
            ids.append(rid)
        return ids

    consumed: list[Any] = []
    cursor: str | None = None

    async def consume() -> None:
        nonlocal cursor
        for _ in range(20):
            events, cursor = await drain(one, cursor, limit=3)
            consumed.extend(events)
            await asyncio.sleep(0)

    ids_one, ids_two, _ = await asyncio.gather(writer(one, "one"), writer(two, "two"), consume())
    events, _ = await drain(two, cursor)
    consumed += events

    assert len(consumed) == 24
    assert len({e["id"] for e in consumed}) == 24
    for rid in ids_one + ids_two:
        assert [e["type"] for e in consumed if e["resource"]["id"] == rid] == ["User.created", "User.updated"]
    # Both instances read the same order.
    assert [e["id"] for e in (await drain(one, None, limit=50))[0]] == [e["id"] for e in consumed]
    assert [e["id"] for e in (await drain(two, None, limit=7))[0]] == [e["id"] for e in consumed]


async def test_a_cursor_older_than_the_retention_is_410_gone(client: TestClient[Any, Any], db: Any) -> None:
    store = AuditStore(db)
    trail = AuditTrail(store)
    old = datetime.now(UTC) - timedelta(days=100)
    for n in range(3):
        await trail.record(
            AuditEvent(
                old + timedelta(seconds=n), "orga", "t", "bootstrap", "User", f"u{n}", "create", ("userName",)
            )
        )
    await client.post("/scim/v2/Users", json={"userName": "new"}, headers=auth())
    status, before = await feed(client, "?limit=1")
    assert status == 200 and before["events"][0]["resource"]["id"] == "u0"

    assert await EventFeed(store, retention_days=90, gap_grace_seconds=10).purge() == 3

    status, body = await feed(client, f"?after={before['next']}")
    assert (status, body) == (
        410,
        {
            "schemas": [ERROR],
            "status": "410",
            "detail": "the cursor is older than the retained events (kept 90 days): events after it were "
            "removed; start again without 'after'",
        },
    )
    status, body = await feed(client)
    assert status == 200 and [e["resource"]["id"] for e in body["events"]] != ["u1"]
    assert [e["type"] for e in body["events"]] == ["User.created"]
    # The cursor at the purge watermark is still good: nothing after it was removed.
    assert (await feed(client, f"?after={encode_cursor(3)}"))[1]["events"] == body["events"]


async def test_a_bad_cursor_or_limit_is_a_scim_400(client: TestClient[Any, Any]) -> None:
    for query, detail in [
        ("?after=nonsense", "'after' is not a cursor this server issued (use the 'next' of a feed answer)"),
        (f"?after={encode_cursor(5)}", "'after' is ahead of every event (a cursor of another organization?)"),
        ("?limit=0", "'limit' must be a whole number from 1 to 1000"),
        ("?limit=1001", "'limit' must be a whole number from 1 to 1000"),
        ("?limit=x", "'limit' must be a whole number from 1 to 1000"),
    ]:
        assert await feed(client, query) == (
            400,
            {"schemas": [ERROR], "status": "400", "scimType": "invalidValue", "detail": detail},
        ), query


async def test_the_feed_needs_the_organizations_token(client: TestClient[Any, Any]) -> None:
    response = await client.get("/scim/v2/events")
    assert response.status == 401
