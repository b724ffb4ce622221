"""Keyset ranges (``storage/keyset.py``): exact queries, and what they select on the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scim_server.storage.client import embedded_client
from scim_server.storage.keyset import keyset_range, reversed_sort, sort_key

WHEN = datetime(2026, 1, 2, tzinfo=UTC)


def test_after_a_position_in_the_default_order() -> None:
    assert keyset_range([("meta.created", 1), ("_id", 1)], (WHEN, "u7")) == {
        "$or": [
            {"meta.created": {"$gt": WHEN}},
            {"meta.created": {"$eq": WHEN}, "_id": {"$gt": "u7"}},
        ]
    }


def test_descending_ranges_take_in_missing_values_which_sort_last() -> None:
    assert keyset_range([("_lc.title", -1), ("_id", -1)], ("b", "u7")) == {
        "$or": [
            {"_lc.title": {"$lt": "b"}},
            {"_lc.title": {"$eq": None}},
            {"_lc.title": {"$eq": "b"}, "_id": {"$lt": "u7"}},
        ]
    }


def test_after_a_missing_value_come_the_other_missing_ones_then_every_value() -> None:
    assert keyset_range([("externalId", 1), ("_id", 1)], (None, "u7")) == {
        "$or": [{"externalId": {"$ne": None}}, {"externalId": {"$eq": None}, "_id": {"$gt": "u7"}}]
    }
    assert keyset_range([("externalId", -1), ("_id", -1)], (None, "u7")) == {
        "externalId": {"$eq": None},
        "_id": {"$lt": "u7"},
    }


def test_a_unique_key_alone_and_a_mismatched_position() -> None:
    assert keyset_range([("_lc.userName", 1)], ("bob",)) == {"_lc.userName": {"$gt": "bob"}}
    assert reversed_sort([("a", 1), ("_id", 1)]) == [("a", -1), ("_id", -1)]
    with pytest.raises(ValueError, match="one value per sort field"):
        keyset_range([("a", 1), ("_id", 1)], ("x",))


def test_sort_keys_are_read_through_documents_and_refuse_arrays() -> None:
    document: dict[str, Any] = {"_id": "u1", "meta": {"created": WHEN}, "emails": [{"value": "a"}]}
    assert sort_key(document, [("meta.created", 1), ("_id", 1)]) == (WHEN, "u1")
    assert sort_key(document, [("externalId", 1), ("_id", 1)]) == (None, "u1")
    assert sort_key(document, [("emails.value", 1), ("_id", 1)]) is None


@pytest.mark.parametrize("direction", [1, -1])
async def test_every_position_selects_exactly_what_follows_it_in_the_stores_order(direction: int) -> None:
    collection = embedded_client()["scim"]["keyset"]
    values = ["b", None, "a", "b", None, "c", "a"]
    documents = [{"_id": f"u{n}", **({} if v is None else {"k": v})} for n, v in enumerate(values)]
    await collection.insert_many(documents)
    sort = [("k", direction), ("_id", direction)]
    ordered = [d["_id"] for d in await collection.find({}).sort(sort).to_list(None)]
    for place, identifier in enumerate(ordered):
        document = next(d for d in documents if d["_id"] == identifier)
        key = sort_key(document, sort)
        assert key is not None
        after = await collection.find(keyset_range(sort, key)).sort(sort).to_list(None)
        assert [d["_id"] for d in after] == ordered[place + 1 :]
