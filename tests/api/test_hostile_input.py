"""Hostile input over HTTP: every case is a SCIM error (or a literal, harmless success), fast, and
nothing a client sends reaches the store as a Mongo operator or an unexpected key.

Rejected writes are checked to have written nothing (the list count and the stored documents are
unchanged). Property tests (hypothesis) drive the parts with a shape: bytes, nesting depth, filter
terms, regex metacharacters, hostile keys.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scim_server.schema.validation import MAX_STRING_LENGTH
from tests.helpers import SCIM, auth

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USERS = "/scim/v2/Users"
GROUPS = "/scim/v2/Groups"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_BODY_BYTES = 1_048_576  # the default max_body_bytes
# Each example is an HTTP round trip: a fifth of the profile's budget. Examples run against one app per
# test function (a function-scoped fixture); the state they leave is checked relatively.
HTTP_BUDGET = settings(
    max_examples=settings.default.max_examples // 5,
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture],
)
# A hostile request must be refused quickly, not after heavy work.
FAST_SECONDS = 2.0

Client = TestClient[Any, Any]


async def scim_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """Assert an RFC 7644 §3.12 error body with this status and scimType."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == SCIM
    body: dict[str, Any] = json.loads(text)
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert isinstance(body["detail"], str) and "Traceback" not in body["detail"]
    return body


async def count(client: Client, endpoint: str = USERS) -> int:
    response = await client.get(f"{endpoint}?count=0", headers=auth())
    assert response.status == 200
    total: int = (await response.json())["totalResults"]
    return total


async def create_user(client: Client, user_name: str, **attributes: Any) -> dict[str, Any]:
    response = await client.post(USERS, json={"userName": user_name, **attributes}, headers=auth())
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def stored_documents(db: Any) -> list[dict[str, Any]]:
    """Every raw document of the organizations' resource and membership collections."""
    docs: list[dict[str, Any]] = []
    for name in await db.list_collection_names():
        if name.startswith("org_") and name.endswith(("_users", "_groups", "_memberships")):
            docs.extend(await db[name].find({}).to_list(None))
    return docs


def keys_of(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{prefix}{key}"
            yield from keys_of(item, f"{prefix}{key}/")
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item, prefix)


def hostile_keys(docs: list[dict[str, Any]]) -> list[str]:
    """Stored keys that are Mongo operators or dotted paths; our layout has neither (the extension is
    stored under its URN with the dots replaced)."""
    return [path for doc in docs for path in keys_of(doc) if re.search(r"(^|/)\$|\.", path)]


# --- bodies that cannot be parsed ------------------------------------------------------------------

BODY_ENDPOINTS = [
    ("POST", USERS),
    ("POST", USERS + "/.search"),
    ("PUT", USERS + "/{id}"),
    ("PATCH", USERS + "/{id}"),
    ("POST", GROUPS),
]

UNPARSABLE = {
    "nested-arrays": b"[" * 100_000 + b"]" * 100_000,
    "nested-objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "nested-unclosed": b'{"userName": "x", "name": ' + b"[" * 100_000,
    "nan": b'{"userName": "x", "x": NaN}',
    "infinity": b'{"userName": "x", "x": Infinity}',
    "minus-infinity": b'{"userName": "x", "x": -Infinity}',
    "duplicate-keys": b'{"userName": "a", "userName": "b"}',
    "nested-duplicate-keys": b'{"userName": "a", "name": {"givenName": "a", "givenName": "b"}}',
    "invalid-utf8": b'{"userName": "\xff\xfe"}',
    "overlong-utf8": b'{"userName": "\xc0\xaf"}',
    "utf8-encoded-surrogate": b'{"userName": "\xed\xa0\x80"}',
    "truncated-utf8": b'{"userName": "\xe2\x82"}',
    "lone-surrogate-escape": b'{"userName": "a\\ud800b"}',
    "lone-low-surrogate-escape-in-key": b'{"userName": "a", "\\udc00": 1}',
    "integer-of-5000-digits": b'{"userName": "x", "x": ' + b"9" * 5000 + b"}",
    "empty": b"",
}


@pytest.mark.parametrize("raw", list(UNPARSABLE.values()), ids=list(UNPARSABLE))
async def test_unparsable_bodies_are_400_invalid_syntax_fast_and_write_nothing(
    client: Client, db: Any, raw: bytes
) -> None:
    user = await create_user(client, "target@example.com")
    before = await stored_documents(db)
    for method, path in BODY_ENDPOINTS:
        started = time.perf_counter()
        response = await client.request(method, path.format(id=user["id"]), data=raw, headers=auth())
        await scim_error(response, 400, "invalidSyntax")
        assert time.perf_counter() - started < FAST_SECONDS, (method, path)
    assert await stored_documents(db) == before


async def test_a_lone_surrogate_escape_is_refused_before_anything_is_stored(client: Client, db: Any) -> None:
    # Regression: json.loads keeps "\ud800", the user was stored, and rendering it failed with a 500.
    response = await client.post(USERS, data=b'{"userName": "a\\ud800b"}', headers=auth())
    await scim_error(response, 400, "invalidSyntax")
    assert await stored_documents(db) == []
    # A proper surrogate pair is one character, and welcome.
    created = await create_user(client, "\U0001f600@example.com")
    assert created["userName"] == "\U0001f600@example.com"


@HTTP_BUDGET
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
async def test_arbitrary_bytes_never_get_a_5xx_and_write_only_on_201(client: Client, raw: bytes) -> None:
    before = await count(client)
    response = await client.post(USERS, data=raw, headers=auth())
    assert response.status in (201, 400, 409), await response.text()
    if response.status != 201:
        body = await scim_error(response, response.status, (await response.json()).get("scimType"))
        assert body.get("scimType") in ("invalidSyntax", "invalidValue", "uniqueness")
    assert await count(client) == before + (response.status == 201)


# --- sizes ------------------------------------------------------------------------------------------


def stream(raw: bytes) -> io.BytesIO:
    """aiohttp's client warns (ResourceWarning) about sending a megabyte of raw bytes at once."""
    return io.BytesIO(raw)


def padded_body(body: dict[str, Any], size: int) -> bytes:
    """``body`` plus an ignored unknown attribute that brings it to exactly ``size`` bytes."""
    raw = json.dumps({**body, "padding": ""}).encode()
    padded = json.dumps({**body, "padding": "p" * (size - len(raw))}).encode()
    assert len(padded) == size
    return padded


async def test_a_body_over_max_body_bytes_is_413_and_writes_nothing(client: Client, db: Any) -> None:
    user = await create_user(client, "target@example.com")
    before = await stored_documents(db)
    for (method, path), size in itertools.product(BODY_ENDPOINTS, (MAX_BODY_BYTES + 1, 3 * MAX_BODY_BYTES)):
        raw = padded_body({"userName": "big@example.com", "displayName": "big"}, size)
        response = await client.request(method, path.format(id=user["id"]), data=stream(raw), headers=auth())
        await scim_error(response, 413)
    assert await stored_documents(db) == before


async def test_a_body_of_exactly_max_body_bytes_is_read(client: Client) -> None:
    raw = padded_body({"userName": "exact@example.com"}, MAX_BODY_BYTES)
    response = await client.post(USERS, data=stream(raw), headers=auth())
    assert response.status == 201, await response.text()
    assert "padding" not in await response.json()


async def test_strings_up_to_the_value_limit_are_stored_and_longer_ones_are_400(client: Client) -> None:
    longest = "a" * (MAX_STRING_LENGTH - len("@example.com")) + "@example.com"
    created = await create_user(client, longest, displayName="d" * MAX_STRING_LENGTH)
    assert created["userName"] == longest and len(created["displayName"]) == MAX_STRING_LENGTH
    before = await count(client)
    for body in (
        {"userName": "b" * (MAX_STRING_LENGTH + 1)},
        {"userName": "long-display", "displayName": "d" * (MAX_STRING_LENGTH + 1)},
        # Just under max_body_bytes, one string of a megabyte.
        {"userName": "huge", "name": {"givenName": "g" * (MAX_BODY_BYTES - 100)}},
    ):
        response = await client.post(USERS, data=stream(json.dumps(body).encode()), headers=auth())
        await scim_error(response, 400, "invalidValue")
    assert await count(client) == before


# --- filters --------------------------------------------------------------------------------------


def filter_url(text: str, endpoint: str = USERS) -> str:
    return f"{endpoint}?filter={quote(text)}"


# Request lines may be as long as a body (app.py); the longest filters are still sent in a SearchRequest
# body here, to keep the URLs of these tests readable.
URL_LIMIT = 8000


@pytest.mark.parametrize(
    "text",
    [
        " or ".join(['userName eq "x"'] * 3000),  # thousands of terms, far over max_filter_length
        " or ".join(["id pr"] * 300),  # under max_filter_length, over max_filter_terms (256)
        "(" * 5000 + "userName pr" + ")" * 5000,
        "(" * 40 + "userName pr" + ")" * 40,  # short, but deeper than max_filter_depth (32)
        "not (" * 40 + "userName pr" + ")" * 40,
        "emails[" * 40 + 'value eq "x"' + "]" * 40,
        "(" * 100_000,
    ],
    ids=["3000-terms", "300-terms", "5000-parens", "40-parens", "40-nots", "40-brackets", "unclosed"],
)
async def test_oversized_filters_are_400_invalid_filter_fast(client: Client, text: str) -> None:
    for endpoint in (USERS, GROUPS):
        started = time.perf_counter()
        if len(filter_url(text, endpoint)) < URL_LIMIT:
            response = await client.get(filter_url(text, endpoint), headers=auth())
            await scim_error(response, 400, "invalidFilter")
        response = await client.post(endpoint + "/.search", json={"filter": text}, headers=auth())
        await scim_error(response, 400, "invalidFilter")
        assert time.perf_counter() - started < FAST_SECONDS


@HTTP_BUDGET
@given(depth=st.integers(1, 80), kind=st.sampled_from(["paren", "not"]))
async def test_filter_depth_is_honoured_up_to_the_limit_and_refused_beyond(
    client: Client, depth: int, kind: str
) -> None:
    opening = "(" if kind == "paren" else "not ("
    text = opening * depth + "userName pr" + ")" * depth
    response = await client.get(filter_url(text), headers=auth())
    if depth <= 30:
        assert response.status == 200, await response.text()
    elif depth >= 34:
        await scim_error(response, 400, "invalidFilter")
    else:
        assert response.status in (200, 400)


@HTTP_BUDGET
@given(terms=st.integers(1, 600))
async def test_filter_terms_are_honoured_up_to_the_limit_and_refused_beyond(
    client: Client, terms: int
) -> None:
    text = " or ".join(["id pr"] * terms)
    response = await client.post(USERS + "/.search", json={"filter": text}, headers=auth())
    if terms <= 256:
        assert response.status == 200, await response.text()
    else:
        await scim_error(response, 400, "invalidFilter")


# --- regex metacharacters match literally ---------------------------------------------------------

METACHARACTERS = ".^$*+?()[]{}|\\/-"
# Distinct even case-insensitively (userName is unique that way).
NAMES = [
    "a.b",
    "a*b",
    "a+b",
    "a?b",
    "(ab)",
    "[ab]",
    "{a,b}",
    "a|b",
    "^ab$",
    "a\\b",
    "a\\.b",
    ".*",
    "$ne",
    "$where",
    "ab",
    "AxB",
    "a/b/",
    "x-y",
    "Ǆ.ǅ",  # titlecase letters: lower() of each differs
]


@pytest.fixture
async def literal_users(client: Client) -> dict[str, str]:
    """Users whose userName, externalId and email are full of regex metacharacters; name -> id."""
    ids = {}
    for name in NAMES:
        created = await create_user(client, name, externalId=name, emails=[{"value": name}])
        ids[name] = created["id"]
    return ids


def expected(op: str, needle: str, case_exact: bool) -> set[str]:
    def matches(name: str) -> bool:
        have, want = (name, needle) if case_exact else (name.lower(), needle.lower())
        if op == "co":
            return want in have
        if op == "sw":
            return have.startswith(want)
        if op == "ew":
            return have.endswith(want)
        return have == want

    return {name for name in NAMES if matches(name)}


async def names_matching(client: Client, text: str) -> set[str]:
    response = await client.post(USERS + "/.search", json={"filter": text, "count": 1000}, headers=auth())
    assert response.status == 200, await response.text()
    return {r["userName"] for r in (await response.json())["Resources"]}


@HTTP_BUDGET
@given(
    needle=st.text(alphabet=METACHARACTERS + "abxyABǄǅǆ,", min_size=1, max_size=4) | st.sampled_from(NAMES),
    op=st.sampled_from(["co", "sw", "ew", "eq"]),
    attribute=st.sampled_from([("userName", False), ("externalId", True), ("emails.value", False)]),
)
async def test_filter_values_with_regex_metacharacters_match_literally(
    client: Client, literal_users: dict[str, str], needle: str, op: str, attribute: tuple[str, bool]
) -> None:
    name, case_exact = attribute
    text = f"{name} {op} {json.dumps(needle)}"
    assert await names_matching(client, text) == expected(op, needle, case_exact), text


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('userName eq "$ne"', {"$ne"}),
        ('userName sw "$"', {"$ne", "$where"}),
        ('userName co ".*"', {".*"}),
        ('userName ew "b$"', {"^ab$"}),
        ('userName ew "b"', {"a.b", "a*b", "a+b", "a?b", "a|b", "a\\b", "a\\.b", "ab", "AxB"}),
        ('userName eq "^ab$"', {"^ab$"}),
        ('externalId co "a\\\\b"', {"a\\b"}),
        ('emails[value co "(ab)"]', {"(ab)"}),
        ('emails.value co "|"', {"a|b"}),
    ],
)
async def test_operator_and_regex_text_in_filter_values_is_literal(
    client: Client, literal_users: dict[str, str], text: str, names: set[str]
) -> None:
    assert await names_matching(client, text) == names


# --- Mongo operators and dotted keys in bodies ------------------------------------------------------

HOSTILE_BODY = {
    "userName": "x",
    "$where": "1",
    "name": {"$ne": None, "givenName": "g", "a.b": 1},
    "a.b": 1,
    "emails": [{"value": "e@example.com", "$gt": "", "x.y": 1}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "$set": {"userName": "y"},
        "department": "d",
        "manager": {"value": "m", "$id": 1, "$ref": "https://x/Users/m", "$db": "admin"},
    },
    "$set": {"meta.version": 99},
    "meta.version": 99,
    "_id": "chosen",
    "_lc": {"userName": "y"},
}


async def test_operator_and_dotted_keys_in_a_body_never_reach_the_store(client: Client, db: Any) -> None:
    response = await client.post(USERS, json=HOSTILE_BODY, headers=auth())
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["userName"] == "x"
    assert created["name"] == {"givenName": "g"}
    assert created["emails"] == [{"value": "e@example.com"}]
    assert created[ENTERPRISE] == {"department": "d", "manager": {"value": "m", "$ref": "https://x/Users/m"}}
    assert created["id"] != "chosen" and created["meta"]["version"] == 'W/"1"'
    user_id = created["id"]
    replaced = await client.put(f"{USERS}/{user_id}", json=HOSTILE_BODY, headers=auth())
    assert replaced.status == 200, await replaced.text()
    patch = {
        "Operations": [
            {"op": "add", "value": {**HOSTILE_BODY, "name.$ne": 1, "name": {"$gt": 1, "familyName": "f"}}},
            {"op": "replace", "path": "name", "value": {"$ne": None, "formatted": "F"}},
            {"op": "add", "path": "emails", "value": [{"value": "z@example.com", "$where": "1"}]},
        ]
    }
    patched = await client.patch(f"{USERS}/{user_id}", json=patch, headers=auth())
    assert patched.status == 200, await patched.text()
    docs = await stored_documents(db)
    version = int((await patched.json())["meta"]["version"][3:-1])
    assert len(docs) == 1 and docs[0]["_id"] == user_id and docs[0]["meta"]["version"] == version
    assert hostile_keys(docs) == []
    assert docs[0]["_lc"] == {"userName": "x"}


hostile_names = st.one_of(
    st.sampled_from(
        ["$where", "$ne", "$gt", "$set", "$ref", "$id", "a.b", ".", "$", "_id", "_lc", "meta.version"]
    ),
    st.text(alphabet="$._abz", min_size=1, max_size=5),
)
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))
hostile_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_names, inner, max_size=3),
    max_leaves=8,
)
# Where hostile keys can hide: the root, complex attributes, multi-valued elements, the extension.
CONTAINERS = ["", "name", "emails", ENTERPRISE, f"{ENTERPRISE}/manager", "addresses"]


@HTTP_BUDGET
@given(
    container=st.sampled_from(CONTAINERS),
    extra=st.dictionaries(hostile_names, hostile_values, min_size=1, max_size=4),
    index=st.integers(0, 10**6),
)
async def test_random_hostile_keys_are_dropped_or_refused_never_stored(
    client: Client, db: Any, container: str, extra: dict[str, Any], index: int
) -> None:
    body: dict[str, Any] = {"userName": f"user{index}"}
    if container == "":
        body.update(extra)
    elif container == "emails":
        body["emails"] = [{"value": f"{index}@example.com", **extra}]
    elif container == "addresses":
        body["addresses"] = [{"type": "work", **extra}]
    else:
        target = body
        for part in container.split("/"):
            target = target.setdefault(part, {})
        target.update(extra)
    before = await count(client)
    response = await client.post(USERS, json=body, headers=auth())
    assert response.status in (201, 400, 409), await response.text()
    assert await count(client) == before + (response.status == 201)
    assert hostile_keys(await stored_documents(db)) == []


# --- Mongo operator injection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"userName": {"$ne": None}},
        {"userName": {"$gt": ""}},
        {"userName": ["$ne"]},
        {"userName": "x", "active": {"$ne": False}},
        {"userName": "x", "displayName": {"$regex": ".*"}},
        {"userName": "x", "name": {"givenName": {"$ne": None}}},
        {"userName": "x", "emails": [{"value": {"$exists": True}}]},
        {"userName": "x", ENTERPRISE: {"department": {"$in": ["a"]}}},
    ],
)
async def test_operator_objects_as_values_are_400_invalid_value(
    client: Client, db: Any, body: dict[str, Any]
) -> None:
    before = await stored_documents(db)
    response = await client.post(USERS, json=body, headers=auth())
    await scim_error(response, 400, "invalidValue")
    assert await stored_documents(db) == before


@pytest.mark.parametrize(
    "path",
    [
        "$where",
        "members[$where]",
        'emails[value eq "x"].$ne',
        "name.$gt",
        'emails[$where eq "1"]',
        "emails.$",
        "$ref",
        "_id",
        "_lc.userName",
        "meta.version",
        "name.givenName.$set",
        f"{ENTERPRISE}:$where",
    ],
)
async def test_operator_patch_paths_are_400_invalid_path_and_change_nothing(
    client: Client, db: Any, path: str
) -> None:
    user = await create_user(client, "target@example.com", name={"givenName": "g"})
    before = await stored_documents(db)
    for op in ("add", "replace", "remove"):
        operation = {"op": op, "path": path, "value": "1"}
        response = await client.patch(
            f"{USERS}/{user['id']}", json={"Operations": [operation]}, headers=auth()
        )
        # meta.version names a readOnly attribute: that is a mutability error, still nothing written.
        await scim_error(response, 400, "mutability" if path == "meta.version" else "invalidPath")
    assert await stored_documents(db) == before


@pytest.mark.parametrize(
    "sort_by",
    [
        "$natural",
        "$where",
        "userName.$ne",
        "_id",
        "_lc.userName",
        "a.b.c",
    ],
)
async def test_operator_sort_keys_are_400_invalid_value(client: Client, sort_by: str) -> None:
    await create_user(client, "target@example.com")
    response = await client.get(f"{USERS}?sortBy={sort_by}", headers=auth())
    await scim_error(response, 400, "invalidValue")


@pytest.mark.parametrize(
    "text",
    ['_id eq "x"', '_lc.userName eq "x"', '$where eq "1"', 'userName eq {"$ne": 1}', "userName.$ne pr"],
)
async def test_filters_on_internal_or_operator_names_are_400_invalid_filter(
    client: Client, text: str
) -> None:
    response = await client.get(filter_url(text), headers=auth())
    await scim_error(response, 400, "invalidFilter")


# --- paging, attributes, PATCH size ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_index", "count_", "page_start", "page_size"),
    [
        ("1" + "0" * 30, "1" + "0" * 30, 10**30, 0),
        ("-5", "-5", 1, 0),
        ("0", "1" + "0" * 30, 1, 3),
        ("9223372036854775808", "2", 9223372036854775808, 0),
        (" 2 ", "1", 2, 1),
    ],
)
async def test_huge_and_negative_paging_values_are_clamped(
    client: Client, start_index: str, count_: str, page_start: int, page_size: int
) -> None:
    for name in ("a", "b", "c"):
        await create_user(client, name)
    query = {"startIndex": start_index, "count": count_}
    response = await client.get(USERS, params=query, headers=auth())
    assert response.status == 200, await response.text()
    page = await response.json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, page_start, page_size)
    body = {"startIndex": int(start_index), "count": int(count_)}
    searched = await (await client.post(USERS + "/.search", json=body, headers=auth())).json()
    assert (searched["startIndex"], searched["itemsPerPage"]) == (page_start, page_size)


@pytest.mark.parametrize("value", ["1" * 5000, "1e3", "x", "1.5", "0x10"])
async def test_unreadable_paging_values_are_400_invalid_value(client: Client, value: str) -> None:
    for name in ("startIndex", "count"):
        response = await client.get(USERS, params={name: value}, headers=auth())
        await scim_error(response, 400, "invalidValue")


@pytest.mark.parametrize("names", [101, 5000])
async def test_thousands_of_attribute_names_are_400_invalid_value(
    client: Client, db: Any, names: int
) -> None:
    user = await create_user(client, "target@example.com")
    known = ["userName", "name.givenName", "emails.value", "meta.version", "zzz", "$where", "a.b"]
    many = ",".join(known[i % len(known)] for i in range(names))
    before = await stored_documents(db)
    for parameter in ("attributes", "excludedAttributes"):
        sent = [
            ("GET", USERS, None),
            ("GET", f"{USERS}/{user['id']}", None),
            ("POST", USERS, {"userName": "new"}),
            ("PUT", f"{USERS}/{user['id']}", {"userName": "n"}),
        ]
        for method, url, body in sent:
            if len(many) > URL_LIMIT:
                continue  # only a SearchRequest body can carry that many (see URL_LIMIT)
            response = await client.request(method, url, params={parameter: many}, json=body, headers=auth())
            await scim_error(response, 400, "invalidValue")
        search = {parameter: many.split(",")}
        await scim_error(
            await client.post(USERS + "/.search", json=search, headers=auth()), 400, "invalidValue"
        )
    assert await stored_documents(db) == before


async def test_exactly_max_attributes_names_are_accepted(client: Client) -> None:
    await create_user(client, "target@example.com")
    response = await client.get(USERS, params={"attributes": ",".join(["userName"] * 100)}, headers=auth())
    assert response.status == 200


@pytest.mark.parametrize("operations", [1001, 5000])
async def test_more_than_max_patch_operations_is_400_and_changes_nothing(
    client: Client, db: Any, operations: int
) -> None:
    user = await create_user(client, "target@example.com")
    before = await stored_documents(db)
    ops = [
        {"op": "add", "path": "emails", "value": [{"value": f"{i}@example.com"}]} for i in range(operations)
    ]
    started = time.perf_counter()
    response = await client.patch(f"{USERS}/{user['id']}", json={"Operations": ops}, headers=auth())
    await scim_error(response, 400, "invalidSyntax")
    assert time.perf_counter() - started < FAST_SECONDS
    assert await stored_documents(db) == before


async def test_exactly_max_patch_operations_are_applied(client: Client) -> None:
    user = await create_user(client, "target@example.com")
    ops = [{"op": "add", "path": "emails", "value": [{"value": f"{i}@example.com"}]} for i in range(1000)]
    response = await client.patch(f"{USERS}/{user['id']}", json={"Operations": ops}, headers=auth())
    assert response.status == 200, await response.text()
    patched = await response.json()
    assert len(patched["emails"]) == 1000 and patched["meta"]["version"] == 'W/"2"'


async def test_a_filter_within_max_filter_length_is_answered_by_get_whatever_its_encoding(
    client: Client,
) -> None:
    text = 'userName eq "' + " " * 4000 + '"'  # 4,013 characters, about 12 KB percent-encoded
    assert len(text) <= 4096 and len(filter_url(text)) > 8190
    response = await client.get(filter_url(text), headers=auth())
    assert response.status == 200
    assert (await response.json())["totalResults"] == 0


async def test_a_url_longer_than_any_filter_gets_a_scim_error_not_a_parser_error(client: Client) -> None:
    text = 'userName eq "' + "x" * 20_000 + '"'  # beyond max_filter_length, about 20 KB in the URL
    response = await client.get(filter_url(text), headers=auth())
    await scim_error(response, 400, "invalidFilter")
