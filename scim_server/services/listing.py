"""List and search requests (RFC 7644 §3.4.2 query parameters, §3.4.3 SearchRequest bodies).

Parameter names are matched case-insensitively (Entra sends ``startindex``). ``startIndex`` below 1
means 1; a negative ``count`` means 0 (§3.4.2.4); ``count`` is capped at the configured maximum.

``cursor`` (RFC 9865 §2, also in a SearchRequest body, §3) asks for cursor paging: empty for the first
page, then a ``nextCursor`` or ``previousCursor`` of a response. Without it, paging is by index, the
default. A request naming both ``startIndex`` and ``cursor`` asks for two methods at once: 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim_server.errors import InvalidSyntaxError, InvalidValueError
from scim_server.schema.catalog import SEARCH_REQUEST_SCHEMA


@dataclass(frozen=True, slots=True)
class SearchRequest:
    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int | None = None
    attributes: str | Sequence[str] | None = None
    excluded_attributes: str | Sequence[str] | None = None
    # None: index paging; "" or a cursor: cursor paging (RFC 9865).
    cursor: str | None = None


_NAMES = {
    "filter": "filter",
    "sortby": "sort_by",
    "sortorder": "sort_order",
    "startindex": "start_index",
    "count": "count",
    "attributes": "attributes",
    "excludedattributes": "excluded_attributes",
    "cursor": "cursor",
}


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidValueError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidValueError(f"{name} must be an integer")


def _sort_order(value: Any) -> bool:
    if not isinstance(value, str) or value.strip().lower() not in ("ascending", "descending"):
        raise InvalidValueError('sortOrder must be "ascending" or "descending"')
    return value.strip().lower() == "descending"


def _build(values: Mapping[str, Any], *, from_body: bool) -> SearchRequest:
    fields: dict[str, Any] = {}
    for key, value in values.items():
        name = _NAMES.get(key.lower())
        if name is None or value is None:
            continue
        if name in ("filter", "sort_by", "cursor") and not isinstance(value, str):
            raise InvalidValueError(f"{key} must be a string")
        if (
            name in ("attributes", "excluded_attributes")
            and from_body
            and not isinstance(value, str)
            and not (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            raise InvalidValueError(f"{key} must be an array of strings")
        if name == "sort_order":
            fields["descending"] = _sort_order(value)
        elif name == "start_index":
            fields["start_index"] = max(1, _integer("startIndex", value))
        elif name == "count":
            fields["count"] = max(0, _integer("count", value))
        elif name == "filter":
            fields["filter"] = value if value.strip() else None
        else:
            fields[name] = value
    if "cursor" in fields and "start_index" in fields:
        raise InvalidValueError(
            "startIndex and cursor ask for two paging methods at once: send one of them (RFC 9865)"
        )
    return SearchRequest(**fields)


def search_from_query(query: Mapping[str, str]) -> SearchRequest:
    """From URL query parameters (GET /Users?filter=...)."""
    return _build(query, from_body=False)


def search_from_body(body: Any) -> SearchRequest:
    """From a SearchRequest body (POST /Users/.search)."""
    if not isinstance(body, dict):
        raise InvalidSyntaxError("the request body must be a JSON object")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_REQUEST_SCHEMA not in schemas):
        raise InvalidSyntaxError(f"schemas must contain {SEARCH_REQUEST_SCHEMA}")
    return _build({k: v for k, v in body.items() if k != "schemas"}, from_body=True)
