"""MongoDB's documented behaviour where mongoeco differs (``gaps.py``), asked of the driver directly
on the server ``SCIM_TEST_MONGODB_URI`` names: expected to fail on mongoeco, to pass on MongoDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import MONGODB_URI, wire_database
from tests.wire.gaps import LOGICAL_IN_ELEM_MATCH, NESTING, SKIP_LIMIT

pytestmark = [
    pytest.mark.mongodb,
    pytest.mark.skipif(not MONGODB_URI, reason="set SCIM_TEST_MONGODB_URI to ask a server"),
]


@pytest.fixture
async def users() -> AsyncIterator[Any]:
    async with wire_database() as database:
        collection = database["users"]
        await collection.insert_many(
            [
                {"_id": "a", "emails": [{"type": "work", "value": "a@example.com"}]},
                {"_id": "b", "emails": [{"type": "home", "value": "b@example.com"}]},
            ]
        )
        yield collection


@pytest.mark.mongoeco_gap(reason=SKIP_LIMIT)
async def test_a_skip_of_the_largest_int64_finds_nothing(users: Any) -> None:
    assert await users.find({}).skip(2**63 - 1).limit(3).to_list(None) == []


@pytest.mark.mongoeco_gap(reason=NESTING)
async def test_a_query_forty_levels_deep_is_accepted(users: Any) -> None:
    query: dict[str, Any] = {"_id": "a"}
    for _ in range(40):  # an even number of $nor: the same condition
        query = {"$nor": [query]}
    assert [d["_id"] for d in await users.find(query).to_list(None)] == ["a"]


@pytest.mark.mongoeco_gap(reason=LOGICAL_IN_ELEM_MATCH)
async def test_and_inside_elem_match_is_accepted(users: Any) -> None:
    query = {"emails": {"$elemMatch": {"$and": [{"type": "work"}, {"value": "a@example.com"}]}}}
    assert [d["_id"] for d in await users.find(query).to_list(None)] == ["a"]


@pytest.mark.mongoeco_gap(reason=LOGICAL_IN_ELEM_MATCH)
async def test_or_inside_elem_match_is_accepted(users: Any) -> None:
    query = {"emails": {"$elemMatch": {"$or": [{"type": "work"}, {"value": "nobody@example.com"}]}}}
    assert [d["_id"] for d in await users.find(query).to_list(None)] == ["a"]


@pytest.mark.mongoeco_gap(reason=LOGICAL_IN_ELEM_MATCH)
async def test_nor_inside_elem_match_is_accepted(users: Any) -> None:
    query = {"emails": {"$elemMatch": {"$nor": [{"type": "home"}]}}}
    assert [d["_id"] for d in await users.find(query).to_list(None)] == ["a"]


@pytest.mark.mongoeco_gap(reason=LOGICAL_IN_ELEM_MATCH)
async def test_a_logical_operator_beside_a_field_inside_elem_match_is_accepted(users: Any) -> None:
    either = {"$or": [{"type": "work"}, {"type": "other"}]}
    query = {"emails": {"$elemMatch": {**either, "value": "a@example.com"}}}
    assert [d["_id"] for d in await users.find(query).to_list(None)] == ["a"]


async def test_a_flat_elem_match_of_distinct_keys_is_accepted(users: Any) -> None:
    query = {"emails": {"$elemMatch": {"type": "work", "value": "a@example.com"}}}
    assert [d["_id"] for d in await users.find(query).to_list(None)] == ["a"]
