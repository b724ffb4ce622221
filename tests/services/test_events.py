"""The event feed's commit order: a contiguous run of sequence numbers, gaps waited for, then given up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from scim_server.errors import InvalidValueError
from scim_server.services.audit import AuditEvent, AuditTrail
from scim_server.services.events import EventFeed, decode_cursor, encode_cursor, render_event
from scim_server.storage.audit import SEQUENCES_COLLECTION, AuditStore
from scim_server.storage.client import embedded_client

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def db() -> Any:
    return embedded_client()["scim"]


def event(resource_id: str, operation: str = "create") -> AuditEvent:
    return AuditEvent(NOW, "acme", "tok", "okta", "User", resource_id, operation, ("userName",), version=1)


async def test_a_number_taken_but_not_yet_written_holds_the_feed_back_until_it_is(db: Any) -> None:
    store = AuditStore(db)
    trail = AuditTrail(store)
    feed = EventFeed(store, retention_days=90, gap_grace_seconds=10)
    await trail.record(event("u1"))
    # A writer in another process takes number 2 and has not inserted its event yet...
    await db[SEQUENCES_COLLECTION].update_one({"_id": "acme"}, {"$inc": {"last": 1}})
    # ...while number 3 is written.
    await trail.record(event("u3"))

    page = await feed.page("acme", None, 10)
    assert [e["resource"]["id"] for e in page.events] == ["u1"]
    assert page.next == encode_cursor(1)

    await db["org_acme_audit"].insert_one({"_id": ObjectId(), "seq": 2, **event("u2").to_document()})
    page = await feed.page("acme", page.next, 10)
    assert [e["resource"]["id"] for e in page.events] == ["u2", "u3"]
    assert page.next == encode_cursor(3)


async def test_a_number_missing_for_longer_than_the_grace_period_is_given_up(db: Any) -> None:
    store = AuditStore(db)
    trail = AuditTrail(store)
    await trail.record(event("u1"))
    await db[SEQUENCES_COLLECTION].update_one({"_id": "acme"}, {"$inc": {"last": 1}})  # never written
    await trail.record(event("u3"))

    soon = EventFeed(store, retention_days=90, gap_grace_seconds=10, wall_clock=lambda: datetime.now(UTC))
    later = EventFeed(
        store,
        retention_days=90,
        gap_grace_seconds=10,
        wall_clock=lambda: datetime.now(UTC) + timedelta(seconds=11),
    )
    assert [d["seq"] for d in await soon.after("acme", 0, 10)] == [1]
    assert [d["seq"] for d in await later.after("acme", 0, 10)] == [1, 3]
    assert [d["seq"] for d in await later.after("acme", 1, 10)] == [3]


async def test_render_names_the_change_and_nothing_else() -> None:
    doc = {"_id": ObjectId("6b131066b25af215d73655b7"), "seq": 9, **event("u1", "restore").to_document()}

    assert render_event(doc) == {
        "id": "6b131066b25af215d73655b7",
        "type": "User.restored",
        "time": "2026-11-03T12:00:00.000Z",
        "organization": "acme",
        "resource": {"type": "User", "id": "u1", "version": 'W/"1"'},
        "changed": ["userName"],
        "actor": "okta",
    }


@pytest.mark.parametrize("seq", [0, 1, 7, 10**17])
def test_a_cursor_round_trips(seq: int) -> None:
    assert decode_cursor(encode_cursor(seq)) == seq


@pytest.mark.parametrize("cursor", ["", "ZXYxOg", "ZXYxOi0x", "eyJzIjo1fQ", "!!", encode_cursor(1)[:-1]])
def test_a_cursor_the_server_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidValueError):
        decode_cursor(cursor)


async def test_purging_is_bounded_per_pass_and_raises_the_watermark_first(db: Any) -> None:
    store = AuditStore(db)
    trail = AuditTrail(store)
    for n in range(5):
        await trail.record(event(f"u{n}"))
    feed = EventFeed(store, retention_days=1, gap_grace_seconds=10, clock=lambda: NOW + timedelta(days=2))

    assert await feed.purge(batch=2) == 2
    assert (await (await store.events("acme")).sequence()).purged == 2
    assert await feed.purge(batch=10) == 3
    assert await db[SEQUENCES_COLLECTION].find_one({"_id": "acme"}) == {"_id": "acme", "last": 5, "purged": 5}
    assert await feed.purge() == 0


async def test_records_from_before_sequence_numbers_are_not_in_the_feed_and_age_out(db: Any) -> None:
    store = AuditStore(db)
    await (await store.events("acme")).insert(event("u1").to_document())
    await db["org_acme_audit"].insert_one({"_id": ObjectId(), **event("legacy").to_document()})
    feed = EventFeed(store, retention_days=1, gap_grace_seconds=10, clock=lambda: NOW + timedelta(days=2))

    assert [e["resource"]["id"] for e in (await feed.page("acme", None, 10)).events] == ["u1"]
    assert await feed.purge() == 2
    assert await db["org_acme_audit"].count_documents({}) == 0
