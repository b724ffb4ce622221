"""Webhooks end to end: a receiver on 127.0.0.1 verifying Standard Webhooks signatures on its own."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.helpers import ClientFactory, auth

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
WAIT_SECONDS = 15.0

ServerFactory = Callable[..., Awaitable[TestServer]]


def verify(secret: str, headers: Any, body: bytes) -> bool:
    """Standard Webhooks verification as a consumer writes it, independent of the server's code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, _, signature in (part.partition(",") for part in headers["webhook-signature"].split())
    )


@dataclass
class Receiver:
    """Answers 500 to its first ``failures`` requests, then 204; keeps what it accepted."""

    failures: int = 0
    requests: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    fail_ids: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if not verify(SECRET, request.headers, body):
            self.bad_signatures += 1
            return web.Response(status=401)
        event = json.loads(body)
        assert request.headers["webhook-id"] == event["id"]
        if self.requests <= self.failures or event["resource"]["id"] in self.fail_ids:
            return web.Response(status=500)
        self.accepted.append(event)
        return web.Response(status=204)


async def start_receiver(aiohttp_server: ServerFactory, receiver: Receiver) -> str:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("/hook"))


def organizations_file(tmp_path: Path, *urls: str) -> str:
    path = tmp_path / "organizations.toml"
    path.write_text(
        "".join(f'[[organizations.orga.webhooks]]\nurl = "{url}"\nsecret = "{SECRET}"\n' for url in urls),
        encoding="utf-8",
    )
    return str(path)


FAST = {"webhook_poll_seconds": 0.02, "webhook_backoff_seconds": 0.02}


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def webhook_registered(db: Any) -> None:
    """A new webhook starts after the events that exist when the server first sees it: wait for that."""
    deadline = time.monotonic() + WAIT_SECONDS
    while await db["webhook_deliveries"].count_documents({}) == 0:
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def feed_events(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    response = await client.get("/scim/v2/events?limit=100", headers=auth())
    return list((await response.json())["events"])


async def write_some(client: TestClient[Any, Any], prefix: str = "") -> None:
    ids = []
    for name in ("alice", "bob"):
        response = await client.post("/scim/v2/Users", json={"userName": prefix + name}, headers=auth())
        ids.append((await response.json())["id"])
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "x"}]}
    assert (await client.patch(f"/scim/v2/Users/{ids[0]}", json=patch, headers=auth())).status == 200
    assert (await client.delete(f"/scim/v2/Users/{ids[1]}", headers=auth())).status == 204


async def test_every_event_is_posted_signed_in_commit_order(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    app_factory: Callable[..., web.Application],
    tmp_path: Path,
    db: Any,
) -> None:
    receiver = Receiver()
    url = await start_receiver(aiohttp_server, receiver)
    client = await aiohttp_client(app_factory(organizations_file=organizations_file(tmp_path, url), **FAST))
    await webhook_registered(db)

    await write_some(client)

    await until(lambda: len(receiver.accepted) == 4)
    assert receiver.accepted == await feed_events(client)
    assert [e["type"] for e in receiver.accepted] == [
        "User.created",
        "User.created",
        "User.updated",
        "User.deleted",
    ]
    assert (receiver.requests, receiver.bad_signatures) == (4, 0)
    metrics = await (await client.get("/metrics")).text()
    assert 'scim_webhook_deliveries_total{outcome="delivered"} 4' in metrics.splitlines()


def test_the_verification_recipe_rejects_a_changed_body_or_another_key() -> None:
    from scim_server.services.webhooks import sign

    key = base64.b64decode(SECRET.split("_", 1)[1])
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time()))}
    headers["webhook-signature"] = sign(key, "msg_1", headers["webhook-timestamp"], b'{"a":1}')

    assert verify(SECRET, headers, b'{"a":1}')
    assert not verify(SECRET, headers, b'{"a":2}')
    assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, b'{"a":1}')
    assert not verify(SECRET, {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}, b'{"a":1}')


async def test_a_receiver_failing_five_times_then_gets_every_event_in_order(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    app_factory: Callable[..., web.Application],
    tmp_path: Path,
    db: Any,
) -> None:
    receiver = Receiver(failures=5)
    url = await start_receiver(aiohttp_server, receiver)
    client = await aiohttp_client(app_factory(organizations_file=organizations_file(tmp_path, url), **FAST))
    await webhook_registered(db)

    await write_some(client)

    await until(lambda: len(receiver.accepted) == 4)
    assert receiver.accepted == await feed_events(client)
    assert receiver.requests == 9
    lines = (await (await client.get("/metrics")).text()).splitlines()
    assert 'scim_webhook_deliveries_total{outcome="delivered"} 4' in lines
    assert 'scim_webhook_deliveries_total{outcome="failed"} 5' in lines


async def test_an_event_failing_past_the_retry_period_is_given_up_logged_and_the_next_follows(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    app_factory: Callable[..., web.Application],
    tmp_path: Path,
    db: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = Receiver()
    url = await start_receiver(aiohttp_server, receiver)
    settings = {**FAST, "webhook_retry_hours": 0.0001}  # 0.36 s
    client = await aiohttp_client(
        app_factory(organizations_file=organizations_file(tmp_path, url), **settings)
    )
    await webhook_registered(db)
    response = await client.post("/scim/v2/Users", json={"userName": "doomed"}, headers=auth())
    doomed = (await response.json())["id"]
    receiver.fail_ids.add(doomed)

    with caplog.at_level(logging.INFO, logger="scim_server.webhooks"):
        await client.post("/scim/v2/Users", json={"userName": "fine"}, headers=auth())
        await until(lambda: len(receiver.accepted) == 1)

    events = await feed_events(client)
    assert receiver.accepted == events[1:]
    [given_up] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert given_up.levelno == logging.ERROR
    message = given_up.getMessage()
    assert message.startswith(
        f"webhook delivery given up: event {events[0]['id']} (User.created {doomed}) of organization orga "
        f"to {url} after "
    )
    assert message.endswith("attempts over 0.0001 hours: HTTP 500")
    assert SECRET not in caplog.text and SECRET[6:] not in caplog.text
    lines = (await (await client.get("/metrics")).text()).splitlines()
    assert 'scim_webhook_deliveries_total{outcome="abandoned"} 1' in lines


async def test_delivery_state_is_in_the_store_so_a_restart_resumes(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    app_factory: Callable[..., web.Application],
    tmp_path: Path,
    db: Any,
) -> None:
    receiver = Receiver(failures=10**6)
    url = await start_receiver(aiohttp_server, receiver)
    path = organizations_file(tmp_path, url)
    first = await aiohttp_client(app_factory(organizations_file=path, **FAST))
    await webhook_registered(db)
    await write_some(first)
    await until(lambda: receiver.requests >= 2)
    await first.close()
    assert receiver.accepted == []

    receiver.failures = 0
    second = await aiohttp_client(app_factory(organizations_file=path, **FAST))

    await until(lambda: len(receiver.accepted) == 4)
    assert receiver.accepted == await feed_events(second)


async def test_two_instances_deliver_each_event_once_in_order(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    app_factory: Callable[..., web.Application],
    tmp_path: Path,
    db: Any,
) -> None:
    receiver = Receiver()
    url = await start_receiver(aiohttp_server, receiver)
    path = organizations_file(tmp_path, url)
    one = await aiohttp_client(app_factory(organizations_file=path, **FAST))
    two = await aiohttp_client(app_factory(organizations_file=path, **FAST))
    await webhook_registered(db)

    await asyncio.gather(write_some(one, "one-"), write_some(two, "two-"))

    await until(lambda: len(receiver.accepted) == 8)
    await asyncio.sleep(0.2)  # nothing more arrives
    assert receiver.accepted == await feed_events(one)
    assert receiver.requests == 8


async def test_an_unreachable_receiver_neither_fails_nor_slows_scim_writes(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], tmp_path: Path, db: Any
) -> None:
    path = organizations_file(tmp_path, "http://127.0.0.1:9/hook")
    client = await aiohttp_client(app_factory(organizations_file=path, **FAST))
    await webhook_registered(db)

    started = time.monotonic()
    for n in range(5):
        response = await client.post("/scim/v2/Users", json={"userName": f"u{n}"}, headers=auth())
        assert response.status == 201
    assert time.monotonic() - started < 2
    deadline = time.monotonic() + WAIT_SECONDS
    while (state := await db["webhook_deliveries"].find_one({}))["attempts"] < 2:
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
    assert state["after"] == 0  # the first event is being retried
    lines = (await (await client.get("/metrics")).text()).splitlines()
    assert any(line.startswith('scim_webhook_deliveries_total{outcome="failed"}') for line in lines)
