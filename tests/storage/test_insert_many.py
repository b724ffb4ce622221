"""ResourceRepository.insert_many: an ordered batch that stops at the first uniqueness clash."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scim_server.errors import UniquenessError
from scim_server.storage.documents import StoredResource
from scim_server.storage.repository import Store

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def user(user_id: str, name: str) -> StoredResource:
    return StoredResource(user_id, {"userName": name}, NOW, NOW, 1)


async def test_a_batch_without_clashes_is_inserted_whole(mongomock_database: Any) -> None:
    repo = await Store(mongomock_database).users("org1")
    assert await repo.insert_many([user("a", "a"), user("b", "b")]) == (2, None)
    assert await repo.insert_many([]) == (0, None)
    assert [s.id for s in await repo.find({}, [("_id", 1)], 0, 10)] == ["a", "b"]


async def test_a_clash_stops_the_batch_after_the_documents_before_it(mongomock_database: Any) -> None:
    repo = await Store(mongomock_database).users("org1")
    await repo.insert(user("taken", "Taken"))
    inserted, clash = await repo.insert_many([user("a", "a"), user("b", "TAKEN"), user("c", "c")])
    assert inserted == 1
    assert isinstance(clash, UniquenessError)
    assert (clash.status, clash.detail) == (409, "userName is already in use in this organization")
    assert [s.id for s in await repo.find({}, [("_id", 1)], 0, 10)] == ["a", "taken"]
