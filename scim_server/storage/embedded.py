"""The embedded store (mongomock), with a primary-key lookup.

mongomock scans every document of a collection for every query: its indexes only enforce uniqueness.
It does keep a collection's documents in a dict by ``_id``, though, and a query that names one string
``_id`` (every id the server writes is a string) can only match that document. :func:`install` makes
such queries, and the updates and deletes that select by them, look that document up instead of
scanning: a GET, PATCH, PUT or DELETE by id no longer costs time in proportion to the organization's
size, and no longer walks every document through the CPU caches, which made the server's own code
two to three times slower right after each scan.

The other queries still scan, but a query that requires a field to equal a string (``{"m": id}``,
``{"_lc.userName": name}``, ``{"g": {"$in": [...]}}``, also inside a top-level ``$and``, as every
uniqueness check on insert and every ``userName eq`` probe is) first passes over the documents with
a plain walk of that path: a document whose value there is a string outside the wanted ones, or that
has no value there, cannot match and is dropped without running mongomock's matcher on it. Anything
the walk cannot decide (an array on the path, a type it does not know) is kept. At 1,000 users this
turns a 7 ms scan into a fraction of a millisecond.

Whatever survives is still checked against the whole query by mongomock's own matcher, so the result
is the one the scan would give (``tests/storage/test_embedded.py`` holds it to that, with a property
test over documents shaped to trip the walk). This patches a private method of mongomock (pinned in
``pyproject.toml``): once, for the whole process, the first time an embedded client is made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from mongomock.collection import Collection
from mongomock.filtering import filter_applies

# mongomock is untyped: its scan and its matcher, as they are.
_scan: Any = Collection._iter_documents
_matches: Any = filter_applies


# A path and the strings the value there must be one of.
_Wanted = tuple[tuple[str, ...], frozenset[str]]
# Leaf types that never equal a string and have nothing to walk into.
_NEVER_A_STRING = (bytes, int, float, datetime, type(None))
_MISSING = object()


def _wanted(filter: Mapping[str, Any], into: list[_Wanted]) -> None:
    """The string equalities ``filter`` requires (a necessary condition, never a sufficient one)."""
    for key, value in filter.items():
        if type(key) is not str:
            continue
        if key.startswith("$"):
            if key == "$and" and isinstance(value, list):
                for member in value:
                    if isinstance(member, Mapping):
                        _wanted(member, into)
            continue
        strings: frozenset[str] | None = None
        if type(value) is str:
            strings = frozenset((value,))
        elif isinstance(value, Mapping):
            if type(value.get("$eq")) is str:
                strings = frozenset((value["$eq"],))
            elif isinstance(listed := value.get("$in"), list) and all(type(v) is str for v in listed):
                strings = frozenset(listed)
        if strings is not None:
            into.append((tuple(key.split(".")), strings))


def _may_hold(document: Any, path: tuple[str, ...], strings: frozenset[str]) -> bool:
    """False only when the value at ``path`` certainly equals none of ``strings`` (nor holds one)."""
    value = document
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        else:  # nothing to walk into (no match), or an array or a type the walk does not know (maybe)
            return not (value is _MISSING or isinstance(value, _NEVER_A_STRING))
    if isinstance(value, str):
        return value in strings
    return not (value is _MISSING or isinstance(value, (*_NEVER_A_STRING, dict)))


def _kept(documents: list[Any], path: tuple[str, ...], strings: frozenset[str]) -> list[Any]:
    """The documents that may hold one of ``strings`` at ``path``: :func:`_may_hold`, inlined for
    the common case of plain dicts down to a string (a scan of 1,000 documents: 450 -> 150 µs)."""
    kept = []
    for document in documents:
        value = document
        for part in path:
            if type(value) is not dict:
                break
            value = value.get(part, _MISSING)
        else:
            if type(value) is str:
                if value in strings:
                    kept.append(document)
                continue
        if _may_hold(document, path, strings):
            kept.append(document)
    return kept


def _iter_documents(self: Collection, filter: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(filter, Mapping):
        return _scan(self, filter)  # type: ignore[no-any-return]
    key = filter.get("_id")
    if type(key) is str:
        try:
            document = self._store[key]
        except KeyError:
            return iter(())
        return iter((document,) if _matches(filter, document) else ())
    wanted: list[_Wanted] = []
    _wanted(filter, wanted)
    if not wanted or self._store.is_empty:
        return _scan(self, filter)  # type: ignore[no-any-return]
    # An unknown operator is refused even when the walk leaves no document, as on an empty collection.
    _matches(filter, {})
    store = self._store  # is_empty above has dropped expired documents, as documents would
    with store._rwlock.reader():  # what the documents generator holds, without a generator step per document
        candidates = list(store._documents.values())
    for path, strings in wanted:
        candidates = _kept(candidates, path, strings)
    return (d for d in candidates if _matches(filter, d))


def install() -> None:
    """Give mongomock the primary-key lookup (idempotent)."""
    Collection._iter_documents = _iter_documents  # type: ignore[method-assign]


def installed() -> bool:
    return Collection._iter_documents is _iter_documents


__all__ = ["install", "installed"]
