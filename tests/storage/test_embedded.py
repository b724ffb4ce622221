"""The embedded store's lookups (``storage/embedded.py``): plain mongomock's answers, without its scans."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from bson.codec_options import CodecOptions
from hypothesis import given, settings
from hypothesis import strategies as st
from mongomock.collection import Collection, Cursor
from mongomock.store import CollectionStore

from scim_server.storage import embedded
from scim_server.storage.client import embedded_client
from scim_server.storage.documents import DELETED
from scim_server.storage.keyset import keyset_range

IDS = [f"id-{n:03d}" for n in range(50)]


def indexed(name: str) -> Any:
    """A collection of a client with the lookups, whatever mongomock is installed (the gate is tested
    apart): these tests are what tell whether the lookups fit a new mongomock."""
    return embedded._Client(tz_aware=True)["scim"][name]


def plain(name: str) -> Any:
    return mongomock.MongoClient(tz_aware=True)["scim"][name]


@pytest.fixture
def collection() -> Any:
    coll = indexed("things")
    coll.insert_many(
        [{"_id": i, "n": n, "meta": {"version": n % 3 + 1}, "tags": ["a", "b"]} for n, i in enumerate(IDS)]
    )
    # Deletion marks the storage never writes (it writes dates: the test after this table), which a
    # query must still answer as mongomock does: null, a list holding null, other types.
    for n, mark in enumerate([None, [None, 1], [1], "x", 7]):
        coll.update_one({"_id": IDS[n * 5]}, {"$set": {DELETED: mark}})
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
    # The repository's exclusion of soft-deleted documents, alone (a list) and with other conditions.
    {DELETED: None},
    {DELETED: None, "n": {"$lt": 12}},
    {"_id": "id-005", DELETED: None},
]


@pytest.mark.parametrize("query", FILTERS, ids=repr)
def test_every_read_answers_as_the_scan_does(collection: Any, query: dict[str, Any]) -> None:
    scanned = list(embedded._scan(collection, query))
    assert list(collection._iter_documents(query)) == scanned
    assert list(collection.find(query)) == [dict(d) for d in scanned]
    assert collection.count_documents(query) == len(scanned)
    first = collection.find_one(query)
    assert first == (dict(scanned[0]) if scanned else None)


def test_the_live_documents_are_those_the_scan_finds_without_a_deletion_date() -> None:
    coll = indexed("soft")
    coll.insert_many([{"_id": i, "n": n} for n, i in enumerate(IDS)])
    coll.update_many({"n": {"$lt": 10}}, {"$set": {DELETED: datetime(2026, 1, 2, tzinfo=UTC)}})
    coll.update_one({"_id": "id-010"}, {"$set": {DELETED: None}})
    live = {DELETED: None}

    scanned = [d["_id"] for d in embedded._scan(coll, live)]
    assert scanned == IDS[10:]
    assert [d["_id"] for d in coll._iter_documents(live)] == scanned
    assert [d["_id"] for d in coll.find(live)] == scanned
    assert coll.count_documents(live) == 40


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
        collection.find_one({"n": {"$gte": 5}})


# The equality lookup: documents whose value at a path is anything mongomock may meet there.
_LEAVES = st.one_of(
    st.sampled_from(["a", "b", "A", ""]),
    st.none(),
    st.integers(-1, 1),
    st.booleans(),
    st.floats(allow_nan=False, width=16),
    st.just(b"a"),
    st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    st.just(ObjectId("0" * 24)),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["x", "y", "0"]), inner, max_size=2),
    ),
    max_leaves=6,
)
_DOCUMENTS = st.lists(st.dictionaries(st.sampled_from(["x", "y", "z"]), _VALUES, max_size=3), max_size=8)
_PATHS = st.sampled_from(["x", "y", "x.x", "x.y", "x.0", "x.0.y", "x.y.x"])
_STRINGS = st.sampled_from(["a", "b", "A", ""])
_CONDITIONS = st.one_of(
    st.builds(lambda p, s: {p: s}, _PATHS, _STRINGS),
    st.builds(lambda p, s: {p: {"$eq": s}}, _PATHS, _STRINGS),
    st.builds(lambda p, s: {p: {"$in": s}}, _PATHS, st.lists(_STRINGS, max_size=3)),
    st.builds(lambda p, s: {p: {"$in": [*s, None]}}, _PATHS, st.lists(_STRINGS, max_size=2)),
    st.builds(lambda p, s: {p: {"$ne": s}}, _PATHS, _STRINGS),
    st.builds(lambda p: {p: None}, _PATHS),
    st.builds(lambda p, n: {p: n}, _PATHS, st.integers(-1, 1)),
    st.builds(lambda p, n: {p: {"$eq": n}}, _PATHS, st.integers(-1, 1)),
    st.builds(lambda p, n, s: {p: {"$in": [n, s]}}, _PATHS, st.integers(-1, 1), _STRINGS),
    st.builds(lambda p: {p: {"$exists": False}}, _PATHS),
)
_QUERIES = st.one_of(
    _CONDITIONS,
    st.builds(lambda a, b: {**a, **b}, _CONDITIONS, _CONDITIONS),
    st.builds(lambda a, b: {"$and": [a, b]}, _CONDITIONS, _CONDITIONS),
    st.builds(lambda a, b: {"$or": [a, b]}, _CONDITIONS, _CONDITIONS),
    st.builds(lambda a, b: {"$and": [a, {"$or": [b, a]}]}, _CONDITIONS, _CONDITIONS),
)


# Documents and queries drawn together are the widest space here, and an example costs little.
@settings(max_examples=settings.default.max_examples * 3)
@given(documents=_DOCUMENTS, query=_QUERIES)
def test_the_equality_lookup_keeps_every_document_the_scan_matches(
    documents: list[dict[str, Any]], query: dict[str, Any]
) -> None:
    coll = indexed("walked")
    if documents:
        coll.insert_many([{"_id": f"d{n}", **d} for n, d in enumerate(documents)])
    scanned = [d["_id"] for d in embedded._scan(coll, query)]
    assert [d["_id"] for d in coll._iter_documents(query)] == scanned
    assert coll.count_documents(query) == len(scanned)


@pytest.mark.parametrize(
    ("query", "by_index"),
    [
        ({"x.y": "b"}, True),
        ({"x.y": {"$in": ["b", "c"]}}, True),
        ({"$and": [{"x.y": {"$eq": "b"}}, {"n": {"$gt": 1}}]}, True),
        ({"x.y": {"$ne": "b"}}, False),
        ({"$or": [{"x.y": "b"}, {"n": 1}]}, False),
        ({"x.y": {"$in": ["b", None]}}, False),
    ],
    ids=repr,
)
def test_the_equality_lookup_runs_the_matcher_only_on_documents_that_may_match(
    monkeypatch: pytest.MonkeyPatch, query: dict[str, Any], by_index: bool
) -> None:
    coll = indexed("walked")
    coll.insert_many(
        [{"_id": f"d{n}", "n": n, "x": {"y": "a" if n % 10 else "b"}} for n in range(100)]
        + [{"_id": "list", "n": 5, "x": [{"y": "b"}]}, {"_id": "none", "n": 5, "x": {"y": None}}]
    )
    expected = [d["_id"] for d in embedded._scan(coll, query)]
    matched: list[Any] = []
    scanned: list[Any] = []
    real_matches, real_scan = embedded._matches, embedded._scan

    def counting(query: Any, document: Any) -> Any:
        matched.append(document.get("_id"))
        return real_matches(query, document)

    def scanning(self: Any, query: Any) -> Any:
        scanned.append(query)
        return real_scan(self, query)

    monkeypatch.setattr(embedded, "_matches", counting)
    monkeypatch.setattr(embedded, "_scan", scanning)
    assert [d["_id"] for d in coll._iter_documents(query)] == expected
    if by_index:
        # The ten "b" documents and the one whose path crosses an array reach the matcher (and the
        # empty document of the malformed-query check); the other 91 never do, and nothing scans.
        assert sorted(m for m in matched if m is not None) == sorted(
            [f"d{n}" for n in range(0, 100, 10)] + ["list"]
        )
        assert scanned == []
    else:
        assert scanned == [query]


def test_a_malformed_query_is_refused_even_when_no_document_is_a_candidate(collection: Any) -> None:
    with pytest.raises(mongomock.OperationFailure):
        list(collection._iter_documents({"n": {"$eq": "none-has-this", "$bogus": 1}}))


# The equality indexes, kept through every kind of write: any sequence of writes leaves every
# equality query answering what the scan answers, and every write raising what it raises without them.
_KEYS = st.sampled_from(["k1", "k2", "k3", "k4"])
_U = st.one_of(st.sampled_from(["a", "b", "c"]), st.none(), st.just(1), st.just(["a", "b"]))
_X = st.one_of(
    st.sampled_from(["a", "b"]),
    st.just({"y": "a"}),
    st.just({"y": "b"}),
    st.just(["a"]),
    st.none(),
    st.just(5),
)
_S = st.sampled_from(["a", "b", "c"])
_WRITES = st.one_of(
    st.tuples(st.just("insert_one"), _KEYS, _U, _X),
    st.tuples(st.just("insert_many"), st.lists(st.tuples(_KEYS, _U, _X), max_size=3)),
    st.tuples(st.just("set_u"), _KEYS, _U),
    st.tuples(st.just("set_x_where_u"), _S, _X),
    st.tuples(st.just("set_xy_where_x"), _S, _S),
    st.tuples(st.just("replace"), _KEYS, _U, _X, st.booleans()),
    st.tuples(st.just("change_id"), _KEYS),
    st.tuples(st.just("delete_where_u"), _S),
    st.tuples(st.just("delete_many_where_x"), _S),
    st.tuples(st.just("find_one_and_update"), _S, _U),
    st.tuples(st.just("upsert_where_u"), _S, _X),
    st.tuples(st.just("drop")),
)
_PROBES: list[dict[str, Any]] = [
    *({"u": s} for s in "abc"),
    *({"x": s} for s in "ab"),
    *({"x.y": s} for s in "ab"),
    {"u": {"$in": ["a", "c"]}},
    {"u": {"$eq": "b"}, "x": "a"},
    {"$and": [{"x": "a"}, {"u": {"$in": ["a", "b"]}}]},
]


def _write(coll: Any, write: tuple[Any, ...]) -> Any:
    kind, *args = write
    if kind == "insert_one":
        return coll.insert_one({"_id": args[0], "u": args[1], "x": args[2]}).inserted_id
    if kind == "insert_many":
        docs = [{"_id": k, "u": u, "x": x} for k, u, x in args[0]]
        return coll.insert_many(docs, ordered=False).inserted_ids if docs else None
    if kind == "set_u":
        return coll.update_one({"_id": args[0]}, {"$set": {"u": args[1]}}).modified_count
    if kind == "set_x_where_u":
        return coll.update_many({"u": args[0]}, {"$set": {"x": args[1]}}).modified_count
    if kind == "set_xy_where_x":
        return coll.update_one({"x": args[0]}, {"$set": {"x.y": args[1]}}).modified_count
    if kind == "replace":
        return coll.replace_one({"_id": args[0]}, {"u": args[1], "x": args[2]}, upsert=args[3]).modified_count
    if kind == "change_id":
        return coll.update_one({"_id": args[0]}, {"$set": {"_id": "moved"}}).modified_count
    if kind == "delete_where_u":
        return coll.delete_one({"u": args[0]}).deleted_count
    if kind == "delete_many_where_x":
        return coll.delete_many({"x": args[0]}).deleted_count
    if kind == "find_one_and_update":
        return coll.find_one_and_update({"u": args[0]}, {"$set": {"u": args[1]}})
    if kind == "upsert_where_u":
        return coll.update_one({"u": args[0]}, {"$set": {"x": args[1]}}, upsert=True).upserted_id is not None
    coll.drop()
    coll.create_index("u", unique=True)
    return None


def _history(coll: Any, writes: list[tuple[Any, ...]]) -> list[Any]:
    coll.create_index("u", unique=True)
    seen: list[Any] = []
    for write in writes:
        try:
            seen.append(("ok", _named(_write(coll, write))))
        except Exception as error:  # whatever mongomock raises, both runs must raise alike
            seen.append((type(error).__name__, str(error)))
        seen.append([[_named(d["_id"]) for d in coll._iter_documents(probe)] for probe in _PROBES])
    seen.append(sorted((_named(d) for d in coll.find({})), key=lambda d: str(d["_id"])))
    return seen


def _named(value: Any) -> Any:
    """Upserts make ObjectIds, which differ between two runs: compare them by kind."""
    if isinstance(value, ObjectId):
        return "<ObjectId>"
    if isinstance(value, dict):
        return {k: _named(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_named(v) for v in value]
    return value


# Sequences of up to twelve writes of twelve kinds: twice the profile's budget to reach their orders.
@settings(max_examples=settings.default.max_examples * 2)
@given(writes=st.lists(_WRITES, max_size=12))
def test_any_sequence_of_writes_leaves_the_indexes_answering_as_the_scan(
    writes: list[tuple[Any, ...]],
) -> None:
    assert _history(indexed("indexed"), writes) == _history(plain("indexed"), writes)


def test_an_indexed_lookup_looks_at_its_candidates_only(monkeypatch: pytest.MonkeyPatch) -> None:
    coll = indexed("big")
    coll.create_index("u", unique=True)
    coll.insert_many([{"_id": f"d{n}", "u": f"user{n}", "m": f"g{n % 5}"} for n in range(500)])
    assert [d["_id"] for d in coll.find({"u": "user7"})] == ["d7"]  # builds the index of "u"
    matched: list[Any] = []
    real_matches = embedded._matches

    def counting(query: Any, document: Any) -> Any:
        matched.append(document.get("_id"))
        return real_matches(query, document)

    monkeypatch.setattr(embedded, "_matches", counting)
    assert [d["_id"] for d in coll.find({"u": "user42"})] == ["d42"]
    coll.update_one({"_id": "d42"}, {"$set": {"u": "renamed"}})  # the uniqueness check is a lookup too
    assert [d["_id"] for d in coll.find({"u": "renamed"})] == ["d42"]
    assert list(coll.find({"u": "user42"})) == []
    with pytest.raises(mongomock.DuplicateKeyError):
        coll.insert_one({"_id": "new", "u": "user3"})
    # find, update by _id, its uniqueness check, find; nothing for the old name; the new one and d3.
    assert [m for m in matched if m is not None] == ["d42", "d42", "d42", "d42", "d3", "new"]
    # A second path gets its own index; the store order of many candidates is kept.
    assert [d["_id"] for d in coll.find({"m": "g3"})][:3] == ["d3", "d8", "d13"]


# Sorted pages: a limited cursor copies only its page, and sort keys of one plain type are compared by
# Python; every page is what mongomock's own cursor and sort give.
_SORT_VALUES = st.one_of(
    st.sampled_from(["a", "B", "b", "é", ""]),
    st.integers(-2, 2),
    st.sampled_from([0.5, -1.5, 2.0]),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)]
    ),
    st.just(["b", "a"]),
    st.just({"z": 1}),
)
_SORT_DOCUMENTS = st.lists(
    st.fixed_dictionaries(
        {}, optional={"s": _SORT_VALUES, "t": _SORT_VALUES, "m": st.fixed_dictionaries({"c": _SORT_VALUES})}
    ),
    max_size=12,
)
_SORTS = st.lists(
    st.tuples(st.sampled_from(["s", "t", "m.c", "_id"]), st.sampled_from([1, -1])),
    min_size=1,
    max_size=3,
    unique_by=lambda p: p[0],
)
# Keys present everywhere, as the server's lists have them: of one plain type (the sort Python makes),
# or of numbers and booleans mixed (BSON orders booleans after numbers; Python takes True for 1).
_PLAIN_DOCUMENTS = st.lists(
    st.fixed_dictionaries(
        {
            "s": st.sampled_from(["a", "B", "b", "é"]),
            "t": st.one_of(st.integers(0, 3), st.sampled_from([0.5, 1.0])),
            "m": st.fixed_dictionaries(
                {"c": st.sampled_from([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)])}
            ),
        }
    ),
    max_size=12,
)
_MIXED_DOCUMENTS = st.lists(
    st.fixed_dictionaries({"s": st.one_of(st.integers(0, 2), st.booleans()), "t": st.booleans()}),
    min_size=2,
    max_size=12,
)


def _pages(
    coll: Any, documents: list[dict[str, Any]], sort: list[tuple[str, int]], skip: int, limit: int
) -> list[Any]:
    if documents:
        coll.insert_many([{"_id": f"d{n:02d}", **d} for n, d in enumerate(documents)])
    cursor = coll.find({}, {"t": 0}).sort(sort).skip(skip).limit(limit)
    page = list(cursor)
    cursor.rewind()
    unsorted = list(coll.find({"s": {"$ne": "b"}}).skip(skip).limit(limit))
    return [page, list(cursor), list(coll.find({}).sort(sort)), coll.find_one({}, sort=sort), unsorted]


@given(
    documents=st.one_of(_SORT_DOCUMENTS, _PLAIN_DOCUMENTS, _MIXED_DOCUMENTS),
    sort=_SORTS,
    skip=st.integers(0, 4),
    limit=st.integers(0, 6),
)
def test_sorted_pages_are_what_mongomock_gives(
    documents: list[dict[str, Any]], sort: list[tuple[str, int]], skip: int, limit: int
) -> None:
    paged = _pages(indexed("sorted"), documents, sort, skip, limit)
    assert paged == _pages(plain("sorted"), documents, sort, skip, limit)


def test_a_page_copies_only_its_documents_and_sorts_plain_keys_in_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coll = indexed("users")
    created = datetime(2026, 1, 1, tzinfo=UTC)
    coll.insert_many([{"_id": f"u{n:04d}", "meta": {"created": created}} for n in range(500)])
    copied: list[Any] = []
    project = embedded._project

    def counting(self: Any, document: Any, *args: Any) -> Any:
        copied.append(document["_id"])
        return project(self, document, *args)

    compared: list[Any] = []
    monkeypatch.setattr(embedded, "_project", counting)
    monkeypatch.setattr(embedded, "_sort_key", lambda key, doc: compared.append(key))
    page = list(coll.find({}).sort([("meta.created", -1), ("_id", 1)]).skip(10).limit(5))
    assert [d["_id"] for d in page] == [f"u{n:04d}" for n in range(10, 15)]
    assert copied == [f"u{n:04d}" for n in range(10, 15)]
    assert compared == []  # no BSON comparison key was made: dates and strings sort natively
    # A skip beyond any index (a hostile startIndex) finds nothing, as mongomock's slice does.
    assert list(coll.find({}).sort([("_id", 1)]).skip(2**63).limit(5)) == []


async def test_a_page_of_the_servers_own_client_copies_only_its_documents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # mongomock-motor wraps each collection's _get_dataset: the page is still copied alone.
    coll = embedded_client()["scim"]["motor_users"]
    await coll.insert_many([{"_id": f"u{n:03d}", "n": n % 7} for n in range(60)])
    copied: list[Any] = []
    project = embedded._project

    def counting(self: Any, document: Any, *args: Any) -> Any:
        copied.append(document["_id"])
        return project(self, document, *args)

    monkeypatch.setattr(embedded, "_project", counting)
    page = await coll.find({}, {"n": 0}).sort([("n", -1), ("_id", 1)]).skip(20).limit(5).to_list(None)
    expected = sorted(range(60), key=lambda n: (-(n % 7), n))[20:25]
    assert [d["_id"] for d in page] == [f"u{n:03d}" for n in expected]
    assert copied == [d["_id"] for d in page]


def test_every_database_collection_and_cursor_the_client_hands_out_has_the_lookups() -> None:
    client = embedded._Client(tz_aware=True)
    db = client.get_database("scim")
    other_options = db.with_options(codec_options=CodecOptions(tz_aware=False))
    coll = other_options["things"].with_options(codec_options=CodecOptions(tz_aware=True))
    cursor = coll.find({"u": "x"}).sort("_id")
    assert [type(o) for o in (client["scim"], db, other_options, coll, cursor, cursor.clone())] == [
        embedded._Database,
        embedded._Database,
        embedded._Database,
        embedded._Collection,
        embedded._Cursor,
        embedded._Cursor,
    ]
    assert type(coll._store) is embedded._CollectionStore


def test_a_renamed_or_dropped_collection_keeps_its_lookups_answering_as_the_scan() -> None:
    db = embedded._Client(tz_aware=True)["scim"]
    db["old"].insert_many([{"_id": f"d{n}", "u": f"user{n}"} for n in range(5)])
    assert [d["_id"] for d in db["old"].find({"u": "user3"})] == ["d3"]  # builds the index of "u"
    db["old"].rename("new")
    renamed = db["new"]
    assert type(renamed._store) is embedded._CollectionStore
    renamed.update_one({"_id": "d3"}, {"$set": {"u": "moved"}})
    renamed.insert_one({"_id": "d9", "u": "user3"})
    assert [d["_id"] for d in renamed.find({"u": {"$in": ["user3", "moved"]}})] == ["d3", "d9"]
    assert list(db["old"].find({"u": "user3"})) == []
    renamed.drop()
    renamed.insert_one({"_id": "d1", "u": "user3"})
    assert [d["_id"] for d in renamed.find({"u": "user3"})] == ["d1"]


# The version gate: the lookups on the mongomock they were written for, plain mongomock on another.
ANOTHER = "4.9.0"


def _installed_mongomock_reads(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: version if name == "mongomock" else real(name))
    embedded.lookups_fit.cache_clear()


@pytest.fixture(autouse=True)
def _gate_reads_the_real_version_after_each_test() -> Iterator[None]:
    yield
    embedded.lookups_fit.cache_clear()  # after monkeypatch's undo: the next client reads the real one


def _store_of(client: Any) -> Any:
    return client["scim"]["gate"]._store


def test_the_servers_client_has_the_lookups_on_the_mongomock_they_were_written_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The pins in pyproject.toml.
    assert {name: metadata.version(name) for name in embedded.WRITTEN_FOR} == embedded.WRITTEN_FOR
    assert type(_store_of(embedded_client())) is embedded._CollectionStore
    assert type(embedded.mongo_client()["scim"]["gate"]) is embedded._Collection
    assert caplog.records == []


def test_another_mongomock_runs_plain_mongomock_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _installed_mongomock_reads(monkeypatch, ANOTHER)
    first, second = embedded_client(), embedded_client()
    assert type(_store_of(first)) is CollectionStore
    assert type(_store_of(second)) is CollectionStore
    assert type(embedded.mongo_client()) is mongomock.MongoClient
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "scim_server.storage",
            logging.WARNING,
            "the embedded store's lookups were written for mongomock 4.3.0 and mongomock-motor 0.0.36, but "
            f"the installed releases are mongomock {ANOTHER} and mongomock-motor 0.0.36: running plain "
            "mongomock (the same answers, slower as an organization grows)",
        )
    ]


def test_the_lookups_change_no_class_of_mongomock() -> None:
    coll = embedded_client()["scim"]["scoped"]
    assert type(coll._store) is embedded._CollectionStore
    # mongomock's own classes keep their own methods, for any other client in the process.
    for cls, name in [
        (Collection, "_iter_documents"),
        (Collection, "_get_dataset"),
        (Collection, "_ensure_uniques"),
        (Collection, "find"),
        (Cursor, "_compute_results"),
        (CollectionStore, "__setitem__"),
        (CollectionStore, "__delitem__"),
    ]:
        assert getattr(cls, name).__module__.startswith("mongomock."), (cls, name)
    other = plain("scoped")
    other.insert_one({"_id": "a", "u": "x"})
    assert type(other) is Collection
    assert type(other._store) is CollectionStore
    assert type(other.find({"u": "x"})) is Cursor


USERS = [
    {
        "_id": f"u{n:02d}",
        "_lc": {"userName": "seven@example.com" if n == 7 else f"user{n:02d}@example.com"},
        "active": n % 3 != 0,
        "meta": {"created": datetime(2026, 1, 1 + n % 5, tzinfo=UTC), "version": 1},
        "emails": [{"value": f"u{n % 9}@example.com", "type": "work" if n % 2 else "home"}],
        "groups": [f"g{n % 4}"],
    }
    for n in range(40)
]
QUERIES: list[dict[str, Any]] = [
    {"_id": "u07"},
    {"_id": "u06", "active": True},
    {"_lc.userName": "seven@example.com"},
    {"_lc.userName": {"$in": ["user01@example.com", "user02@example.com", "nobody"]}},
    {"$and": [{"groups": "g1"}, {"active": True}]},
    {"emails.type": "work", "meta.created": {"$gte": datetime(2026, 1, 4, tzinfo=UTC)}},
    {"_lc.userName": {"$ne": "seven@example.com"}, "groups": {"$in": ["g2"]}},
    {},
]
SORTS: list[list[tuple[str, int]]] = [
    [("meta.created", -1), ("_id", 1)],
    [("_lc.userName", 1)],
    [("emails.value", -1), ("_id", 1)],  # through an array: mongomock's own sort key
]
PAGES = [(0, 3), (5, 5), (38, 10)]


async def _answers(db: Any) -> dict[str, Any]:
    """What the server's kinds of reads and writes give on ``db``: finds, counts, sorted pages, an
    update by id, a uniqueness violation, a delete by an indexed field, a sorted find_one."""
    users = db["users"]
    await users.create_index("_lc.userName", unique=True, name="userName")
    await users.insert_many(USERS)
    seen: dict[str, Any] = {}
    for query in QUERIES:
        seen[f"find {query}"] = [d["_id"] for d in await users.find(query).to_list(None)]
        seen[f"count {query}"] = await users.count_documents(query)
        for sort in SORTS:
            for skip, limit in PAGES:
                page = users.find(query, {"emails": 0, "groups": 0}).sort(sort).skip(skip).limit(limit)
                seen[f"page {query} {sort} {skip} {limit}"] = await page.to_list(None)
    renamed = await users.update_one({"_id": "u03"}, {"$set": {"_lc.userName": "renamed"}})
    seen["renamed"] = renamed.modified_count
    with pytest.raises(mongomock.DuplicateKeyError) as duplicate:
        await users.update_one({"_id": "u04"}, {"$set": {"_lc.userName": "renamed"}})
    seen["duplicate"] = str(duplicate.value)
    seen["deleted"] = (await users.delete_one({"_lc.userName": "seven@example.com"})).deleted_count
    names = {"_lc.userName": {"$in": ["renamed", "seven@example.com", "user04@example.com"]}}
    seen["after"] = [d["_id"] for d in await users.find(names).to_list(None)]
    seen["first"] = await users.find_one({}, sort=[("meta.created", 1), ("_id", -1)])
    return seen


async def test_plain_mongomock_gives_the_servers_client_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_lookups = await _answers(embedded_client()["scim"])
    _installed_mongomock_reads(monkeypatch, ANOTHER)
    client = embedded_client()
    assert type(client["scim"]["users"]._store) is CollectionStore  # plain mongomock, this time
    assert await _answers(client["scim"]) == with_lookups
    # Not vacuous: what the data holds was found, in the order asked for.
    assert with_lookups["find {'_id': 'u07'}"] == ["u07"]
    assert with_lookups["find {'_id': 'u06', 'active': True}"] == []
    assert with_lookups["find {'_lc.userName': 'seven@example.com'}"] == ["u07"]
    assert with_lookups[f"count {QUERIES[3]}"] == 2
    assert with_lookups[f"find {QUERIES[4]}"] == ["u01", "u05", "u13", "u17", "u25", "u29", "u37"]
    created_desc = with_lookups[f"page {{}} {SORTS[0]} 5 5"]
    assert [d["_id"] for d in created_desc] == ["u29", "u34", "u39", "u03", "u08"]
    assert created_desc[0] == {
        "_id": "u29",
        "_lc": {"userName": "user29@example.com"},
        "active": True,
        "meta": {"created": datetime(2026, 1, 5, tzinfo=UTC), "version": 1},
    }
    assert [d["_id"] for d in with_lookups[f"page {{}} {SORTS[1]} 38 10"]] == ["u38", "u39"]
    assert (with_lookups["renamed"], with_lookups["deleted"]) == (1, 1)
    assert "duplicate key" in with_lookups["duplicate"].lower()
    assert with_lookups["after"] == ["u03", "u04"]
    assert with_lookups["first"]["_id"] == "u35"


# Sorted indexes: a sort by a declared index's keys and _id, with an empty filter or a keyset range
# (storage/keyset.py), is a slice of an ordered list kept through every write; every page, before and
# after writes, is what mongomock's own sort and matcher give.
_KEYSET_SORTS = st.sampled_from(
    [
        [("s", 1), ("_id", 1)],
        [("s", -1), ("_id", -1)],
        [("m.c", 1), ("_id", 1)],
        [("m.c", -1), ("_id", -1)],
        [("t", 1), ("_id", 1)],  # no index declares t: mongomock sorts
        [("_id", 1)],
        [("_id", -1)],
        [("q", 1)],  # a unique index holds q
        [("q", -1)],
        [("s", 1)],  # not unique: mongomock sorts
    ]
)
_SCALARS = _SORT_VALUES.filter(lambda v: not isinstance(v, list | dict))
_CHANGES = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 13), _SCALARS),
        st.tuples(st.just("unset"), st.integers(0, 13)),
        st.tuples(st.just("delete"), st.integers(0, 13)),
        st.tuples(st.just("insert"), st.integers(14, 20), _SCALARS),
        st.tuples(st.just("replace"), st.integers(0, 13), _SCALARS),
        st.tuples(st.just("set_q"), st.integers(0, 13), st.sampled_from(["a5", "k1", "zz", 7])),
        st.tuples(st.just("mark"), st.integers(0, 13), st.sampled_from([0, 1, 2, 3])),
        st.tuples(st.just("unmark"), st.integers(0, 13)),
    ),
    max_size=6,
)
# Deletion marks: the date soft delete writes, and marks it never writes, which the live condition
# must still answer as mongomock does (null is live; a list holding null matches null too).
_MARKS = [datetime(2026, 1, 5, tzinfo=UTC), None, [None], "x"]
_LIVE = {DELETED: None}
# How a query adds the live condition, as the repository does: none, beside the range's keys, or in
# a top-level $and before or after it.
_LIVE_SHAPES = st.sampled_from(["all", "beside", "and", "and after"])


def _with_live(query: dict[str, Any], shape: str) -> dict[str, Any]:
    if shape == "all":
        return query
    if shape == "beside":
        return {**query, **_LIVE}
    return {"$and": [_LIVE, query] if shape == "and" else [query, _LIVE]}


def _keyset_pages(
    coll: Any,
    documents: list[dict[str, Any]],
    changes: list[tuple[Any, ...]],
    sort: list[tuple[str, int]],
    position: tuple[Any, str] | None,
    skip: int,
    limit: int,
    live: str = "all",
) -> list[Any]:
    coll.create_index([("s", 1), ("_id", 1)])
    coll.create_index([("m.c", 1), ("_id", 1)])
    coll.create_index("q", unique=True)
    if documents:
        coll.insert_many(
            [
                {
                    "_id": f"d{n:02d}",
                    "q": f"{'zkaqe'[n % 5]}{n}",
                    **d,
                    **({DELETED: _MARKS[0]} if n % 3 else {}),
                }
                for n, d in enumerate(documents)
            ]
        )
    # Builds the sorted index (and the count of live documents) before the changes.
    seen: list[Any] = [list(coll.find({}).sort(sort).limit(3)), coll.count_documents(_LIVE)]
    for change in changes:
        kind, n, *value = change
        key = f"d{n:02d}"
        if kind == "mark":
            coll.update_one({"_id": key}, {"$set": {DELETED: _MARKS[value[0]]}})
        elif kind == "unmark":
            coll.update_one({"_id": key}, {"$unset": {DELETED: ""}})
        elif kind == "set":
            coll.update_one({"_id": key}, {"$set": {"s": value[0], "m.c": value[0]}})
        elif kind == "unset":
            coll.update_one({"_id": key}, {"$unset": {"s": ""}})
        elif kind == "delete":
            coll.delete_one({"_id": key})
        elif kind == "insert":
            try:
                coll.insert_one({"_id": key, "s": value[0], "m": {"c": value[0]}, "q": f"i{n}"})
            except mongomock.DuplicateKeyError:
                seen.append("duplicate")
        elif kind == "set_q":
            try:
                coll.update_one({"_id": key}, {"$set": {"q": value[0]}})
            except mongomock.DuplicateKeyError:
                seen.append("duplicate")
        else:
            coll.replace_one({"_id": key}, {"s": value[0], "t": 1, "q": f"r{n}"})
    query: dict[str, Any] = {}
    if position is not None:
        value, identifier = position
        if sort[-1][0] == "_id":
            query = keyset_range(sort, (*([value] * (len(sort) - 1)), identifier))
        else:
            query = keyset_range(sort, (value,))
    query = _with_live(query, live)
    cursor = coll.find(query, {"t": 0}).sort(sort).skip(skip).limit(limit)
    seen += [list(cursor), coll.count_documents({}), coll.count_documents(query), coll.count_documents(_LIVE)]
    cursor.rewind()
    seen.append(list(cursor))
    return seen


@settings(max_examples=settings.default.max_examples * 3)
@given(
    documents=st.one_of(_PLAIN_DOCUMENTS, _SORT_DOCUMENTS),
    changes=_CHANGES,
    sort=_KEYSET_SORTS,
    position=st.one_of(
        st.none(),
        st.tuples(
            st.one_of(_SCALARS, st.sampled_from(["k1", "q3", "z10", "a2"])),
            st.sampled_from(["d00", "d03", "d07", "d99", ""]),
        ),
    ),
    skip=st.integers(0, 4),
    limit=st.integers(1, 6),
    live=_LIVE_SHAPES,
)
def test_sorted_index_pages_and_keyset_ranges_are_what_mongomock_gives(
    documents: list[dict[str, Any]],
    changes: list[tuple[Any, ...]],
    sort: list[tuple[str, int]],
    position: tuple[Any, str] | None,
    skip: int,
    limit: int,
    live: str,
) -> None:
    args = (documents, changes, sort, position, skip, limit, live)
    assert _keyset_pages(indexed("keyset"), *args) == _keyset_pages(plain("keyset"), *args)


def test_a_deep_page_and_a_keyset_page_are_read_from_the_sorted_index_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coll = indexed("many")
    coll.create_index([("meta.created", 1), ("_id", 1)])
    created = {f"u{n:05d}": datetime(2026, 1, 1 + n % 28, tzinfo=UTC) for n in range(3000)}
    coll.insert_many([{"_id": i, "meta": {"created": c}} for i, c in created.items()])
    sort = [("meta.created", 1), ("_id", 1)]
    assert len(list(coll.find({}).sort(sort).limit(1))) == 1  # builds the sorted index
    # Writes after it was built keep it in order.
    created["late"] = datetime(2026, 1, 3, tzinfo=UTC)
    coll.insert_one({"_id": "late", "meta": {"created": created["late"]}})
    coll.delete_one({"_id": "u00002"})
    del created["u00002"]
    coll.update_one({"_id": "u00005"}, {"$set": {"meta.created": datetime(2027, 1, 1)}})
    created["u00005"] = datetime(2027, 1, 1, tzinfo=UTC)
    expected = sorted(created, key=lambda i: (created[i], i))

    def refuse(*args: Any) -> Any:
        raise AssertionError("scanned or sorted the collection")

    monkeypatch.setattr(embedded, "_ordered", refuse)
    monkeypatch.setattr(embedded, "_scan", refuse)
    monkeypatch.setattr(embedded, "_matches", refuse)
    assert [d["_id"] for d in coll.find({}).sort(sort).skip(2000).limit(3)] == expected[2000:2003]
    descending = [("meta.created", -1), ("_id", -1)]
    assert [d["_id"] for d in coll.find({}).sort(descending).skip(10).limit(2)] == expected[::-1][10:12]
    last = expected[2002]
    after = keyset_range(sort, (created[last], last))
    assert [d["_id"] for d in coll.find(after).sort(sort).limit(2)] == expected[2003:2005]
    before = keyset_range(descending, (created[last], last))
    assert [d["_id"] for d in coll.find(before).sort(descending).limit(2)] == expected[2001:1999:-1]
    assert coll.count_documents({}) == 3000


def test_pages_and_the_count_of_live_documents_are_read_from_the_indexes_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coll = indexed("soft_many")
    coll.create_index([("meta.created", 1), ("_id", 1)])
    created = {f"u{n:05d}": datetime(2026, 1, 1 + n % 28, tzinfo=UTC) for n in range(3000)}
    deleted_at = datetime(2026, 2, 1, tzinfo=UTC)
    coll.insert_many(
        [
            {"_id": i, "meta": {"created": c}, **({DELETED: deleted_at} if n % 3 == 0 else {})}
            for n, (i, c) in enumerate(created.items())
        ]
    )
    sort = [("meta.created", 1), ("_id", 1)]
    assert len(list(coll.find(_LIVE).sort(sort).limit(1))) == 1  # builds the sorted index
    assert coll.count_documents(_LIVE) == 2000  # learns which documents are not live
    # Writes after both were built keep them up to date: soft deletes, a restore, a live insert, a
    # hard delete of a live document and of a soft-deleted one.
    coll.update_many({"_id": {"$in": ["u00001", "u00004"]}}, {"$set": {DELETED: deleted_at}})
    coll.update_one({"_id": "u00003"}, {"$unset": {DELETED: ""}})
    coll.insert_one({"_id": "late", "meta": {"created": datetime(2026, 1, 3, tzinfo=UTC)}})
    coll.delete_one({"_id": "u00002"})
    coll.delete_one({"_id": "u00006"})
    gone = {f"u{n:05d}" for n in range(0, 3000, 3)} - {"u00003"} | {"u00001", "u00002", "u00004", "u00006"}
    created["late"] = datetime(2026, 1, 3, tzinfo=UTC)
    live = sorted((i for i in created if i not in gone), key=lambda i: (created[i], i))

    def refuse(*args: Any) -> Any:
        raise AssertionError("scanned or sorted the collection")

    monkeypatch.setattr(embedded, "_ordered", refuse)
    monkeypatch.setattr(embedded, "_scan", refuse)
    monkeypatch.setattr(embedded, "_matches", refuse)
    assert coll.count_documents(_LIVE) == len(live) == 1999
    assert [d["_id"] for d in coll.find(_LIVE).sort(sort).limit(3)] == live[:3]
    assert [d["_id"] for d in coll.find(_LIVE).sort(sort).skip(1500).limit(3)] == live[1500:1503]
    descending = [("meta.created", -1), ("_id", -1)]
    assert [d["_id"] for d in coll.find(_LIVE).sort(descending).skip(10).limit(2)] == live[::-1][10:12]
    last = live[1502]
    after = keyset_range(sort, (created[last], last))
    for query in ({"$and": [_LIVE, after]}, {**after, **_LIVE}):
        assert [d["_id"] for d in coll.find(query).sort(sort).limit(2)] == live[1503:1505]
    before = {"$and": [_LIVE, keyset_range(descending, (created[last], last))]}
    assert [d["_id"] for d in coll.find(before).sort(descending).limit(2)] == live[1501:1499:-1]
    # Without the live condition, the soft-deleted documents are there.
    everything = sorted((i for i in created if i not in {"u00002", "u00006"}), key=lambda i: (created[i], i))
    assert [d["_id"] for d in coll.find({}).sort(sort).skip(1500).limit(3)] == everything[1500:1503]


@pytest.mark.parametrize("direction", [1, -1])
def test_a_sort_by_a_unique_field_pages_from_the_sorted_index_as_mongomock_does(direction: int) -> None:
    def build(coll: Any) -> Any:
        coll.create_index("_lc.userName", unique=True)
        names = [f"{'mbxa'[n % 4]}{n * 7 % 23}" for n in range(23)]
        coll.insert_many([{"_id": f"u{n:02d}", "_lc": {"userName": name}} for n, name in enumerate(names)])
        return coll

    fast, slow = build(indexed("unique")), build(plain("unique"))
    sort = [("_lc.userName", direction)]
    values = [d["_lc"]["userName"] for d in slow.find({}).sort(sort)]
    for value in [*values, "", "m", "zz"]:
        query = keyset_range(sort, (value,))
        for skip in (0, 2):
            assert list(fast.find(query).sort(sort).skip(skip).limit(4)) == list(
                slow.find(query).sort(sort).skip(skip).limit(4)
            )
    served = embedded._sorted_index(fast, sort)
    assert served is not None and served[0].usable() and served[2]
