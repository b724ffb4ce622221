"""The storage calls only operator commands make (``scim-server tokens revoke``, ``scim-server audit``),
on the ``db`` fixture's store: the embedded one, or a server over the wire (docs/wire.md), where every
storage operation must run at least once."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.errors import UnauthorizedError
from scim_server.services.audit import AuditTrail
from scim_server.services.tokens import TokenService
from scim_server.storage.audit import AuditStore
from scim_server.storage.tokens import TokenRepository
from tests.helpers import TOKEN_A, auth


async def test_a_revoked_token_is_refused_and_listed_as_revoked(db: Any) -> None:
    tokens = TokenService(TokenRepository(db), cache_seconds=0)
    record, token = await tokens.create("acme", name="entra")
    assert (await tokens.authenticate(f"Bearer {token}")).org_id == "acme"

    assert await tokens.revoke(record.id) is True
    assert await tokens.revoke(record.id) is False  # already revoked

    with pytest.raises(UnauthorizedError):
        await tokens.authenticate(f"Bearer {token}")
    [listed] = await tokens.list("acme")
    assert (listed.id, listed.name, listed.revoked is not None) == (record.id, "entra", True)


async def test_the_audit_trail_reads_back_the_writes_newest_first(client: Any, db: Any) -> None:
    created = await client.post("/scim/v2/Users", json={"userName": "bjensen"}, headers=auth(TOKEN_A))
    user_id = (await created.json())["id"]
    patched = await client.patch(
        f"/scim/v2/Users/{user_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Boss"}],
        },
        headers=auth(TOKEN_A),
    )
    assert (created.status, patched.status) == (201, 200)

    events = await AuditTrail(AuditStore(db)).events("orga", resource_id=user_id)

    assert [(e.operation, e.resource_id, e.changed, e.version) for e in events] == [
        ("patch", user_id, ("title",), 2),
        ("create", user_id, ("userName",), 1),
    ]
