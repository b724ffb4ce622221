"""Queries at the server root (RFC 7644 §3.4.2.1, §3.4.3): Users and Groups searched together.

The filter is parsed once and narrowed per resource type as §3.4.2.1 asks of a query spanning
several types: "for filtered attributes that are not part of a particular resource type, the service
provider SHALL treat the attribute as if there is no attribute value. For example, a presence or
comparison filter for an undefined attribute evaluates as false." So ``userName eq "x"`` is false for
every Group (and Groups are not queried at all), ``not (userName pr)`` is true for every Group, and
an attribute that no type defines is a 400 ``invalidFilter``, as at a resource endpoint. Each type's
narrowed filter then takes the path of that type's own query (``ResourceService.search``).

The combined order, one total order over both types, stable across pages:

* without ``sortBy``: ``meta.created``, then the resource type's name, then ``id`` (ascending);
* with ``sortBy``: the attribute's value, then the resource type's name, then ``id``, all reversed
  by ``sortOrder=descending``. Values compare as each type's own list compares them: caseExact=false
  strings case-insensitively, a multi-valued attribute by its smallest value (largest when
  descending), and a resource without a value (also every resource of a type without the attribute)
  before those with one when ascending, after them when descending. A ``sortBy`` no type defines is
  a 400 ``invalidValue``.

Paging (``startIndex``, ``count``) runs over the combined order; ``totalResults`` counts both types.
Each type's first ``startIndex + count - 1`` results in that order are read (in pages of the
configured maximum) and merged, so a deep page costs what a deep index page of one type costs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scim_server.compiler.sort import compile_sort
from scim_server.errors import InvalidFilterError, InvalidPathError, InvalidValueError
from scim_server.filters import (
    And,
    AttrPath,
    Compare,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
    parse_attr_path,
    parse_filter,
)
from scim_server.filters.render import render_filter
from scim_server.schema.catalog import ResourceType
from scim_server.schema.layout import SHADOW
from scim_server.services.cursors import (
    INVALID_CURSOR_DETAIL,
    CursorScope,
    InvalidCountError,
    InvalidCursorError,
    Position,
)
from scim_server.services.listing import SearchRequest
from scim_server.services.resources import ResourceService, StoredResource
from scim_server.settings import Settings


@dataclass(frozen=True, slots=True)
class Found:
    """One resource of a root query, with the service of its type."""

    service: ResourceService
    resource: StoredResource


@dataclass(frozen=True, slots=True)
class RootResult:
    total: int
    # None for a page by cursor (RFC 9865), which has no index.
    start_index: int | None
    resources: list[Found]
    next_cursor: str | None = None


def _defines(resource_type: ResourceType, path: AttrPath) -> bool:
    return resource_type.resolve(path.uri, path.attr, path.sub_attr) is not None


def narrow(node: Filter, resource_type: ResourceType) -> Filter | bool:
    """The filter as it applies to one resource type: every comparison, presence test or value path
    on an attribute the type does not define is false (RFC 7644 §3.4.2.1), and the logic is folded
    around it. ``True``/``False`` when the whole filter is constant for the type."""
    if isinstance(node, Compare | Present | ValuePath):
        return node if _defines(resource_type, node.path) else False
    if isinstance(node, Not):
        term = narrow(node.term, resource_type)
        return (not term) if isinstance(term, bool) else Not(term)
    absorbing = isinstance(node, Or)  # true absorbs an or, false an and
    kept: list[Filter] = []
    for term in node.terms:
        narrowed = narrow(term, resource_type)
        if narrowed is absorbing:
            return absorbing
        if not isinstance(narrowed, bool):
            kept.append(narrowed)
    if not kept:
        return not absorbing
    if len(kept) == 1:
        return kept[0]
    return Or(tuple(kept)) if absorbing else And(tuple(kept))


def _paths(node: Filter) -> Iterator[AttrPath]:
    """The attribute paths a filter names at its top level (a value path's own path, not its inner ones)."""
    if isinstance(node, Compare | Present | ValuePath):
        yield node.path
    elif isinstance(node, Not):
        yield from _paths(node.term)
    else:
        for term in node.terms:
            yield from _paths(term)


def _values(document: Any, parts: Sequence[str]) -> list[Any]:
    """The values at a dotted document path, through arrays, as MongoDB reads a sort key."""
    if not parts:
        if isinstance(document, list):
            return [v for v in document if v is not None]
        return [] if document is None else [document]
    if isinstance(document, list):
        return [v for item in document for v in _values(item, parts)]
    if not isinstance(document, Mapping):
        return []
    return _values(document.get(parts[0]), parts[1:])


_RANKS: dict[type, int] = {bool: 0, int: 1, float: 1, str: 2, datetime: 3}


def _sortable(value: Any) -> tuple[int, Any]:
    """A value that compares with any other: by kind first, so no two kinds are ever compared."""
    rank = _RANKS.get(type(value))
    return (rank, value) if rank is not None else (9, str(value))


class RootSearch:
    """Searches every resource type's service together."""

    def __init__(self, services: Sequence[ResourceService], settings: Settings) -> None:
        self._services = sorted(services, key=lambda s: s.resource_type.name)
        self._settings = settings
        self._uris = tuple(uri for s in self._services for uri in s.resource_type.schema_uris)

    def _filters(self, text: str | None) -> list[str | bool | None]:
        """Per service: the filter text to query with (None: everything), or False: nothing matches."""
        if text is None:
            return [None] * len(self._services)
        settings = self._settings
        tree = parse_filter(
            text,
            schema_uris=self._uris,
            max_length=settings.max_filter_length,
            max_depth=settings.max_filter_depth,
            max_terms=settings.max_filter_terms,
        )
        for path in _paths(tree):
            if not any(_defines(s.resource_type, path) for s in self._services):
                raise InvalidFilterError(f'Unknown attribute "{path}" in filter.')
        filters: list[str | bool | None] = []
        for service in self._services:
            narrowed = narrow(tree, service.resource_type)
            if narrowed is True:
                filters.append(None)
            elif narrowed is False:
                filters.append(False)
            else:
                filters.append(text if narrowed == tree else render_filter(narrowed))
        return filters

    def _sort_paths(self, sort_by: str | None) -> list[AttrPath | None]:
        """Per service: the sortBy path it defines, or None (sorted by id, all without a value)."""
        if sort_by is None:
            return [None] * len(self._services)
        try:
            path = parse_attr_path(sort_by, schema_uris=self._uris)
        except InvalidPathError as error:
            raise InvalidValueError(f"invalid sortBy: {error.detail}") from None
        paths = [path if _defines(s.resource_type, path) else None for s in self._services]
        if all(p is None for p in paths):
            raise InvalidValueError(f'Unknown attribute "{path}" in sortBy.')
        return paths

    async def search(self, org_id: str, request: SearchRequest) -> RootResult:
        """RFC 7644 §3.4.2.1 at the server root: see the module docstring for the order."""
        filters = self._filters(request.filter)
        sort_paths = self._sort_paths(request.sort_by)
        sorted_by = request.sort_by is not None
        descending = request.descending and sorted_by
        settings = self._settings
        count = settings.default_page_size if request.count is None else request.count
        count = min(count, settings.max_page_size)
        if request.cursor is not None:
            return await self._search_by_cursor(org_id, request, filters, sort_paths, count)
        wanted = request.start_index - 1 + count
        total = 0
        keyed: list[tuple[Any, Found]] = []
        for service, text, path in zip(self._services, filters, sort_paths, strict=True):
            if text is False:
                continue
            assert not isinstance(text, bool)
            query = SearchRequest(
                filter=text,
                sort_by=(str(path) if path is not None else "id") if sorted_by else None,
                descending=descending,
                count=0 if wanted == 0 else min(wanted, settings.max_page_size),
            )
            result = await service.search(org_id, query)
            total += result.total
            found = list(result.resources)
            while len(found) < min(wanted, result.total) and result.resources:
                query = replace(query, start_index=len(found) + 1)
                result = await service.search(org_id, query)
                found.extend(result.resources)
            key = self._key(service.resource_type, path, sorted_by=sorted_by, descending=descending)
            keyed.extend((key(stored), Found(service, stored)) for stored in found[:wanted])
        keyed.sort(key=lambda pair: pair[0], reverse=descending)
        page = [found for _, found in keyed[request.start_index - 1 : wanted]]
        return RootResult(total, request.start_index, page)

    async def _search_by_cursor(
        self,
        org_id: str,
        request: SearchRequest,
        filters: list[str | bool | None],
        sort_paths: list[AttrPath | None],
        count: int,
    ) -> RootResult:
        """Cursor paging (RFC 9865) over the combined order: the cursor holds, per resource type,
        the position of the last resource of that type listed so far (none yet: None). A page reads
        the next ``count + 1`` of each type after its position, by key (``ResourceService.page_by_key``),
        and keeps the first ``count`` in the combined order: each type's order is the combined order
        restricted to that type, so the walk lists every resource that exists throughout it once.
        Only ``nextCursor`` is given here (``previousCursor`` is optional in RFC 9865 §2)."""
        if request.count is not None and request.count < 1:
            raise InvalidCountError("count must be a positive integer with cursor paging (RFC 9865)")
        assert request.cursor is not None
        sorted_by = request.sort_by is not None
        descending = request.descending and sorted_by
        order = f"{(request.sort_by or '').lower()}:{'descending' if descending else 'ascending'}"
        scope = CursorScope(org_id, "/", request.filter or "", order)
        cursors = self._services[0].cursors
        position = await cursors.read(scope, request.cursor)
        anchors: list[Any] = [None] * len(self._services)
        if position.key is not None:
            if position.backwards or len(position.key) != len(self._services):
                raise InvalidCursorError(INVALID_CURSOR_DETAIL)
            anchors = list(position.key)
        total = 0
        keyed: list[tuple[Any, int, tuple[Any, ...], Found]] = []
        beyond = False
        for number, (service, text, path) in enumerate(zip(self._services, filters, sort_paths, strict=True)):
            if text is False:
                continue
            assert not isinstance(text, bool)
            anchor = anchors[number]
            if anchor is not None and not isinstance(anchor, tuple):
                raise InvalidCursorError(INVALID_CURSOR_DETAIL)
            query = await service.compile_query(org_id, text)
            sort_by = (str(path) if path is not None else "id") if sorted_by else None
            sort = service.compile_sort(sort_by, descending, by_key=True)
            page = await service.page_by_key(org_id, query, sort, Position(anchor), count)
            beyond = beyond or page.more
            total += (await service.search(org_id, SearchRequest(filter=text, count=0))).total
            key = self._key(service.resource_type, path, sorted_by=sorted_by, descending=descending)
            keyed.extend((key(stored), number, place, Found(service, stored)) for stored, place in page.rows)
        keyed.sort(key=lambda entry: entry[0], reverse=descending)
        taken, rest = keyed[:count], keyed[count:]
        for _, number, place, _ in taken:
            anchors[number] = place  # in each type's order, so its last one listed is the last set
        next_cursor = None
        if rest or beyond:
            next_cursor = await cursors.issue(scope, Position(tuple(anchors)))
        return RootResult(total, None, [found for *_, found in taken], next_cursor)

    @staticmethod
    def _key(
        resource_type: ResourceType, path: AttrPath | None, *, sorted_by: bool, descending: bool
    ) -> Callable[[StoredResource], Any]:
        """The combined order's key of one type's resources (see the module docstring)."""
        name = resource_type.name
        if not sorted_by:
            return lambda stored: (stored.created, name, stored.id)
        if path is None:  # the type does not define the attribute: no resource of it has a value
            return lambda stored: (0, (0, None), name, stored.id)
        [(field, _), *_] = compile_sort(path, descending, resource_type)
        parts = [part for part in field.split(".") if part != SHADOW]
        folds = SHADOW in field.split(".")
        pick = max if descending else min

        def key(stored: StoredResource) -> Any:
            values = [stored.id] if field == "_id" else _values(stored.document, parts)
            if folds:
                values = [v.lower() if isinstance(v, str) else v for v in values]
            if not values:
                return (0, (0, None), name, stored.id)
            return (1, pick(_sortable(v) for v in values), name, stored.id)

        return key
