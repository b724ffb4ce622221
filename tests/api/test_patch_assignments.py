"""PATCHes of simple attributes, stored as one conditional ``$set`` without reading the user first
(``ResourceService._assign``), answer, store and audit exactly as the general path (read, apply in
Python, guarded write) does: the same scenario runs on both, and everything observable is compared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from scim_server.app import create_app
from scim_server.services import resources
from scim_server.storage.client import embedded_client
from scim_server.storage.repository import ResourceRepository
from tests.helpers import ClientFactory, auth, make_settings

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


# (PATCH body, whether it is simple assignments), applied in this order to one user.
SCENARIO: list[tuple[dict[str, Any], bool]] = [
    (patch({"op": "replace", "path": "title", "value": "Chief"}), True),
    (patch({"op": "replace", "path": "title", "value": "Chief"}), True),  # changes nothing
    (patch({"op": "Replace", "path": f"{USER}:displayName", "value": "Babs J"}), True),
    (patch({"op": "add", "path": "nickName", "value": "Babs"}), True),
    (patch({"op": "Replace", "path": "active", "value": "False"}), True),  # Entra's string
    (patch({"op": "replace", "value": {"active": True, "userType": "Employee"}}), True),  # Okta's form
    # A new userName: its lower-cased shadow follows (the probe below finds it).
    (patch({"op": "replace", "path": "userName", "value": "Barbara@Example.com"}), True),
    # Several operations, one of them changing nothing: the audit names only what changed.
    (
        patch(
            {"op": "replace", "path": "title", "value": "Boss"},
            {"op": "replace", "path": "nickName", "value": "Babs"},
            {"op": "add", "path": "externalId", "value": "ext-2"},
            {"op": "replace", "path": "title", "value": "Director"},
        ),
        True,
    ),
    # Another user's userName, in another case: 409, nothing written.
    (patch({"op": "replace", "path": "userName", "value": "OTHER@example.com"}), True),
    # The general path's own PATCHes, between them.
    (patch({"op": "remove", "path": "title"}), False),
    (patch({"op": "replace", "path": "name.givenName", "value": "Barb"}), False),
    (patch({"op": "replace", "path": f"{ENTERPRISE}:department", "value": "R&D"}), False),
    (patch({"op": "replace", "path": "title", "value": "Again"}), True),
    # Refused values and paths: the same errors, nothing written.
    (patch({"op": "replace", "path": "active", "value": "maybe"}), False),
    (patch({"op": "replace", "path": "id", "value": "x"}), False),
    (patch({"op": "replace", "path": "title", "value": "x" * 70_000}), False),
]
ORIGINAL = {
    "schemas": [USER, ENTERPRISE],
    "userName": "bjensen@example.com",
    "externalId": "ext-1",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs",
    "active": True,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    ENTERPRISE: {"employeeNumber": "701984"},
}


# Times, and the bootstrap token's id (made per application).
_MADE_PER_RUN = ("created", "lastModified", "time", "tokenId")


def _without_ids(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with server-made ids, times and ObjectIds named by role, so two runs compare."""
    if isinstance(value, dict):
        return {k: _without_ids(v, ids) for k, v in value.items() if k not in _MADE_PER_RUN}
    if isinstance(value, list):
        return [_without_ids(v, ids) for v in value]
    if isinstance(value, str):
        for name, real in ids.items():
            value = value.replace(real, name)
    return value


async def _run(aiohttp_client: ClientFactory) -> list[Any]:
    """Everything observable of the scenario: each response (status, ETag, body), the stored
    document after it, the user's probe, then the audit trail."""
    db = embedded_client()["scim"]
    app: web.Application = create_app(make_settings(), db=db, announce=lambda _: None)
    client = await aiohttp_client(app)
    created = await client.post("/scim/v2/Users", json=ORIGINAL, headers=auth())
    user = (await created.json())["id"]
    other = await client.post("/scim/v2/Users", json={"userName": "other@example.com"}, headers=auth())
    group = await client.post(
        "/scim/v2/Groups",
        json={"displayName": "Tour", "members": [{"value": user}]},
        headers=auth(),
    )
    ids = {"USER": user, "OTHER": (await other.json())["id"], "GROUP": (await group.json())["id"]}
    users = db["org_orga_users"]
    seen: list[Any] = []
    for body, _ in SCENARIO:
        response = await client.patch(f"/scim/v2/Users/{user}", json=body, headers=auth())
        seen.append([response.status, response.headers.get("ETag"), await response.json()])
        seen.append(await users.find_one({"_id": user}))
        got = await client.get(f"/scim/v2/Users/{user}", headers=auth())
        seen.append(await got.json())
    probe = await client.get('/scim/v2/Users?filter=userName eq "barbara@example.com"', headers=auth())
    seen.append(await probe.json())
    seen.append(await db["org_orga_audit"].find({}, {"_id": 0}).sort("time", 1).to_list(None))
    return [_without_ids(item, ids) for item in seen]


async def test_simple_assignments_answer_store_and_audit_as_the_general_path(
    aiohttp_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    assigned: list[str] = []
    assign: Callable[..., Any] = ResourceRepository.assign

    async def counting(self: ResourceRepository, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await assign(self, *args, **kwargs)
        except Exception as error:
            assigned.append(type(error).__name__)
            raise
        assigned.append("nothing written" if result is None else "written")
        return result

    monkeypatch.setattr(ResourceRepository, "assign", counting)
    fast = await _run(aiohttp_client)
    # Every simple PATCH tried the one write, and the ones that changed something were stored by it;
    # except the userName ones: a rename changes the groups showing the user, so it takes the general
    # path, which moves their versions too.
    assert assigned == ["written", "nothing written"] + ["written"] * 5 + ["written"]

    monkeypatch.setattr(resources, "simple_assignments", lambda *_: None)
    assigned.clear()
    general = await _run(aiohttp_client)
    assert assigned == []

    assert fast == general
    statuses = [fast[3 * i][0] for i in range(len(SCENARIO))]
    assert statuses == [200] * 8 + [409] + [200] * 4 + [400] * 3
    assert fast[-2]["totalResults"] == 1  # the new userName's shadow
    audit = fast[-1]
    patched = [event["changed"] for event in audit if event["operation"] == "patch"]
    assert patched[:7] == [
        ["title"],
        ["displayName"],
        ["nickName"],
        ["active"],
        ["active", "userType"],
        ["userName"],
        ["externalId", "title"],
    ]
