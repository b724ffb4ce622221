"""The webhook dispatcher with a fake clock and sender: backoff, leases, giving up, resuming."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scim_server.services.audit import AuditEvent, AuditTrail
from scim_server.services.events import EventFeed
from scim_server.services.organizations import OrganizationsRegistry
from scim_server.services.webhooks import WebhookDispatcher, backoff_seconds, sign
from scim_server.storage.audit import AuditStore, DeliveryStateStore
from scim_server.storage.client import embedded_client

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


class Sender:
    """Answers with the next scripted outcome (None: 2xx), then success; records every call."""

    def __init__(self, *outcomes: str | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, dict[str, str], bytes]] = []

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes, seconds: float) -> str | None:
        self.calls.append((url, dict(headers), body))
        return self.outcomes.pop(0) if self.outcomes else None


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db() -> Any:
    return embedded_client()["scim"]


def registry(tmp_path: Path) -> OrganizationsRegistry:
    path = tmp_path / "organizations.toml"
    path.write_text(f'[[organizations.acme.webhooks]]\nurl = "https://h.example/in"\nsecret = "{SECRET}"\n')
    return OrganizationsRegistry(path)


class World:
    def __init__(self, db: Any, tmp_path: Path) -> None:
        self.store = AuditStore(db)
        self.trail = AuditTrail(self.store)
        self.feed = EventFeed(self.store, retention_days=90, gap_grace_seconds=10)
        self.state = DeliveryStateStore(db)
        self.organizations = registry(tmp_path)
        self.clock = Clock()
        self.outcomes: list[tuple[str, str]] = []

    def dispatcher(self, sender: Sender, *, retry_hours: float = 1.0) -> WebhookDispatcher:
        return WebhookDispatcher(
            self.state,
            self.feed,
            self.organizations,
            sender,
            retry_hours=retry_hours,
            backoff_seconds=10,
            timeout_seconds=5,
            observe=lambda org, outcome: self.outcomes.append((org, outcome)),
            now=self.clock,
            draw=lambda: 0.0,
        )

    async def write(self, resource_id: str) -> None:
        await self.trail.record(
            AuditEvent(NOW, "acme", "t", "okta", "User", resource_id, "create", ("userName",))
        )


def test_backoff_doubles_from_the_base_with_jitter_and_stops_at_an_hour() -> None:
    assert [backoff_seconds(10, n, 0.0) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert [backoff_seconds(10, n, 0.999999) for n in (1, 2)] == pytest.approx([10.0, 20.0])
    assert backoff_seconds(10, 40, 0.0) == 1800.0
    assert backoff_seconds(10, 10_000, 1.0) == 3600.0


def test_the_signature_is_the_standard_webhooks_hmac() -> None:
    # The Standard Webhooks specification's example: secret, id, timestamp, payload and signature.
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


async def test_a_new_webhook_starts_after_the_existing_events(db: Any, tmp_path: Path) -> None:
    world = World(db, tmp_path)
    await world.write("old")
    sender = Sender()
    dispatcher = world.dispatcher(sender)

    assert await dispatcher.deliver_pending() == 0
    await world.write("new")
    assert await dispatcher.deliver_pending() == 1

    [(url, headers, body)] = sender.calls
    assert url == "https://h.example/in"
    assert json.loads(body)["resource"] == {"type": "User", "id": "new", "version": None}
    assert set(headers) == {"content-type", "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-timestamp"] == "1800000000"


async def test_a_failure_waits_for_its_backoff_then_the_same_event_is_retried(
    db: Any, tmp_path: Path
) -> None:
    world = World(db, tmp_path)
    sender = Sender("HTTP 503", "timeout")
    dispatcher = world.dispatcher(sender)
    await dispatcher.deliver_pending()  # registers the webhook
    await world.write("a")
    await world.write("b")

    assert await dispatcher.deliver_pending() == 0  # 503: retry in 5 s
    world.clock.now += 4.9
    assert await dispatcher.deliver_pending() == 0
    assert len(sender.calls) == 1
    world.clock.now += 0.1
    assert await dispatcher.deliver_pending() == 0  # timeout: retry in 10 s
    world.clock.now += 10
    assert await dispatcher.deliver_pending() == 2

    ids = [headers["webhook-id"] for _, headers, _ in sender.calls]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert world.outcomes == [
        ("acme", "failed"),
        ("acme", "failed"),
        ("acme", "delivered"),
        ("acme", "delivered"),
    ]


async def test_an_event_is_given_up_after_the_retry_period(
    db: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(db, tmp_path)
    sender = Sender(*["HTTP 500"] * 100)
    dispatcher = world.dispatcher(sender, retry_hours=1 / 60)  # one minute
    await dispatcher.deliver_pending()
    await world.write("a")

    for _ in range(8):
        await dispatcher.deliver_pending()
        world.clock.now += 20

    assert world.outcomes.count(("acme", "abandoned")) == 1
    assert world.outcomes[-1] == ("acme", "abandoned")
    state = await db["webhook_deliveries"].find_one({})
    assert (state["after"], state["attempts"], state["firstFailure"]) == (1, 0, None)
    assert "given up" in caplog.text and SECRET[6:] not in caplog.text


async def test_only_the_lease_holder_delivers_until_its_lease_expires(db: Any, tmp_path: Path) -> None:
    world = World(db, tmp_path)
    first, second = Sender(), Sender()
    one, two = world.dispatcher(first), world.dispatcher(second)
    await one.deliver_pending()
    await world.write("a")
    # A process took the lease and died without releasing it.
    key = (await db["webhook_deliveries"].find_one({}))["_id"]
    await db["webhook_deliveries"].update_one(
        {"_id": key}, {"$set": {"owner": "dead", "leaseUntil": world.clock.now + 35}}
    )

    assert await one.deliver_pending() == 0 and await two.deliver_pending() == 0
    world.clock.now += 36
    assert await two.deliver_pending() == 1
    assert (len(first.calls), len(second.calls)) == (0, 1)
    state = await db["webhook_deliveries"].find_one({"_id": key})
    assert (state["after"], state["owner"], state["leaseUntil"]) == (1, None, 0.0)


class StallingRelease(DeliveryStateStore):
    """Holds the release of a lease until ``go`` is set; ``releasing`` tells that it began."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.releasing = asyncio.Event()
        self.go = asyncio.Event()

    async def update(self, key: str, owner: str, fields: Mapping[str, Any]) -> bool:
        if "owner" in fields and fields["owner"] is None:
            self.releasing.set()
            await self.go.wait()
        return await super().update(key, owner, fields)


async def test_a_pass_cancelled_while_it_releases_the_lease_still_releases_it(
    db: Any, tmp_path: Path
) -> None:
    world = World(db, tmp_path)
    await world.dispatcher(Sender()).deliver_pending()  # registers the webhook
    await world.write("a")
    stalling = world.state = StallingRelease(db)
    stopping = asyncio.create_task(world.dispatcher(Sender("HTTP 503")).deliver_pending())
    await stalling.releasing.wait()
    stopping.cancel()  # the server stops while the pass gives the lease up
    stalling.go.set()
    with pytest.raises(asyncio.CancelledError):
        await stopping

    world.state = DeliveryStateStore(db)
    world.clock.now += 5  # the failed attempt's backoff
    sender = Sender()
    assert await world.dispatcher(sender).deliver_pending() == 1  # another process, at once
    assert [json.loads(body)["resource"]["id"] for _, _, body in sender.calls] == ["a"]
