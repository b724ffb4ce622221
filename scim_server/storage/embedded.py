"""The embedded store (mongomock), with a primary-key lookup.

mongomock scans every document of a collection for every query: its indexes only enforce uniqueness.
It does keep a collection's documents in a dict by ``_id``, though, and a query that names one string
``_id`` (every id the server writes is a string) can only match that document. :func:`install` makes
such queries, and the updates and deletes that select by them, look that document up instead of
scanning: a GET, PATCH, PUT or DELETE by id no longer costs time in proportion to the organization's
size, and no longer walks every document through the CPU caches, which made the server's own code
two to three times slower right after each scan.

The rest of the query is still checked against the document by mongomock's own matcher, so the result
is the one the scan would give (``tests/storage/test_embedded.py`` holds it to that). Every other query
scans as before. This patches a private method of mongomock (pinned in ``pyproject.toml``): once, for
the whole process, the first time an embedded client is made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mongomock.collection import Collection
from mongomock.filtering import filter_applies

# mongomock is untyped: its scan and its matcher, as they are.
_scan: Any = Collection._iter_documents
_matches: Any = filter_applies


def _iter_documents(self: Collection, filter: Any) -> Iterator[dict[str, Any]]:
    if isinstance(filter, Mapping):
        key = filter.get("_id")
        if type(key) is str:
            try:
                document = self._store[key]
            except KeyError:
                return iter(())
            return iter((document,) if _matches(filter, document) else ())
    return _scan(self, filter)  # type: ignore[no-any-return]


def install() -> None:
    """Give mongomock the primary-key lookup (idempotent)."""
    Collection._iter_documents = _iter_documents  # type: ignore[method-assign]


def installed() -> bool:
    return Collection._iter_documents is _iter_documents


__all__ = ["install", "installed"]
