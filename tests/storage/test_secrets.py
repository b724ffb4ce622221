"""The shared secrets every process of a deployment reads from the store."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.storage.secrets import SECRETS_COLLECTION, shared_secret


async def test_a_secret_is_made_once_and_then_read(db: Any) -> None:
    first = await shared_secret(db, "cursor")
    assert len(first) == 32
    assert await shared_secret(db, "cursor") == first
    assert await shared_secret(db, "other") != first


async def test_a_process_that_loses_the_race_to_create_it_reads_the_winners(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = await shared_secret(db, "cursor")
    collection_class = type(db[SECRETS_COLLECTION])
    original = collection_class.find_one_and_update

    async def lost_race(self: Any, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # As when another process inserted it between this upsert's match and its insert: the
        # upsert matches nothing and its insert clashes on the _id, on the server itself.
        return await original(self, {**query, "value": {"$exists": False}}, *args, **kwargs)

    monkeypatch.setattr(collection_class, "find_one_and_update", lost_race)
    assert await shared_secret(db, "cursor") == winner
