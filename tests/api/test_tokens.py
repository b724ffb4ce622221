"""Tokens over HTTP: read-only scope, rotation while serving, last-used times flushed by the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.services.tokens import TokenService, hash_token
from scim_server.storage.tokens import TOKENS_COLLECTION, TokenRepository
from tests.helpers import TOKEN_A, ClientFactory, auth

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def operator(db: Any) -> TokenService:
    """The ``scim-server tokens`` commands, against the app's database."""
    return TokenService(TokenRepository(db), cache_seconds=0)


async def test_a_read_only_token_may_read_and_search_but_every_write_is_403(
    client: TestClient[Any, Any], db: Any
) -> None:
    created = await client.post("/scim/v2/Users", json={"userName": "alice"}, headers=auth())
    user = await created.json()
    created = await client.post(
        "/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "G"}, headers=auth()
    )
    group = await created.json()
    _, reader = await operator(db).create("orga", name="dashboard", read_only=True)
    patch = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}
    writes = [
        ("POST", "/Users", {"userName": "bob"}),
        ("PUT", f"/Users/{user['id']}", {"userName": "alice2"}),
        ("PATCH", f"/Users/{user['id']}", patch),
        ("DELETE", f"/Users/{user['id']}", None),
        ("POST", "/Groups", {"schemas": [GROUP], "displayName": "H"}),
        ("PUT", f"/Groups/{group['id']}", {"schemas": [GROUP], "displayName": "H"}),
        (
            "PATCH",
            f"/Groups/{group['id']}",
            {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "members"}]},
        ),
        ("DELETE", f"/Groups/{group['id']}", None),
    ]
    reads = [
        ("GET", "/Users", None),
        ("GET", f"/Users/{user['id']}", None),
        ("POST", "/Users/.search", {"filter": 'userName eq "alice"'}),
        ("GET", "/Groups", None),
        ("GET", f"/Groups/{group['id']}", None),
        ("POST", "/Groups/.search", {}),
    ]

    for method, path, body in writes:
        response = await client.request(method, "/scim/v2" + path, json=body, headers=auth(reader))
        assert response.status == 403, (method, path)
        assert await response.json() == {
            "schemas": [ERROR],
            "status": "403",
            "detail": "this token is read-only",
        }
    statuses = []
    for method, path, body in reads:
        response = await client.request(method, "/scim/v2" + path, json=body, headers=auth(reader))
        statuses.append((method, path, response.status))

    assert statuses == [(method, path, 200) for method, path, _ in reads]
    # Nothing was written: the user and group are as they were.
    response = await client.get(f"/scim/v2/Users/{user['id']}", headers=auth())
    assert await response.json() == user
    response = await client.get('/scim/v2/Users?filter=userName eq "bob"', headers=auth())
    assert (await response.json())["totalResults"] == 0


async def test_a_rotated_token_and_its_predecessor_both_work_during_the_grace_period(
    client: TestClient[Any, Any], db: Any
) -> None:
    tokens = operator(db)
    old, old_token = await tokens.create("orga", name="entra")
    rotation = await tokens.rotate(old.id)
    assert rotation is not None

    for token in (old_token, rotation.token):
        response = await client.get("/scim/v2/Users", headers=auth(token))
        assert response.status == 200


async def test_the_app_flushes_last_used_times_at_shutdown(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], db: Any
) -> None:
    app = app_factory()
    client = await aiohttp_client(app)
    for _ in range(5):
        response = await client.get("/scim/v2/Users", headers=auth())
        assert response.status == 200
    token = await db[TOKENS_COLLECTION].find_one({"hash": hash_token(TOKEN_A)})
    assert "lastUsed" not in token  # not written per request (the flush interval is a minute)

    await client.close()

    token = await db[TOKENS_COLLECTION].find_one({"hash": hash_token(TOKEN_A)})
    assert token["lastUsed"] is not None
    listed = {r.id: r.last_used for r in await operator(db).list("orga")}
    assert listed[token["_id"]] == token["lastUsed"]


async def test_the_app_flushes_last_used_times_periodically(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], db: Any
) -> None:
    client = await aiohttp_client(app_factory(token_last_used_flush_seconds=0.01))
    response = await client.get("/scim/v2/Users", headers=auth())
    assert response.status == 200

    for _ in range(300):
        token = await db[TOKENS_COLLECTION].find_one({"hash": hash_token(TOKEN_A)})
        if token.get("lastUsed") is not None:
            break
        await asyncio.sleep(0.01)
    assert token.get("lastUsed") is not None


async def test_no_token_or_authorization_header_reaches_a_log_line(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    secrets = [TOKEN_A, "scim_not-a-registered-token", "dXNlcjpwYXNz"]
    with caplog.at_level(logging.DEBUG):
        await client.get("/scim/v2/Users", headers=auth())
        await client.post("/scim/v2/Users", json={"userName": "x"}, headers=auth())
        await client.get("/scim/v2/Users", headers=auth("scim_not-a-registered-token"))
        await client.get("/scim/v2/Users", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        await client.get("/scim/v2/Users", headers={"Authorization": "Bearer a b c"})

    text = caplog.text
    for secret in [*secrets, *(hash_token(s) for s in secrets)]:
        assert secret not in text


async def test_a_token_of_bytes_that_are_not_utf8_is_401_not_500(client: TestClient[Any, Any]) -> None:
    assert client.server.host is not None and client.server.port is not None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        b"GET /scim/v2/Users HTTP/1.1\r\nHost: scim.test\r\n"
        b"Authorization: Bearer scim_\xff\xfe-token\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()

    assert response.startswith(b"HTTP/1.1 401 ")
    assert b"the bearer token is invalid, expired or revoked" in response
