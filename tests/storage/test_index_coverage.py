"""Every query an IdP sends is served by a declared index, and every request costs a fixed number of
storage round trips, whatever the organization's size.

The embedded store scans every document, so on it an index changes nothing; on MongoDB it is the
difference between a lookup and a collection scan. This file proves the indexable form without a
MongoDB server:

* :func:`index_problems` is a small, pure planner in the spirit of MongoDB's: it walks a Mongo query
  and a sort and says why no index declared in ``storage/repository.py`` can serve them (equality
  first, then the sort keys, then a range or anchored prefix). It refuses unanchored and
  case-insensitive regexes, ``$where``/``$expr``/``$text``, and any field without an index of which
  it is a leading key.
* The compiled filter of every shape in the IdP behaviour notes is checked with it, and so is every
  query the server actually sends while answering those requests (a recording database wraps the
  embedded one), including the membership pair lookups.
* The storage round trips of each SCIM operation are counted per request by the recording database
  (every driver call it passes on), with 10 and with 200 users and with groups of 5 and of 150
  members: the table in ``ROUND_TRIPS``, the same for both sizes except that a list whose results
  all fit on its page needs no count (one fewer).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiohttp.typedefs import Handler

from scim_server.app import create_app
from scim_server.compiler import compile_sort
from scim_server.compiler.query import compile_filter
from scim_server.filters import parse_attr_path, parse_filter
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE, ResourceType
from scim_server.storage.client import embedded_client
from scim_server.storage.repository import DELETED, GROUP_INDEXES, MEMBERSHIP_INDEXES, USER_INDEXES
from tests.helpers import TOKEN_A, ClientFactory, auth, make_settings

IndexTable = Mapping[str, tuple[list[tuple[str, int]], dict[str, Any]]]
Sort = Sequence[tuple[str, int]]
ID_INDEX = ([("_id", 1)], {"unique": True})
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# -- the planner -------------------------------------------------------------------------------------

_EQUALITY, _RANGE, _PREFIX, _NEGATION = "equality", "range", "prefix", "negation"
_RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})
_NEGATION_OPS = frozenset({"$ne", "$nin", "$exists", "$not"})
_REFUSED = ("$where", "$expr", "$text", "$function", "$jsonSchema")


class UncoveredError(AssertionError):
    """A query part that no index can serve, whatever indexes exist."""


@dataclass
class Conjunction:
    """One branch of a query (``$or`` expanded): the kind of condition on each field."""

    fields: dict[str, set[str]] = field(default_factory=dict)

    def add(self, path: str, kind: str) -> None:
        self.fields.setdefault(path, set()).add(kind)

    def merged(self, other: Conjunction) -> Conjunction:
        out = Conjunction({k: set(v) for k, v in self.fields.items()})
        for path, kinds in other.fields.items():
            for kind in kinds:
                out.add(path, kind)
        return out

    def with_kind(self, kind: str) -> set[str]:
        return {path for path, kinds in self.fields.items() if kind in kinds}


def _condition(path: str, value: Any) -> list[Conjunction]:
    """The conjunctions of one ``field: condition`` pair."""
    if not isinstance(value, Mapping) or not any(str(k).startswith("$") for k in value):
        branch = Conjunction()
        branch.add(path, _EQUALITY)
        return [branch]
    branches = [Conjunction()]
    for operator, operand in value.items():
        if operator == "$elemMatch":
            inner = _branches(operand, prefix=path + ".")
            branches = [a.merged(b) for a, b in itertools.product(branches, inner)]
            continue
        if operator == "$regex":
            options = str(value.get("$options", ""))
            pattern = operand.pattern if isinstance(operand, re.Pattern) else str(operand)
            if "i" in options or pattern.startswith("(?i)"):
                raise UncoveredError(
                    f"{path}: a case-insensitive regex cannot use an index; query the _lc shadow"
                )
            if not pattern.startswith("^"):
                raise UncoveredError(f"{path}: an unanchored regex {pattern!r} scans every index key")
            kind = _PREFIX
        elif operator == "$options":
            continue
        elif operator in ("$eq", "$in"):
            kind = _EQUALITY
        elif operator in _RANGE_OPS:
            kind = _RANGE
        elif operator in _NEGATION_OPS:
            kind = _NEGATION
        else:
            raise UncoveredError(f"{path}: operator {operator} is not index-backed")
        for branch in branches:
            branch.add(path, kind)
    return branches


def _branches(query: Mapping[str, Any], prefix: str = "") -> list[Conjunction]:
    """A query as a disjunction of conjunctions (``$or`` branches expanded, ``$and`` merged)."""
    branches = [Conjunction()]
    for key, value in query.items():
        if key in _REFUSED:
            raise UncoveredError(f"{key} runs code on every document")
        if key == "$and":
            parts = [_branches(term, prefix) for term in value]
        elif key == "$or":
            parts = [[branch for term in value for branch in _branches(term, prefix)]]
        elif key == "$nor":
            negated = Conjunction()
            for term in value:
                for branch in _branches(term, prefix):
                    for path in branch.fields:
                        negated.add(path, _NEGATION)
            parts = [[negated]]
        elif key.startswith("$"):
            raise UncoveredError(f"operator {key} is not index-backed")
        else:
            parts = [_condition(prefix + key, value)]
        for options in parts:
            branches = [a.merged(b) for a, b in itertools.product(branches, options)]
    return branches


def _pins_one(branch: Conjunction, indexes: IndexTable) -> bool:
    """Equality on every key of a unique index: at most one document, so any sort is free."""
    equal = branch.with_kind(_EQUALITY)
    return any(
        options.get("unique") and all(key in equal for key, _ in keys) for keys, options in indexes.values()
    )


def _index_serves(branch: Conjunction, sort: Sort | None, keys: list[tuple[str, int]]) -> str | None:
    """None when this index serves the branch (and the sort); else why not."""
    names = [key for key, _ in keys]
    equal, ranged = branch.with_kind(_EQUALITY), branch.with_kind(_RANGE) | branch.with_kind(_PREFIX)
    bounded = equal | ranged
    if bounded and names[0] not in bounded:
        return f"its leading key {names[0]} is not constrained"
    position = 0
    while position < len(names) and names[position] in equal:
        position += 1
    if sort is not None:
        wanted = [(key, direction) for key, direction in sort if key not in equal]
        segment = keys[position : position + len(wanted)]
        if [key for key, _ in segment] != [key for key, _ in wanted]:
            return f"the sort {wanted} does not follow the equality keys"
        if len({d * k for (_, d), (_, k) in zip(wanted, segment, strict=True)}) > 1:
            return "the sort mixes directions the index does not"
    elif ranged and (position == len(names) or names[position] not in ranged):
        return "no range or prefix field follows the equality keys"
    missing = bounded - set(names)
    if missing:
        return f"fields {sorted(missing)} are not in it"
    return None


def index_problems(query: Mapping[str, Any], sort: Sort | None, indexes: IndexTable) -> list[str]:
    """Why ``query`` (and ``sort``, when given) cannot be served by ``indexes`` plus ``_id``; [] if it can.

    Each ``$or`` branch must be served on its own. The sort must be served by the same index unless
    the branch has an equality condition (an identifier selects a handful of documents, which are
    sorted in memory) or pins one document. Negations may only narrow what an index found.

    The exclusion of soft-deleted documents that the repository adds to every query of live
    resources (``DELETED: None``) is set aside: MongoDB applies it to the documents the index found,
    and it selects nothing (deleted documents are few and purged), so it narrows as a negation does.
    """
    table = {"_id_": ID_INDEX, **indexes}
    if DELETED in query and query[DELETED] is None:
        query = {key: value for key, value in query.items() if key != DELETED}
    try:
        branches = _branches(query)
    except UncoveredError as error:
        return [str(error)]
    problems: list[str] = []
    for branch in branches:
        needs_sort = sort is not None and not branch.with_kind(_EQUALITY) and not _pins_one(branch, table)
        if not branch.fields and not needs_sort:
            continue
        if _pins_one(branch, table):
            continue
        if branch.fields and set(branch.fields) == branch.with_kind(_NEGATION):
            problems.append(f"only negations ({sorted(branch.fields)}): a scan")
            continue
        reasons = {
            name: _index_serves(branch, sort if needs_sort else None, keys)
            for name, (keys, _) in table.items()
        }
        if all(reason is not None for reason in reasons.values()):
            shown = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
            problems.append(f"no index serves {dict(branch.fields)} sorted by {sort}: {shown}")
    return problems


# -- the planner itself --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"_lc.userName": {"$regex": "smith"}}, "unanchored regex"),
        ({"_lc.userName": {"$regex": "smith$"}}, "unanchored regex"),
        ({"userName": {"$regex": "^smith", "$options": "i"}}, "case-insensitive"),
        ({"$where": "this.userName == 'x'"}, "runs code"),
        ({"title": "boss"}, "no index serves"),
        ({"emails._lc.type": "work"}, "no index serves"),
        ({"_lc.userName": {"$ne": "x"}}, "only negations"),
        ({"$or": [{"_lc.userName": "a"}, {"title": "b"}]}, "no index serves"),
        ({"emails": {"$elemMatch": {"_lc.type": "work", "_lc.value": {"$regex": "@x"}}}}, "unanchored regex"),
    ],
)
def test_the_planner_refuses_what_no_index_can_serve(query: dict[str, Any], reason: str) -> None:
    problems = index_problems(query, None, USER_INDEXES)
    assert problems and reason in problems[0], problems


def test_the_planner_needs_the_sort_to_follow_equality_keys() -> None:
    indexes = {"pair": ([("g", 1), ("m", 1)], {})}
    assert index_problems({"g": {"$in": ["x"]}}, [("m", 1)], indexes) == []
    assert index_problems({}, [("g", -1), ("m", -1)], indexes) == []
    assert "mixes directions" in index_problems({}, [("g", 1), ("m", -1)], indexes)[0]
    assert "does not follow" in index_problems({}, [("m", 1)], indexes)[0]
    assert "not in it" in index_problems({"g": "x", "t": "User"}, None, indexes)[0]


# -- compiled filters and sorts of the IdP shapes ------------------------------------------------------

DATE = "2026-03-01T00:00:00Z"
LATER = "2026-03-08T00:00:00Z"
# (resource type, filter, sortBy): the shapes of ../shared/design/idp-behaviour.md and delta syncs.
SHAPES: list[tuple[ResourceType, str | None, str | None]] = [
    (USER_RESOURCE_TYPE, 'id eq "2819c223-7f76-453a-919d-413861904646"', None),
    (USER_RESOURCE_TYPE, 'userName eq "bjensen@example.com"', None),
    (USER_RESOURCE_TYPE, "externalId eq jyoung", None),
    (USER_RESOURCE_TYPE, 'externalId eq "00u1abcd"', None),
    (USER_RESOURCE_TYPE, 'emails[type eq "work"].value eq "bjensen@example.com"', None),
    (USER_RESOURCE_TYPE, 'emails[type eq "work" and value eq "bjensen@example.com"]', None),
    (USER_RESOURCE_TYPE, 'emails.value eq "bjensen@example.com"', None),
    (USER_RESOURCE_TYPE, f'meta.lastModified ge "{DATE}"', "meta.lastModified"),
    (
        USER_RESOURCE_TYPE,
        f'meta.lastModified gt "{DATE}" and meta.lastModified le "{LATER}"',
        "meta.lastModified",
    ),
    (USER_RESOURCE_TYPE, 'userName sw "bj"', "userName"),
    (USER_RESOURCE_TYPE, None, None),
    (USER_RESOURCE_TYPE, None, "id"),
    (USER_RESOURCE_TYPE, None, "userName"),
    (USER_RESOURCE_TYPE, None, "externalId"),
    (USER_RESOURCE_TYPE, None, "meta.created"),
    (USER_RESOURCE_TYPE, None, "meta.lastModified"),
    (GROUP_RESOURCE_TYPE, 'displayName eq "Sales Reps"', None),
    (GROUP_RESOURCE_TYPE, 'externalId eq "okta-grp-1"', None),
    (GROUP_RESOURCE_TYPE, f'meta.lastModified gt "{DATE}"', "meta.lastModified"),
    (GROUP_RESOURCE_TYPE, None, None),
    (GROUP_RESOURCE_TYPE, None, "displayName"),
    (GROUP_RESOURCE_TYPE, None, "meta.lastModified"),
]


def _indexes(resource_type: ResourceType) -> IndexTable:
    return USER_INDEXES if resource_type is USER_RESOURCE_TYPE else GROUP_INDEXES


@pytest.mark.parametrize(("resource_type", "text", "sort_by"), SHAPES)
@pytest.mark.parametrize("descending", [False, True])
def test_every_idp_query_shape_is_index_backed(
    resource_type: ResourceType, text: str | None, sort_by: str | None, descending: bool
) -> None:
    query = (
        {}
        if text is None
        else compile_filter(parse_filter(text, schema_uris=resource_type.schema_uris), resource_type)
    )
    path = None if sort_by is None else parse_attr_path(sort_by, schema_uris=resource_type.schema_uris)
    sort = compile_sort(path, descending, resource_type)

    assert index_problems(query, sort, _indexes(resource_type)) == []
    # And the filter alone, as the count of the same request sends it.
    assert index_problems(query, None, _indexes(resource_type)) == []


def test_the_scan_style_filter_is_known_not_to_be_index_backed() -> None:
    """``co`` needs an unanchored regex: MongoDB reads every index key (the README says so)."""
    text = 'emails[type eq "work" and value co "@example"]'
    query = compile_filter(parse_filter(text, schema_uris=USER_RESOURCE_TYPE.schema_uris), USER_RESOURCE_TYPE)

    assert "unanchored regex" in index_problems(query, None, USER_INDEXES)[0]


# -- what the server sends while answering ---------------------------------------------------------


@dataclass
class Recorded:
    collection: str
    operation: str
    query: Mapping[str, Any]
    sort: list[tuple[str, int]] | None = None


class RecordingCursor:
    def __init__(self, cursor: Any, record: Recorded, db: RecordingDatabase) -> None:
        self._cursor = cursor
        self._record = record
        self._db = db

    def sort(self, key: Any, direction: int | None = None) -> RecordingCursor:
        self._record.sort = [(key, direction or 1)] if isinstance(key, str) else list(key)
        self._cursor = self._cursor.sort(key, direction) if direction is not None else self._cursor.sort(key)
        return self

    def skip(self, count: int) -> RecordingCursor:
        self._cursor = self._cursor.skip(count)
        return self

    def limit(self, count: int) -> RecordingCursor:
        self._cursor = self._cursor.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        self._db.round_trips += 1
        result: list[Any] = await self._cursor.to_list(length=length)
        return result


class RecordingCollection:
    """Passes every call through, noting the filter (and sort) of each read, update and delete, and
    counting every round trip (a cursor's when it is read)."""

    def __init__(self, collection: Any, name: str, db: RecordingDatabase) -> None:
        self._collection = collection
        self._name = name
        self._db = db

    def _note(self, operation: str, query: Mapping[str, Any] | None) -> Recorded:
        self._db.round_trips += operation != "find"
        record = Recorded(self._name, operation, dict(query or {}))
        self._db.log.append(record)
        return record

    def find(self, query: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> RecordingCursor:
        cursor = self._collection.find(query, *args, **kwargs)
        return RecordingCursor(cursor, self._note("find", query), self._db)

    async def find_one(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._note("find_one", query)
        return await self._collection.find_one(query, *args, **kwargs)

    async def count_documents(self, query: Mapping[str, Any], **kwargs: Any) -> int:
        self._note("count_documents", query)
        count: int = await self._collection.count_documents(query, **kwargs)
        return count

    async def update_one(self, query: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        self._note("update_one", query)
        return await self._collection.update_one(query, update, **kwargs)

    async def update_many(self, query: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        self._note("update_many", query)
        return await self._collection.update_many(query, update, **kwargs)

    async def delete_one(self, query: Mapping[str, Any], **kwargs: Any) -> Any:
        self._note("delete_one", query)
        return await self._collection.delete_one(query, **kwargs)

    async def delete_many(self, query: Mapping[str, Any], **kwargs: Any) -> Any:
        self._note("delete_many", query)
        return await self._collection.delete_many(query, **kwargs)

    # Counted only: inserts have no filter, and the conditional write's is an _id lookup.
    async def insert_one(self, *args: Any, **kwargs: Any) -> Any:
        self._db.round_trips += 1
        return await self._collection.insert_one(*args, **kwargs)

    async def insert_many(self, *args: Any, **kwargs: Any) -> Any:
        self._db.round_trips += 1
        return await self._collection.insert_many(*args, **kwargs)

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        self._db.round_trips += 1
        return await self._collection.find_one_and_update(*args, **kwargs)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        self._db.round_trips += 1
        return await self._collection.bulk_write(*args, **kwargs)

    async def create_index(self, *args: Any, **kwargs: Any) -> Any:
        self._db.round_trips += 1
        return await self._collection.create_index(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


class RecordingDatabase:
    def __init__(self, db: Any) -> None:
        self._db = db
        self.log: list[Recorded] = []
        self.round_trips = 0

    def __getitem__(self, name: str) -> RecordingCollection:
        return RecordingCollection(self._db[name], name, self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


_COLLECTION_INDEXES = {"_users": USER_INDEXES, "_groups": GROUP_INDEXES, "_memberships": MEMBERSHIP_INDEXES}


def _resource_indexes(collection: str) -> IndexTable | None:
    if not collection.startswith("org_"):
        return None
    return next((table for suffix, table in _COLLECTION_INDEXES.items() if collection.endswith(suffix)), None)


def _json(response_body: Any) -> Any:
    return response_body


async def _create(client: TestClient[Any, Any], path: str, body: dict[str, Any]) -> str:
    response = await client.post(path, json=body, headers=auth())
    assert response.status == 201, await response.text()
    created: str = (await response.json())["id"]
    return created


def _user(n: int) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": f"user{n}@example.com",
        "externalId": f"ext-{n}",
        "displayName": f"User {n}",
        "emails": [{"value": f"user{n}@example.com", "type": "work", "primary": True}],
    }


def _members(ids: Sequence[str]) -> list[dict[str, str]]:
    return [{"value": i} for i in ids]


@dataclass
class Org:
    users: list[str]
    group: str
    other_group: str


async def _seed(client: TestClient[Any, Any], users: int, group_size: int) -> Org:
    ids = [await _create(client, "/scim/v2/Users", _user(n)) for n in range(users)]
    group = await _create(
        client,
        "/scim/v2/Groups",
        {"schemas": [GROUP], "displayName": "Big", "members": _members(ids[:group_size])},
    )
    other = await _create(
        client, "/scim/v2/Groups", {"schemas": [GROUP], "displayName": "Other", "members": _members(ids[:1])}
    )
    return Org(ids, group, other)


def _requests(org: Org) -> Iterator[tuple[str, str, str, dict[str, Any] | None, int]]:
    """(operation, method, path, body, expected status), in an order that leaves each valid."""
    member, outsider, victim = org.users[0], org.users[-1], org.users[-2]
    users, groups, group = "/scim/v2/Users", "/scim/v2/Groups", org.group

    def patch(*ops: dict[str, Any]) -> dict[str, Any]:
        return {"schemas": [PATCH], "Operations": list(ops)}

    yield "GET user (in 2 groups)", "GET", f"{users}/{member}", None, 200
    yield (
        "GET user, excludedAttributes=groups",
        "GET",
        f"{users}/{member}?excludedAttributes=groups",
        None,
        200,
    )
    yield "GET user (in no group)", "GET", f"{users}/{outsider}", None, 200
    yield "list users, page of 100 (or all)", "GET", f"{users}?count=100", None, 200
    yield "userName eq", "GET", f'{users}?filter=userName eq "USER0@example.com"', None, 200
    yield "externalId eq", "GET", f"{users}?filter=externalId eq ext-0", None, 200
    yield (
        "groups.value eq (users of a group)",
        "GET",
        f'{users}?filter=groups.value eq "{group}"&count=10',
        None,
        200,
    )
    yield "POST user", "POST", users, _user(10_000), 201
    yield "PUT user", "PUT", f"{users}/{member}", {**_user(0), "title": "Boss"}, 200
    # The same title twice: the second PATCH changes nothing.
    title = patch({"op": "replace", "path": "title", "value": "Chief"})
    yield "PATCH user (replace title)", "PATCH", f"{users}/{member}", title, 200
    yield "PATCH user, changing nothing", "PATCH", f"{users}/{member}", title, 200
    phone = {"op": "add", "path": "phoneNumbers", "value": [{"value": "+1 555 0100", "type": "work"}]}
    yield "PATCH user (add a phone number)", "PATCH", f"{users}/{member}", patch(phone), 200
    yield "DELETE user", "DELETE", f"{users}/{victim}", None, 204
    yield "GET group with members", "GET", f"{groups}/{group}", None, 200
    yield (
        "GET group, excludedAttributes=members",
        "GET",
        f"{groups}/{group}?excludedAttributes=members",
        None,
        200,
    )
    yield (
        "displayName eq",
        "GET",
        f'{groups}?filter=displayName eq "big"&excludedAttributes=members',
        None,
        200,
    )
    yield (
        "members.value eq (groups of a user)",
        "GET",
        (f'{groups}?filter=members.value eq "{member}"&excludedAttributes=members'),
        None,
        200,
    )
    yield (
        "PATCH group: add 1 member",
        "PATCH",
        f"{groups}/{group}",
        patch({"op": "add", "path": "members", "value": _members([outsider])}),
        204,
    )
    yield (
        "PATCH group: remove 1 member",
        "PATCH",
        f"{groups}/{group}",
        patch({"op": "remove", "path": f'members[value eq "{outsider}"]'}),
        204,
    )
    yield (
        "PATCH group: rename",
        "PATCH",
        f"{groups}/{group}",
        patch({"op": "replace", "path": "displayName", "value": "Bigger"}),
        204,
    )
    yield (
        "POST group with 1 member",
        "POST",
        groups,
        {
            "schemas": [GROUP],
            "displayName": "New",
            "members": _members([member]),
        },
        201,
    )
    yield (
        "PUT group with 1 member",
        "PUT",
        f"{groups}/{org.other_group}",
        {
            "schemas": [GROUP],
            "displayName": "Other",
            "members": _members([outsider]),
        },
        200,
    )
    yield "DELETE group", "DELETE", f"{groups}/{org.other_group}", None, 204


async def _run(
    aiohttp_client: ClientFactory, users: int, group_size: int
) -> tuple[dict[str, int], list[tuple[str, Recorded]]]:
    """The round trips of each request, and every query the requests sent."""
    db = RecordingDatabase(embedded_client()["scim"])
    app = create_app(make_settings(rate_limit_per_second=0), db=db, announce=lambda _: None)
    calls: list[int] = []

    @web.middleware
    async def count_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = db.round_trips
        response = await handler(request)
        calls.append(db.round_trips - start)
        return response

    app.middlewares.append(count_calls)
    client = await aiohttp_client(app)
    org = await _seed(client, users, group_size)
    counts: dict[str, int] = {}
    sent: list[tuple[str, Recorded]] = []
    for operation, method, path, body, status in _requests(org):
        calls.clear()
        start = len(db.log)
        response = await client.request(method, path, json=body, headers=auth(TOKEN_A))
        assert response.status == status, (operation, await response.text())
        assert len(calls) == 1
        counts[operation] = calls[0]
        sent.extend((operation, record) for record in db.log[start:])
    return counts, sent


# Storage round trips per request (MongoDB commands; the audit record of a write is one of them), with
# 200 users and groups of 150 members. Reads of a user's groups or a group's members cost the same
# whatever their number; a list costs one fewer when all its results fit on the page (no count).
ONE_PAGE_FEWER = frozenset({"list users, page of 100 (or all)", "groups.value eq (users of a group)"})
ROUND_TRIPS = {
    # read + the user's pairs + their groups (looked up in the groups collection only)
    "GET user (in 2 groups)": 3,
    "GET user, excludedAttributes=groups": 1,
    "GET user (in no group)": 2,
    # page (one more than asked for) + count (only when that one more came: a full page with
    # results after it) + the page's pairs + their groups (1)
    "list users, page of 100 (or all)": 4,
    # page (0 or 1 result: no count) + pairs + groups
    "userName eq": 3,
    "externalId eq": 3,
    # the group's member pairs + page + count (150 members: more than a page) + pairs + groups (1)
    "groups.value eq (users of a group)": 5,
    # audit (2): the organization's next event sequence number, then the record itself
    # insert + audit (2) (a new user is in no group: its pairs are not looked up)
    "POST user": 3,
    # read + guarded update + audit (2) + pairs + groups (1)
    "PUT user": 6,
    # new values of simple attributes: one conditional write + audit (2) + pairs + groups (1)
    "PATCH user (replace title)": 5,
    # the conditional write writes nothing, then the general path: read (nothing to change) + pairs
    # + groups
    "PATCH user, changing nothing": 4,
    # any other PATCH: read + guarded update + audit (2) + pairs + groups (1)
    "PATCH user (add a phone number)": 6,
    # its pairs (the groups showing it: none here) + delete + audit (2) + its pairs
    "DELETE user": 5,
    # read + member pairs + members (all users: 1)
    "GET group with members": 3,
    "GET group, excludedAttributes=members": 1,
    "displayName eq": 1,
    # the user's pairs + page
    "members.value eq (groups of a user)": 2,
    # members exist + which of the pairs exist (exact change sets) + read + guarded update
    # + the member's version + insert pairs + the member's version + the group's version + audit (2)
    "PATCH group: add 1 member": 10,
    # which of the pairs exist + read + guarded update + the member's version + delete pairs
    # + the member's version + the group's version + audit (2)
    "PATCH group: remove 1 member": 9,
    # read + its pairs (who shows its name) + their versions (all 150 members in one write)
    # + guarded update + their versions + audit (2)
    "PATCH group: rename": 7,
    # members exist + the member's version + insert pairs + insert + the member's version + audit (2)
    # + member pairs + members
    "POST group with 1 member": 9,
    # members exist + read + update + current pairs + the members' versions + add pairs + drop others
    # + the members' versions + the group's version + audit (2) + member pairs + members
    "PUT group with 1 member": 13,
    # its pairs + its member's version + delete + audit (2) + pairs + its member's version
    "DELETE group": 7,
}


async def test_round_trips_per_request_do_not_depend_on_users_or_group_size(
    aiohttp_client: ClientFactory,
) -> None:
    small, _ = await _run(aiohttp_client, users=10, group_size=5)
    large, _ = await _run(aiohttp_client, users=200, group_size=150)

    assert large == ROUND_TRIPS
    # The same with 10 users and groups of 5, except where every result now fits on the page.
    assert small == {k: v - (k in ONE_PAGE_FEWER) for k, v in ROUND_TRIPS.items()}


async def test_every_query_sent_while_answering_idp_requests_is_index_backed(
    aiohttp_client: ClientFactory,
) -> None:
    _, sent = await _run(aiohttp_client, users=12, group_size=6)

    problems = []
    for operation, record in sent:
        indexes = _resource_indexes(record.collection)
        if indexes is None:
            continue
        for problem in index_problems(record.query, record.sort, indexes):
            problems.append(
                f"{operation}: {record.operation} on {record.collection} {record.query}: {problem}"
            )
    assert problems == []
    assert {r.collection.rsplit("_", 1)[1] for _, r in sent if r.collection.startswith("org_")} >= {
        "users",
        "groups",
        "memberships",
    }
