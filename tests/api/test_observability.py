"""The access log, request ids, /readyz, and database outages answered 503 then recovered."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from scim_server.api import observability
from scim_server.api.observability import guess_idp, request_id_from
from scim_server.errors import ERROR_SCHEMA
from scim_server.logs import FIELDS, JsonFormatter, TextFormatter
from scim_server.storage.repository import ResourceRepository
from tests.helpers import TOKEN_A, TOKEN_B, ClientFactory, auth

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "scim_server.access"]


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, FIELDS))
    assert isinstance(fields.pop("duration_ms"), float)
    return fields


async def create_user(client: TestClient[Any, Any], user_name: str = "bjensen@example.com") -> str:
    response = await client.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": user_name}, headers=auth()
    )
    assert response.status == 201
    user_id: str = (await response.json())["id"]
    return user_id


@pytest.mark.parametrize(
    ("user_agent", "idp"),
    [
        ("Okta SCIM Client 1.0.0", "okta"),
        ("Microsoft.Identity.Provisioning/1.0", "entra"),
        ("Azure AD SCIM client", "entra"),
        ("OneLogin SCIM", "onelogin"),
        ("PingFederate/11.2", "ping"),
        ("PingOne-Provisioner", "ping"),
        ("JumpCloud SCIM Client", "jumpcloud"),
        ("Google-Workspace-Provisioning", "google"),
        ("curl/8.5.0", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
async def test_the_idp_is_guessed_from_the_user_agent(user_agent: str | None, idp: str) -> None:
    assert guess_idp(user_agent) == idp


@pytest.mark.parametrize("header", ["abc", "A.b_c-1", "x" * 64, "0f8fad5b-d9cb-469f-a165-70867728950e"])
async def test_a_short_safe_request_id_is_kept(header: str) -> None:
    assert request_id_from(header) == header


@pytest.mark.parametrize("header", [None, "", "x" * 65, "a b", "a\nb", "id;drop", "é", "<script>"])
async def test_any_other_request_id_is_replaced_by_a_new_one(header: str | None) -> None:
    new = request_id_from(header)

    assert new != header and len(new) == 32 and new.isalnum()


async def test_each_request_gets_one_access_line_with_the_route_template(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    user_id = await create_user(client)
    caplog.set_level(logging.INFO, logger="scim_server.access")
    caplog.clear()

    response = await client.get(
        f"/scim/v2/Users/{user_id}?attributes=emails",
        headers={**auth(), "User-Agent": "Okta SCIM Client 1.0.0", "X-Request-Id": "okta-req.42"},
    )

    assert response.status == 200
    assert response.headers["X-Request-Id"] == "okta-req.42"
    [record] = access_records(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage() == "GET /scim/v2/Users/{id} 200"
    assert fields_of(record) == {
        "request_id": "okta-req.42",
        "org": "orga",
        "token_name": "bootstrap",
        "idp": "okta",
        "method": "GET",
        "route": "/scim/v2/Users/{id}",
        "status": 200,
    }
    assert user_id not in JsonFormatter().format(record)
    assert "attributes" not in JsonFormatter().format(record)


async def test_errors_and_unauthenticated_requests_are_logged_with_their_status(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scim_server.access")

    anonymous = await client.get("/scim/v2/Users?filter=userName%20eq%20%22bjensen@example.com%22")
    unknown = await client.get("/scim/v2/Users/bjensen@example.com", headers=auth(TOKEN_B))
    unrouted = await client.delete("/nowhere/bjensen@example.com", headers={"X-Request-Id": "bad id!"})

    assert [anonymous.status, unknown.status, unrouted.status] == [401, 404, 404]
    records = access_records(caplog)
    assert [fields_of(r) for r in records] == [
        {
            "request_id": anonymous.headers["X-Request-Id"],
            "org": None,
            "token_name": None,
            "idp": "unknown",
            "method": "GET",
            "route": "/scim/v2/Users",
            "status": 401,
        },
        {
            "request_id": unknown.headers["X-Request-Id"],
            "org": "orgb",
            "token_name": "bootstrap",
            "idp": "unknown",
            "method": "GET",
            "route": "/scim/v2/Users/{id}",
            "status": 404,
        },
        {
            "request_id": unrouted.headers["X-Request-Id"],
            "org": None,
            "token_name": None,
            "idp": "unknown",
            "method": "DELETE",
            "route": "unmatched",
            "status": 404,
        },
    ]
    assert unrouted.headers["X-Request-Id"] != "bad id!"
    assert len({r.headers["X-Request-Id"] for r in (anonymous, unknown, unrouted)}) == 3
    for record in records:
        assert "bjensen" not in JsonFormatter().format(record)
        assert "bjensen" not in TextFormatter().format(record)


async def test_probes_are_logged_at_debug(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scim_server.access")

    for path in ("/healthz", "/readyz", "/metrics", "/scim/v2/ServiceProviderConfig"):
        await client.get(path, headers=auth())

    assert [(r.getMessage(), r.levelno) for r in access_records(caplog)] == [
        ("GET /healthz 200", logging.DEBUG),
        ("GET /readyz 200", logging.DEBUG),
        ("GET /metrics 200", logging.DEBUG),
        ("GET /scim/v2/ServiceProviderConfig 200", logging.INFO),
    ]


async def test_an_unexpected_error_is_logged_with_the_request_id_and_route_not_the_path(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: ResourceRepository, resource_id: str, **_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ResourceRepository, "get", broken)
    caplog.set_level(logging.INFO)

    response = await client.get(
        "/scim/v2/Users/bjensen@example.com", headers={**auth(), "X-Request-Id": "req-500"}
    )

    assert response.status == 500
    [error] = [r for r in caplog.records if r.name == "scim_server" and r.exc_info]
    assert error.getMessage() == "unhandled error on GET /scim/v2/Users/{id}"
    line = JsonFormatter().format(error)
    assert '"exception":"Traceback' in line and "boom" in line and "bjensen" not in line
    [access] = access_records(caplog)
    assert fields_of(access)["status"] == 500 and fields_of(access)["request_id"] == "req-500"


async def test_readyz_answers_ready_when_the_database_answers(client: TestClient[Any, Any]) -> None:
    response = await client.get("/readyz")

    assert response.status == 200
    assert await response.json() == {"status": "ready"}


async def test_readyz_answers_503_while_the_database_fails_and_recovers_with_it(
    client: TestClient[Any, Any], db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError("db:27017: [Errno 111] Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(db, "command", unreachable)
        down = await client.get("/readyz")
    up = await client.get("/readyz")

    assert down.status == 503
    assert down.headers["Content-Type"] == "application/scim+json; charset=utf-8"
    assert await down.json(content_type=None) == {
        "schemas": [ERROR_SCHEMA],
        "status": "503",
        "detail": "the database cannot be reached",
    }
    assert up.status == 200


async def test_readyz_answers_503_when_the_ping_hangs(
    client: TestClient[Any, Any], db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hanging(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(observability, "READINESS_TIMEOUT_SECONDS", 0.05)
    monkeypatch.setattr(db, "command", hanging)

    response = await asyncio.wait_for(client.get("/readyz"), 5)

    assert response.status == 503
    assert (await response.json(content_type=None))["detail"] == "the database did not answer in time"


async def test_a_request_during_a_database_outage_gets_503_and_succeeds_after_it(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = await create_user(client)
    original = ResourceRepository.get

    async def reconnecting(self: ResourceRepository, resource_id: str, **options: Any) -> Any:
        # The driver fails inside the repository's translation of driver errors, as motor does.
        collection = self._collection

        async def failing_find_one(*args: Any, **kwargs: Any) -> Any:
            raise AutoReconnect("db:27017: connection closed")

        self._collection = type("Down", (), {"find_one": staticmethod(failing_find_one)})()
        try:
            return await original(self, resource_id, **options)
        finally:
            self._collection = collection

    with monkeypatch.context() as patch:
        patch.setattr(ResourceRepository, "get", reconnecting)
        during = await client.get(f"/scim/v2/Users/{user_id}", headers=auth())
    after = await client.get(f"/scim/v2/Users/{user_id}", headers=auth())

    assert during.status == 503
    assert await during.json(content_type=None) == {
        "schemas": [ERROR_SCHEMA],
        "status": "503",
        "detail": "the database is unavailable; retry later",
    }
    assert after.status == 200
    assert (await after.json())["id"] == user_id


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN_A}",
        "Bearer wrong-token-0123456789",
        "Bearer two words-secret-987",
        "Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3N3b3Jk",
        "bearer",
        "Bearer " + "s" * 600,
    ],
)
async def test_no_log_record_carries_a_token_its_hash_or_the_authorization_header(
    aiohttp_client: ClientFactory,
    app_factory: Callable[..., web.Application],
    caplog: pytest.LogCaptureFixture,
    authorization: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await aiohttp_client(app_factory(rate_limit_per_second=1, rate_limit_burst=2))
    headers = {"Authorization": authorization, "Content-Type": "application/scim+json"}

    for _ in range(3):  # the third is over the rate limit when the token is valid
        await client.get("/scim/v2/Users", headers=headers)
    await client.post("/scim/v2/Users", json={"schemas": [USER], "userName": "a@x"}, headers=headers)
    await client.get("/scim/v2/Users/x?filter=bad", headers=headers)
    await client.get("/metrics", headers=headers)
    await client.get("/readyz", headers=headers)

    secrets = authorization.split()[1:]
    forbidden = {*secrets, authorization} if secrets else set()
    if secrets:
        forbidden |= {hashlib.sha256(s.encode()).hexdigest() for s in (*forbidden, " ".join(secrets))}
    records = caplog.records
    assert any(r.name == "scim_server.access" for r in records)
    for record in records:
        rendered = [
            record.getMessage(),
            repr(record.args),
            repr(record.__dict__),
            JsonFormatter().format(record),
            TextFormatter().format(record),
        ]
        for text in rendered:
            for value in forbidden:
                assert value not in text, (record.name, record.getMessage())
