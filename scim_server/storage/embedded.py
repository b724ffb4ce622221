# mypy: allow-untyped-calls
# (this module subclasses mongomock's untyped classes and calls their methods)
"""The embedded store: mongomock, answering the server's queries without scanning a whole collection.

:func:`mongo_client` makes a mongomock client whose collections look a query naming one string ``_id``
up by key; answer a query requiring a string or integer equality (also ``$in`` of them, and inside a
top-level ``$and``) from per-path equality indexes that every write keeps up to date; answer a sorted
page whose sort is a declared index's keys and ``_id``, and whose filter is empty or a keyset range
(``storage/keyset.py``), alone or with the repository's condition for live (not soft-deleted)
documents, from a sorted index of positions that every write keeps in order; count an empty filter by
the store's length, and the live condition by the documents known not to be live; copy only the page a
limited cursor returns; and sort keys of one plain type with Python's ``<``. What an equality lookup
finds is still checked by mongomock's own matcher, and a sorted index answers only while it orders
every document as mongomock would, so every answer, order and error is the one plain mongomock gives.
Why: mongomock scans every document for every query (its indexes only enforce uniqueness), so a
request's cost would grow with the organization's size.

The lookups are subclasses overriding private mongomock methods, used by this client only (no class
of mongomock is changed), and only on the mongomock release they were written against
(:func:`lookups_fit`); on another the client is plain mongomock, with one logged warning.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import logging
import operator
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from importlib import metadata
from typing import Any, TypeVar

import mongomock
from mongomock import helpers
from mongomock.collection import Collection, Cursor
from mongomock.database import Database
from mongomock.filtering import filter_applies, resolve_sort_key
from mongomock.helpers import hashdict
from mongomock.store import CollectionStore, DatabaseStore, ServerStore

from scim_server.storage.documents import DELETED
from scim_server.storage.keyset import keyset_range

logger = logging.getLogger("scim_server.storage")

# The releases the subclasses below were written against: mongomock, whose private methods they
# override, and mongomock-motor, whose wrappers of a collection's methods must call them.
WRITTEN_FOR = {"mongomock": "4.3.0", "mongomock-motor": "0.0.36"}


@functools.cache
def lookups_fit() -> bool:
    """Whether the installed releases are :data:`WRITTEN_FOR`; logs one warning (per process) when not."""
    installed = {name: _installed(name) for name in WRITTEN_FOR}
    if installed == WRITTEN_FOR:
        return True
    logger.warning(
        "the embedded store's lookups were written for %s, but the installed releases are %s: running "
        "plain mongomock (the same answers, slower as an organization grows)",
        _releases(WRITTEN_FOR),
        _releases(installed),
    )
    return False


def _installed(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # importable without its distribution's metadata
        return "unknown"


def _releases(versions: Mapping[str, str]) -> str:
    return " and ".join(f"{name} {version}" for name, version in versions.items())


def mongo_client(**options: Any) -> Any:
    """A mongomock ``MongoClient(**options)``: with the lookups when :func:`lookups_fit`, else plain."""
    return _Client(**options) if lookups_fit() else mongomock.MongoClient(**options)


# mongomock is untyped: its scan, its matcher, its sort keys and its projection, as they are.
_scan: Any = Collection._iter_documents
_matches: Any = filter_applies
_sort_key: Any = resolve_sort_key
_project: Any = Collection._copy_only_fields


# A path and the values (strings, integers) the value there must be one of.
_Wanted = tuple[tuple[str, ...], frozenset[Any]]
# Leaf types with nothing to walk into.
_LEAVES = (bytes, int, float, datetime, type(None))
# Leaf types that never equal a string or an integer.
_NEVER_A_KEY = (bytes, datetime, type(None))
# The types of the values an equality may be looked up by: strings, and integers (an audit record's
# sequence number, whose uniqueness is checked on every insert). Not bool, a BSON type of its own.
_KEY_TYPES = (str, int)
_MISSING = object()


def _is_key(value: Any) -> bool:
    return type(value) in _KEY_TYPES


# The repository's condition for a live resource (``storage/repository.py``): no deletion mark.
_LIVE = {DELETED: None}


def _is_live(document: Any) -> bool:
    """Whether ``document`` matches :data:`_LIVE`, as mongomock's matcher finds: a deletion mark, a
    datetime, never equals null, and a missing or null one always does; anything else there is left
    to the matcher."""
    mark = document.get(DELETED)
    return mark is None or (type(mark) is not datetime and bool(_matches(_LIVE, document)))


def _live_part(spec: Mapping[str, Any]) -> tuple[bool, Mapping[str, Any]]:
    """Whether ``spec`` is :data:`_LIVE` and something else, and that something else (``spec`` when
    it is not): the condition beside the other keys (``{_deleted: None, ...}``), or as a member of a
    top-level ``$and`` of two (``{$and: [{_deleted: None}, ...]}``), the two ways the repository
    adds it to a query."""
    if DELETED in spec and spec[DELETED] is None:
        return True, {key: value for key, value in spec.items() if key != DELETED}
    members = spec.get("$and") if len(spec) == 1 else None
    if isinstance(members, list) and len(members) == 2 and _LIVE in members:
        other = members[1] if members[0] == _LIVE else members[0]
        if isinstance(other, Mapping):
            return True, other
    return False, spec


def _wanted(filter: Mapping[str, Any], into: list[_Wanted]) -> None:
    """The string and integer equalities ``filter`` requires (a necessary condition, never a
    sufficient one)."""
    for key, value in filter.items():
        if type(key) is not str:
            continue
        if key.startswith("$"):
            if key == "$and" and isinstance(value, list):
                for member in value:
                    if isinstance(member, Mapping):
                        _wanted(member, into)
            continue
        wanted: frozenset[Any] | None = None
        if _is_key(value):
            wanted = frozenset((value,))
        elif isinstance(value, Mapping):
            if _is_key(value.get("$eq")):
                wanted = frozenset((value["$eq"],))
            elif isinstance(listed := value.get("$in"), list) and all(_is_key(v) for v in listed):
                wanted = frozenset(listed)
        if wanted is not None:
            into.append((tuple(key.split(".")), wanted))


# The walk cannot tell: an array on the path (matched element by element), or a type it does not know.
_UNSURE = object()
_NO_STRING = object()  # certainly equal to no string or integer: nothing there, or another type


def _string_at(document: Any, path: tuple[str, ...]) -> Any:
    """The string or number a document holds at ``path`` (through plain dicts), else
    :data:`_NO_STRING` or :data:`_UNSURE`. A document can only match an equality with a string or
    integer ``s`` at ``path`` if this is ``s`` (a number equal to it: ``1.0`` for ``1``, and
    ``True`` too, which the matcher then refuses) or :data:`_UNSURE`."""
    value = document
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif value is _MISSING or isinstance(value, _LEAVES):
            return _NO_STRING  # nothing to walk into
        else:
            return _UNSURE
    if isinstance(value, str | int | float):
        return value
    if value is _MISSING or isinstance(value, (*_NEVER_A_KEY, dict)):
        return _NO_STRING
    return _UNSURE


class _PathIndex:
    """For one path of one collection: store key by the string each document holds there, and the
    keys of the documents :func:`_string_at` cannot decide (always candidates)."""

    __slots__ = ("by_string", "held", "path", "unsure")

    def __init__(self, path: tuple[str, ...], documents: Mapping[Any, Any]) -> None:
        self.path = path
        self.by_string: dict[Any, set[Any]] = {}
        self.unsure: set[Any] = set()
        self.held: dict[Any, Any] = {}
        for key, document in documents.items():
            self.put(key, document)

    def put(self, key: Any, document: Any) -> None:
        self.drop(key)
        held = self.held[key] = _string_at(document, self.path)
        if held is _UNSURE:
            self.unsure.add(key)
        elif held is not _NO_STRING:
            self.by_string.setdefault(held, set()).add(key)

    def drop(self, key: Any) -> None:
        held = self.held.pop(key, _NO_STRING)
        if held is _UNSURE:
            self.unsure.discard(key)
        elif held is not _NO_STRING:
            keys = self.by_string[held]
            keys.discard(key)
            if not keys:
                del self.by_string[held]

    def candidates(self, strings: frozenset[Any]) -> set[Any]:
        found = set(self.unsure)
        for string in strings:
            found.update(self.by_string.get(string, ()))
        return found


def _kind(value: Any) -> int | None:
    """The rank of a sort-key value that a sorted index orders as mongomock does, with Python's own
    ``<`` (strings, numbers, naive dates, aware dates: each a kind of its own, so values of two kinds
    are never compared); None for any other value (missing, null, bool, NaN, arrays, documents)."""
    kind = type(value)
    if kind is str:
        return 1
    if kind is int or (kind is float and value == value):
        return 2
    if kind is datetime:
        return 3 if value.tzinfo is None else 4
    return None


class _SortedIndex:
    """For the keys of one declared index of one collection, ``(f1, ..., fk, _id)`` all ascending:
    every document's position ``(kind(v1), v1, ..., kind(vk), vk, _id)``, kept in order, so that a
    sorted page is a slice and a keyset range a bisection (``storage/keyset.py``); and, apart, the
    positions of the live documents alone (:func:`_is_live`), so that a page of live resources is a
    slice too, however many soft-deleted documents lie among them.

    Documents whose values it cannot order as mongomock does (:func:`_kind`; an ``_id`` that is not a
    string) are only counted in ``odd``; while any is, or while one key holds values of two kinds,
    the index answers nothing (:meth:`usable`) and mongomock sorts, as it would without it."""

    __slots__ = ("dead", "entries", "fields", "held", "kinds", "live", "odd")

    def __init__(self, fields: tuple[tuple[str, ...], ...], documents: Mapping[Any, Any]) -> None:
        self.fields = fields
        self.held: dict[Any, tuple[Any, ...]] = {}
        self.odd: set[Any] = set()
        self.dead: set[Any] = set()
        self.kinds: list[dict[int, int]] = [{} for _ in fields]
        entries = []
        for key, document in documents.items():
            entry = self._entry(key, document)
            if entry is None:
                self.odd.add(key)
            else:
                self._hold(key, entry, document)
                entries.append(entry)
        entries.sort()
        self.entries: list[tuple[Any, ...]] = entries
        dead = self.dead
        self.live: list[tuple[Any, ...]] = [e for e in entries if e[-1] not in dead] if dead else entries[:]

    def _entry(self, key: Any, document: Any) -> tuple[Any, ...] | None:
        if type(key) is not str:
            return None
        parts: list[Any] = []
        for path in self.fields:
            value = document
            for part in path:
                value = value.get(part, _MISSING) if value.__class__ is dict else _MISSING
            kind = _kind(value)
            if kind is None:
                return None
            parts += (kind, value)
        parts.append(key)
        return tuple(parts)

    def _hold(self, key: Any, entry: tuple[Any, ...], document: Any) -> bool:
        """Hold ``entry`` for ``key``; whether the document is live."""
        self.held[key] = entry
        for kinds, kind in zip(self.kinds, entry[0:-1:2], strict=True):
            kinds[kind] = kinds.get(kind, 0) + 1
        if _is_live(document):
            return True
        self.dead.add(key)
        return False

    def put(self, key: Any, document: Any) -> None:
        self.drop(key)
        entry = self._entry(key, document)
        if entry is None:
            self.odd.add(key)
            return
        if self._hold(key, entry, document):
            bisect.insort(self.live, entry)
        bisect.insort(self.entries, entry)

    def drop(self, key: Any) -> None:
        if key in self.odd:
            self.odd.discard(key)
            return
        entry = self.held.pop(key, None)
        if entry is None:
            return
        del self.entries[bisect.bisect_left(self.entries, entry)]
        if key in self.dead:
            self.dead.discard(key)
        else:
            del self.live[bisect.bisect_left(self.live, entry)]
        for kinds, kind in zip(self.kinds, entry[0:-1:2], strict=True):
            kinds[kind] -= 1
            if not kinds[kind]:
                del kinds[kind]

    def usable(self) -> bool:
        return not self.odd and all(len(kinds) <= 1 for kinds in self.kinds)

    def probe(self, values: Any) -> tuple[Any, ...] | None:
        """A keyset position (the key values, then an id) as an entry, or None when a value is not
        of the kind its key holds (mongomock's range operators would then compare across types)."""
        *keys, identifier = values
        if type(identifier) is not str or len(keys) != len(self.fields):
            return None
        parts: list[Any] = []
        for kinds, value in zip(self.kinds, keys, strict=True):
            kind = _kind(value)
            if kind is None or (kinds and kind not in kinds):
                return None
            parts += (kind, value)
        parts.append(identifier)
        return tuple(parts)


class _Indexes:
    """A collection store's path and sorted indexes, and the keys of its documents that are not live
    (:func:`_is_live`; kept once a count of live documents has asked for them), valid for one
    documents dict (``drop`` replaces it)."""

    __slots__ = ("dead", "documents", "paths", "sorted")

    def __init__(self, documents: Any) -> None:
        self.documents = documents
        self.paths: dict[tuple[str, ...], _PathIndex] = {}
        self.sorted: dict[tuple[tuple[str, ...], ...], _SortedIndex] = {}
        self.dead: set[Any] | None = None

    def put(self, key: Any, document: Any) -> None:
        for index in self.paths.values():
            index.put(key, document)
        for ordered in self.sorted.values():
            ordered.put(key, document)
        if self.dead is not None:
            if _is_live(document):
                self.dead.discard(key)
            else:
                self.dead.add(key)

    def drop(self, key: Any) -> None:
        for index in self.paths.values():
            index.drop(key)
        for ordered in self.sorted.values():
            ordered.drop(key)
        if self.dead is not None:
            self.dead.discard(key)

    def live_count(self) -> int:
        """How many documents are live, without a walk once the dead ones are known."""
        if self.dead is None:
            self.dead = {key for key, document in self.documents.items() if not _is_live(document)}
        return len(self.documents) - len(self.dead)


def _indexes_of(store: _CollectionStore, *, create: bool) -> _Indexes | None:
    indexes = store._lookup_indexes
    if indexes is not None and indexes.documents is not store._documents:
        indexes = store._lookup_indexes = None  # the collection was dropped: a new documents dict
    if indexes is None and create:
        indexes = store._lookup_indexes = _Indexes(store._documents)
    return indexes


# mongomock's writes and uniqueness check, as they are.
_store_set: Any = CollectionStore.__setitem__
_store_delete: Any = CollectionStore.__delitem__
_ensure_uniques: Any = Collection._ensure_uniques


class _CollectionStore(CollectionStore):
    """A collection's documents, and their equality indexes once a query has asked for one: every
    document mongomock stores passes through ``__setitem__`` (inserts, upserts, replacements,
    rollbacks) and every one it removes through ``__delitem__`` (deletes, TTL expiry)."""

    _lookup_indexes: _Indexes | None = None

    def __setitem__(self, key: Any, document: Any) -> None:
        _store_set(self, key, document)
        indexes = _indexes_of(self, create=False)
        if indexes is not None:
            indexes.put(key, document)

    def __delitem__(self, key: Any) -> None:
        _store_delete(self, key)
        indexes = _indexes_of(self, create=False)
        if indexes is not None:
            indexes.drop(key)


def _reindexed_ensure_uniques(self: Collection, document: Any) -> None:
    # A document changed in place by an update: reindexed before its uniqueness check looks it up.
    indexes = _indexes_of(self._store, create=False)
    if indexes is not None:
        key = document["_id"]
        indexes.put(hashdict(key) if isinstance(key, dict) else key, document)
    _ensure_uniques(self, document)


def _iter_documents(self: Collection, filter: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(filter, Mapping):
        return _scan(self, filter)  # type: ignore[no-any-return]
    if not filter:
        # Every document (a list, its count): mongomock's matcher accepts each one for an empty filter.
        return iter(list(self._store.documents))
    if len(filter) == 1 and filter.get(DELETED, _MISSING) is None:
        # Every live document (a list of live resources, its count: the repository's exclusion of
        # soft-deleted ones, and nothing else).
        return iter([d for d in self._store.documents if _is_live(d)])
    key = filter.get("_id")
    if type(key) is str:
        try:
            document = self._store[key]
        except KeyError:
            return iter(())
        return iter((document,) if _matches(filter, document) else ())
    wanted: list[_Wanted] = []
    _wanted(filter, wanted)
    store = self._store
    if not wanted or store.is_empty:
        return _scan(self, filter)  # type: ignore[no-any-return]
    # An unknown operator is refused even when no document is a candidate, as on an empty collection.
    _matches(filter, {})
    indexes = _indexes_of(store, create=True)
    assert indexes is not None
    documents = store._documents  # is_empty above has dropped expired documents, as documents would
    candidates: set[Any] | None = None
    with store._rwlock.reader():  # what mongomock's own walk over the documents holds
        for path, strings in wanted:
            index = indexes.paths.get(path)
            if index is None:
                index = indexes.paths[path] = _PathIndex(path, documents)
            found = index.candidates(strings)
            if candidates is None or len(found) < len(candidates):
                candidates = found
        assert candidates is not None
        if len(candidates) > 1:  # in the store's order, as the scan gives them
            kept = [d for k, d in documents.items() if k in candidates]
        else:
            kept = [documents[k] for k in candidates if k in documents]
    return (d for d in kept if _matches(filter, d))


# mongomock's cursor, as it is: it copies every matching document before it skips and limits.
_compute_results: Any = Cursor._compute_results
# mongomock's sorted walk, as it is: each comparison goes through its BSON ordering in Python.
_get_dataset: Any = Collection._get_dataset
# Key types whose values mongomock's BSON ordering compares with Python's own ``<`` (one BSON type,
# compared as Python compares it): strings, dates, numbers (bool is a BSON type of its own).
_NATIVE_KEYS = (
    frozenset({str}),
    frozenset({datetime}),
    frozenset({int}),
    frozenset({float}),
    frozenset({int, float}),
)


def _ordered(self: Collection, spec: Any, sort: Any) -> list[Any] | None:
    """The stored documents ``spec`` matches, uncopied, in the order mongomock's sorted walk gives them;
    None for a sort this leaves to mongomock (``$natural``, a dict).

    mongomock sorts by ``(1, BsonComparable(value))``, whose ``<`` is ``value < other`` for two values
    of one of the types of ``_NATIVE_KEYS``, so when every document holds a value of one of them at the
    sort key (created times and ids: a list of users), Python compares them directly: every comparison
    gives what it gives there, and the stable sorts end in the same order, without a BSON comparison
    key per document. Any other key (missing in some document, arrays, mixed types) is sorted by
    mongomock's own key. The documents come from this module's
    ``_iter_documents``, not through mongomock-motor's per-collection wrapper of it, which only turns
    ``str`` subclasses in a filter into plain strings (the server's filters hold plain ones).
    """
    if sort and (isinstance(sort, dict) or any(key.startswith("$") for key, _ in sort)):
        return None
    documents = list(_iter_documents(self, spec))
    for key, direction in reversed(sort or ()):
        values = _plain_values(key, documents)
        order = None
        if values is not None and frozenset(map(type, values)) in _NATIVE_KEYS:
            try:
                order = sorted(range(len(values)), key=values.__getitem__, reverse=direction < 0)
            except TypeError:  # dates with and without a time zone
                order = None
        if order is None:
            documents.sort(key=lambda document: _sort_key(key, document), reverse=direction < 0)
        else:
            documents = [documents[i] for i in order]
    return documents


def _get_sorted_dataset(
    self: Collection, spec: Any, sort: Any, fields: Any, as_class: Any
) -> Iterator[dict[str, Any]]:
    """mongomock's walk (each document copied with the projection as it is yielded), over
    :func:`_ordered`'s documents."""
    documents = _ordered(self, spec, sort) if sort else None
    if documents is None:
        yield from _get_dataset(self, spec, sort, fields, as_class)
        return
    for document in documents:
        yield _project(self, document, fields, as_class)


def _plain_values(key: str, documents: list[Any]) -> list[Any] | None:
    """The value each document holds at ``key`` (a dotted path) when every one holds it through plain
    objects, as mongomock's key resolution finds it there; else None."""
    parts = key.split(".")
    values = []
    for document in documents:
        value = document
        for part in parts:
            if value.__class__ is not dict:
                return None  # an array on the path (or a scalar): mongomock's resolution decides
            value = value.get(part, _MISSING)
        if value is _MISSING:
            return None
        values.append(value)
    return values


def _unique(index: Mapping[str, Any], field: str) -> bool:
    """Whether ``index`` makes ``field`` unique in every document (not sparse, not partial)."""
    return (
        [tuple(key) for key in index.get("key", ())] == [(field, 1)]
        and bool(index.get("unique"))
        and not index.get("sparse")
        and index.get("partialFilterExpression") is None
    )


def _sorted_index(self: Collection, sort: Any) -> tuple[_SortedIndex, int, bool] | None:
    """The sorted index serving ``sort``, its direction, and whether the sort is by one unique field:
    a sort ``(f1, ..., fk, _id)`` in one direction whose fields are those of an index the collection
    declares (``_id`` alone: the primary key), or a sort by one field a unique index holds (no two
    documents share a value there, so ``_id`` never breaks a tie), on a store without TTL indexes
    (whose expiries pass no write hook)."""
    if not sort or isinstance(sort, dict):
        return None
    directions = {direction for _, direction in sort}
    if len(directions) != 1 or not directions <= {1, -1}:
        return None
    store = self._store
    if store._ttl_indexes:
        return None
    unique = len(sort) == 1 and sort[0][0] != "_id"
    if unique:
        if not any(_unique(index, sort[0][0]) for index in store.indexes.values()):
            return None
        fields: tuple[str, ...] = (sort[0][0],)
    elif sort[-1][0] != "_id":
        return None
    else:
        fields = tuple(field for field, _ in sort[:-1])
        if fields and not any(
            [tuple(key) for key in index.get("key", ())] == [*((f, 1) for f in fields), ("_id", 1)]
            for index in store.indexes.values()
        ):
            return None
    indexes = _indexes_of(store, create=True)
    assert indexes is not None
    paths = tuple(tuple(field.split(".")) for field in fields)
    index = indexes.sorted.get(paths)
    if index is None:
        with store._rwlock.reader():
            index = indexes.sorted[paths] = _SortedIndex(paths, store._documents)
    return index, directions.pop(), unique


# A sorted index entry's value, without its id (a sort by one unique field).
_VALUE = operator.itemgetter(0, 1)


def _keyset_position(spec: Any, sort: Any) -> tuple[Any, ...] | None:
    """The position ``spec`` ranges after, when it is exactly :func:`keyset_range` of ``sort`` at
    some position (with values other than None); else None."""
    found: dict[str, Any] = {}

    def collect(condition: Any) -> None:
        if not isinstance(condition, Mapping):
            return
        for field, test in condition.items():
            if field == "$or" and isinstance(test, list):
                for branch in test:
                    collect(branch)
            elif isinstance(test, Mapping):
                for operator in ("$gt", "$lt", "$eq"):
                    if test.get(operator) is not None and field not in found:
                        found[field] = test[operator]

    collect(spec)
    try:
        position = tuple(found[field] for field, _ in sort)
        return position if keyset_range(sort, position) == spec else None
    except (KeyError, TypeError, ValueError):
        return None


def _indexed_page(self: Collection, spec: Any, sort: Any, skip: int, limit: int) -> list[Any] | None:
    """The stored documents (uncopied) of the page ``skip``/``limit`` of a find whose sort a sorted
    index serves (:func:`_sorted_index`) and whose filter is empty or a keyset range of that sort,
    either of them alone or with the live condition (:func:`_live_part`): a bisection and a slice,
    whatever the collection's size. None for any other find, and while
    the index cannot order every document (:meth:`_SortedIndex.usable`)."""
    if not isinstance(spec, Mapping) or limit <= 0:
        return None
    served = _sorted_index(self, sort)
    if served is None:
        return None
    index, direction, unique = served
    if not index.usable():
        return None
    live, spec = _live_part(spec)
    entries = index.live if live else index.entries
    if not spec:
        start, end = 0, len(entries)
    else:
        position = _keyset_position(spec, sort)
        # By a unique field the position has no id: the value alone, compared without the id.
        probe = None if position is None else index.probe((*position, "") if unique else position)
        if probe is None:
            return None
        value = _VALUE if unique else None
        if direction > 0:
            start, end = (
                bisect.bisect_right(entries, probe[:-1] if unique else probe, key=value),
                len(entries),
            )
        else:
            start, end = 0, bisect.bisect_left(entries, probe[:-1] if unique else probe, key=value)
    if direction > 0:
        chosen = entries[start + skip : start + skip + limit]
    else:
        stop = max(start, end - skip)
        chosen = entries[max(start, stop - limit) : stop][::-1]
    documents = self._store._documents
    with self._store._rwlock.reader():
        return [documents[entry[-1]] for entry in chosen]


def _compute_page(self: Cursor, with_limit_and_skip: bool = False) -> list[Any]:
    """The documents a limited cursor returns, copied alone (mongomock copies, and makes time-zone
    aware, every document the query matches before it skips and limits). The matching documents are
    still all found and sorted (:func:`_ordered`); only the page's are copied. Kept per cursor, as
    mongomock keeps its results, for the cursor's next calls."""
    limit = self._limit
    if not (with_limit_and_skip and limit):
        return _compute_results(self, with_limit_and_skip)  # type: ignore[no-any-return]
    key = (self._factory, self._skip, limit)
    page: tuple[Any, list[Any]] | None = self.__dict__.get("_scim_page")
    if page is None or page[0] != key:
        # A skip past sys.maxsize (a hostile startIndex) would be refused by islice: nothing lies there.
        skip, stop = min(self._skip, sys.maxsize), min(self._skip + abs(limit), sys.maxsize)
        factory = self._factory
        # The cursor's collection's _get_dataset, which mongomock-motor wraps (to normalize strings).
        method: Any = factory.func
        method = getattr(method, "__wrapped__", method)
        ordered = None
        if getattr(method, "__func__", None) is _get_sorted_dataset and not factory.keywords:
            collection = method.__self__
            spec, sort, fields, as_class = factory.args
            ordered = _indexed_page(collection, spec, sort, skip, stop - skip)
            if ordered is not None:
                skip, stop = 0, len(ordered)
            else:
                ordered = _ordered(collection, spec, sort)
        documents: Iterator[Any]
        if ordered is None:
            documents = itertools.islice(factory(), skip, stop)
        else:
            documents = (_project(collection, d, fields, as_class) for d in ordered[skip:stop])
        if self.collection.codec_options.tz_aware:
            aware: Any = helpers.make_datetime_timezone_aware_in_document
            results = [aware(d) for d in documents]
        else:
            results = list(documents)
        page = self.__dict__["_scim_page"] = (key, results)
    return page[1]


_T = TypeVar("_T")


def _adopt(instance: Any, subclass: type[_T]) -> _T:
    """``instance``, made by mongomock with its own class, as an instance of this module's
    ``subclass`` of that class (which adds methods only, so the state mongomock made is kept).
    Anything else (another subclass, as GridFS's cursors) is left as it is."""
    if type(instance) in subclass.__bases__:
        instance.__class__ = subclass
    return instance  # type: ignore[no-any-return]


class _DatabaseStore(DatabaseStore):
    """A database's collection stores, each one of this module's: every collection reaches its store
    through ``__getitem__`` (``Collection._store``; a rename too, before it moves one), which adopts a
    store as mongomock makes it."""

    def __getitem__(self, name: str) -> _CollectionStore:
        try:
            return self._collections[name]  # type: ignore[no-any-return]
        except KeyError:
            return _adopt(super().__getitem__(name), _CollectionStore)


class _ServerStore(ServerStore):
    def __getitem__(self, name: str) -> _DatabaseStore:
        try:
            return self._databases[name]  # type: ignore[no-any-return]
        except KeyError:
            return _adopt(super().__getitem__(name), _DatabaseStore)


class _Cursor(Cursor):
    _compute_results = _compute_page

    def clone(self) -> _Cursor:
        return _adopt(super().clone(), _Cursor)


class _Collection(Collection):
    _iter_documents = _iter_documents
    _get_dataset = _get_sorted_dataset
    _ensure_uniques = _reindexed_ensure_uniques

    def count_documents(self, filter: Any, **kwargs: Any) -> int:
        """The count of an empty filter (a list's ``totalResults``) without a walk over the
        documents: every document matches it, as mongomock's own count finds; and of the live
        condition alone (a list of live resources) from the documents known not to be live."""
        store = self._store
        if isinstance(filter, Mapping) and not kwargs and not store._ttl_indexes:
            if not filter:
                return len(store._documents)
            if filter == _LIVE:
                indexes = _indexes_of(store, create=True)
                assert indexes is not None
                with store._rwlock.reader():
                    return indexes.live_count()
        return super().count_documents(filter, **kwargs)  # type: ignore[no-any-return]

    def find(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _adopt(super().find(*args, **kwargs), _Cursor)

    def with_options(self, *args: Any, **kwargs: Any) -> _Collection:
        return _adopt(super().with_options(*args, **kwargs), _Collection)


class _Database(Database):
    def get_collection(self, *args: Any, **kwargs: Any) -> _Collection:
        return _adopt(super().get_collection(*args, **kwargs), _Collection)

    def with_options(self, *args: Any, **kwargs: Any) -> _Database:
        return _adopt(super().with_options(*args, **kwargs), _Database)


# mongomock's stubs type its client as pymongo's (generic, with typed methods); the rest is untyped.
_MongoClient: Any = mongomock.MongoClient


class _Client(_MongoClient):  # type: ignore[misc]
    """A mongomock client whose databases, collections, cursors and stores are this module's."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options, _store=_ServerStore())

    def get_database(self, *args: Any, **kwargs: Any) -> _Database:
        return _adopt(super().get_database(*args, **kwargs), _Database)


__all__ = ["WRITTEN_FOR", "lookups_fit", "mongo_client"]
