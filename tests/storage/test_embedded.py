"""The embedded store's primary-key lookup (``storage/embedded.py``): the scan's answers, without the scan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mongomock
import pytest

from scim_server.storage import embedded
from scim_server.storage.client import embedded_client

IDS = [f"id-{n:03d}" for n in range(50)]


@pytest.fixture
def collection() -> Any:
    embedded_client()  # installs the lookup, as every embedded client does
    coll = mongomock.MongoClient(tz_aware=True)["scim"]["things"]
    coll.insert_many(
        [{"_id": i, "n": n, "meta": {"version": n % 3 + 1}, "tags": ["a", "b"]} for n, i in enumerate(IDS)]
    )
    return coll


FILTERS: list[dict[str, Any]] = [
    {"_id": "id-007"},
    {"_id": "id-049"},
    {"_id": "missing"},
    {"_id": "id-007", "meta.version": 2},  # n=7: version 2, matches
    {"_id": "id-007", "meta.version": 3},  # does not
    {"_id": "id-010", "n": {"$gte": 10}, "tags": "a"},
    {"_id": "id-010", "$or": [{"n": 1}, {"n": 2}]},
    # Not a single string id: the scan answers.
    {"_id": {"$in": ["id-001", "id-002", "missing"]}},
    {"_id": {"$gt": "id-045"}},
    {"n": 3},
    {},
]


def test_embedded_clients_install_the_lookup(collection: Any) -> None:
    assert embedded.installed()


@pytest.mark.parametrize("query", FILTERS, ids=repr)
def test_every_read_answers_as_the_scan_does(collection: Any, query: dict[str, Any]) -> None:
    scanned = list(embedded._scan(collection, query))
    assert list(collection._iter_documents(query)) == scanned
    assert list(collection.find(query)) == [dict(d) for d in scanned]
    assert collection.count_documents(query) == len(scanned)
    first = collection.find_one(query)
    assert first == (dict(scanned[0]) if scanned else None)


@pytest.mark.parametrize("query", FILTERS[:7], ids=repr)
def test_updates_and_deletes_by_id_change_what_the_scan_would(collection: Any, query: dict[str, Any]) -> None:
    expected = [d["_id"] for d in embedded._scan(collection, query)]
    updated = collection.update_one(query, {"$set": {"seen": True}})
    assert updated.matched_count == len(expected)
    assert sorted(d["_id"] for d in collection.find({"seen": True})) == expected
    deleted = collection.delete_one(query)
    assert deleted.deleted_count == len(expected)
    assert collection.count_documents({}) == len(IDS) - len(expected)


def test_a_lookup_by_id_matches_one_document_and_never_scans(
    collection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    matched: list[Any] = []
    real_matches = embedded._matches

    def counting(query: Any, document: Any) -> Any:
        matched.append(document["_id"])
        return real_matches(query, document)

    def no_scan(self: Any, query: Any) -> Iterator[Any]:
        raise AssertionError(f"scanned for {query!r}")

    monkeypatch.setattr(embedded, "_matches", counting)
    monkeypatch.setattr(embedded, "_scan", no_scan)
    assert collection.find_one({"_id": "id-033", "meta.version": 1})["n"] == 33
    collection.update_one({"_id": "id-033"}, {"$set": {"n": 0}})
    collection.delete_one({"_id": "id-034"})
    # Each call looked at its own document only, out of 50.
    assert matched == ["id-033", "id-033", "id-034"]
    with pytest.raises(AssertionError, match="scanned"):
        collection.find_one({"n": 5})
