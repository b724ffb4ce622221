"""Keyset ranges: "the documents after this one in this order", as a query (RFC 9865 cursor pages).

A page read by key instead of by offset: the query selects what lies strictly beyond a position (the
values of the sort fields of the last document read) in a sort order, and the store reads ``limit``
documents from there. With the sort served by an index, that is a range scan whatever the page's
depth, and a walk from page to page neither skips nor repeats a document that stays in the store,
whatever is inserted or deleted meanwhile (an offset shifts under both).

Pure: no driver, no I/O. The embedded store recognizes these queries (``storage/embedded.py``), so
their shape lives here, in one place, for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SortSpec = Sequence[tuple[str, int]]


def _beyond(field: str, direction: int, value: Any) -> list[dict[str, Any]]:
    """The conditions (any of) for ``field`` to lie strictly beyond ``value`` in ``direction``.

    MongoDB orders a missing field and null alike, before every other value: ascending, everything
    with a value lies beyond null; descending, null lies beyond every value and nothing beyond it.
    ``_id`` is never missing.
    """
    if field == "_id":
        return [{field: {"$gt" if direction > 0 else "$lt": value}}]
    if direction > 0:
        return [{field: {"$ne": None}}] if value is None else [{field: {"$gt": value}}]
    if value is None:
        return []
    return [{field: {"$lt": value}}, {field: {"$eq": None}}]


def keyset_range(sort: SortSpec, key: Sequence[Any]) -> dict[str, Any]:
    """The query selecting the documents strictly after ``key`` (one value per sort field, in order)
    in the order ``sort``: for sort (k, _id) ascending and key (v, i), ``{$or: [{k: {$gt: v}}, {k:
    {$eq: v}, _id: {$gt: i}}]}``. Values stand in ``$eq``/``$gt``/``$lt`` operands only, so no value
    is ever read as an operator. A sort must end in a field unique per document (``_id`` or a unique
    attribute) for the order to be total.
    """
    if len(key) != len(sort) or not sort:
        raise ValueError("a keyset position needs one value per sort field")
    branches: list[dict[str, Any]] = []
    equal: dict[str, Any] = {}
    for (field, direction), value in zip(sort, key, strict=True):
        for condition in _beyond(field, direction, value):
            branches.append({**equal, **condition})
        equal[field] = {"$eq": value}
    if len(branches) == 1:
        return branches[0]
    return {"$or": branches} if branches else {"_id": {"$in": []}}


def reversed_sort(sort: SortSpec) -> list[tuple[str, int]]:
    """The same fields in the opposite direction: a page read backwards."""
    return [(field, -direction) for field, direction in sort]


_MISSING = object()


def sort_key(document: Mapping[str, Any], sort: SortSpec) -> tuple[Any, ...] | None:
    """The values ``document`` holds at the sort fields (dotted paths; missing as None), or None when
    one path runs through an array (a multi-valued attribute, which no single position orders)."""
    values: list[Any] = []
    for field, _ in sort:
        value: Any = document
        for part in field.split("."):
            if isinstance(value, list):
                return None
            value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
            if value is _MISSING:
                break
        if value is _MISSING:
            value = None
        if isinstance(value, list | Mapping):
            return None
        values.append(value)
    return tuple(values)


__all__ = ["SortSpec", "keyset_range", "reversed_sort", "sort_key"]
