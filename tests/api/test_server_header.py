"""Every response names the server as ``scim-server``, with no version of aiohttp or Python."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import auth

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "server@example.com"}


async def test_every_kind_of_response_says_server_scim_server(client: TestClient[Any, Any]) -> None:
    created = await client.post("/scim/v2/Users", json=USER, headers=auth())
    location = f"/scim/v2/Users/{(await created.json())['id']}"
    responses = {
        "created": created,
        "read": await client.get(location, headers=auth()),
        "not modified": await client.get(
            location, headers={**auth(), "If-None-Match": created.headers["ETag"]}
        ),
        "health": await client.get("/healthz"),
        "metrics": await client.get("/metrics"),
        "docs": await client.get("/docs"),
        "static asset": await client.get("/docs/static/swagger-ui.css"),
        "no token": await client.get("/scim/v2/Users"),
        "unknown resource": await client.get("/scim/v2/Users/no-such-id", headers=auth()),
        "unknown path": await client.get("/no/such/path"),
        "wrong method": await client.put("/healthz"),
        "bad body": await client.post("/scim/v2/Users", data=b"{", headers=auth()),
        "deleted": await client.delete(location, headers=auth()),
    }

    statuses = {name: response.status for name, response in responses.items()}
    assert statuses == {
        "created": 201,
        "read": 200,
        "not modified": 304,
        "health": 200,
        "metrics": 200,
        "docs": 200,
        "static asset": 200,
        "no token": 401,
        "unknown resource": 404,
        "unknown path": 404,
        "wrong method": 405,
        "bad body": 400,
        "deleted": 204,
    }
    servers = {name: response.headers.getall("Server") for name, response in responses.items()}
    assert servers == {name: ["scim-server"] for name in responses}
