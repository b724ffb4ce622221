"""/Me (RFC 7644 §3.11): tokens belong to organizations, so every method answers 501."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scim_server.api.search import ME_DETAIL
from tests.helpers import auth

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/scim/v2/Me", "/scim/v2/Me/groups", "/scim/v2/Me/a/b"])
async def test_every_method_on_me_answers_501_saying_tokens_belong_to_organizations(
    client: TestClient[Any, Any], method: str, path: str
) -> None:
    body = None if method in ("GET", "DELETE") else {"userName": "me"}
    response = await client.request(method, path, json=body, headers=auth())
    assert response.status == 501
    assert response.content_type == "application/scim+json"
    assert await response.json() == {"schemas": [ERROR], "status": "501", "detail": ME_DETAIL}
    assert "organizations, not to users" in ME_DETAIL


async def test_me_still_needs_a_token(client: TestClient[Any, Any]) -> None:
    response = await client.get("/scim/v2/Me")
    assert response.status == 401


async def test_me_writes_nothing(client: TestClient[Any, Any]) -> None:
    await client.post("/scim/v2/Me", json={"userName": "me"}, headers=auth())
    listed = await (await client.get("/scim/v2/Users", headers=auth())).json()
    assert listed["totalResults"] == 0
