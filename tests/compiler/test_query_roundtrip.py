"""Round trips of compiled filters and sorts through the embedded store (mongomock).

The documents are written by hand in the stored layout of ``scim_server.schema.layout``: ``_id``,
``_lc`` shadows next to case-insensitive strings, the enterprise extension under its dot-free key
and ``meta`` holding datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from scim_server.compiler import compile_filter, compile_sort
from scim_server.filters import AttrPath, parse_attr_path, parse_filter
from scim_server.schema.catalog import USER_RESOURCE_TYPE

USERS = USER_RESOURCE_TYPE
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EXT = "urn:ietf:params:scim:schemas:extension:enterprise:2_0:User"


def _meta(created: datetime, modified: datetime | None = None) -> dict[str, Any]:
    return {"created": created, "lastModified": modified or created, "version": 1}


DOCUMENTS: list[dict[str, Any]] = [
    {
        "_id": "u1",
        "userName": "BJensen",
        "externalId": "bjensen-EXT",
        "title": "Tour Guide",
        "userType": "Employee",
        "_lc": {"userName": "bjensen", "title": "tour guide", "userType": "employee"},
        "name": {
            "familyName": "Jensen",
            "givenName": "Barbara",
            "_lc": {"familyName": "jensen", "givenName": "barbara"},
        },
        "emails": [
            {
                "value": "bjensen@example.com",
                "type": "work",
                "primary": True,
                "_lc": {"value": "bjensen@example.com", "type": "work"},
            },
            {"value": "Babs@Jensen.org", "type": "home", "_lc": {"value": "babs@jensen.org", "type": "home"}},
        ],
        "ims": [
            {"value": "bjensen@foo.com", "type": "xmpp", "_lc": {"value": "bjensen@foo.com", "type": "xmpp"}}
        ],
        "roles": [{"value": "Admin", "primary": True, "_lc": {"value": "admin"}}],
        "active": True,
        "meta": _meta(datetime(2011, 5, 13, 4, 42, 34), datetime(2021, 9, 23, 19, 35, 41, 842000)),
        EXT: {"employeeNumber": "701984", "_lc": {"employeeNumber": "701984"}, "manager": {"value": "u2"}},
    },
    {
        "_id": "u2",
        "userName": "JSmith",
        "userType": "Intern",
        "_lc": {"userName": "jsmith", "userType": "intern"},
        "name": {"familyName": "O'Malley", "_lc": {"familyName": "o'malley"}},
        # A work email at x.org and a home email at example.com: must not match a value filter asking
        # for a work email at example.com.
        "emails": [
            {"value": "js@x.org", "type": "work", "_lc": {"value": "js@x.org", "type": "work"}},
            {"value": "js@example.com", "type": "home", "_lc": {"value": "js@example.com", "type": "home"}},
        ],
        "roles": [{"value": "Reader", "primary": False, "_lc": {"value": "reader"}}],
        "active": False,
        "meta": _meta(datetime(2012, 1, 1)),
        EXT: {"employeeNumber": "2", "_lc": {"employeeNumber": "2"}},
    },
    {
        "_id": "u3",
        "userName": "a.b*c",
        "title": "",
        "_lc": {"userName": "a.b*c", "title": ""},
        "emails": [],
        "active": True,
        "meta": _meta(datetime(2013, 1, 1)),
    },
    {
        "_id": "u4",
        "userName": "axb*c",
        "displayName": "Zed",
        "_lc": {"userName": "axb*c", "displayName": "zed"},
        "meta": _meta(datetime(2013, 1, 1)),
        EXT: {},
    },
    {
        "_id": "u5",
        "userName": "$ne",
        "externalId": '{"$gt": ""}',
        "_lc": {"userName": "$ne"},
        "active": None,
        "meta": _meta(datetime(2014, 1, 1)),
    },
]
ALL_IDS = {"u1", "u2", "u3", "u4", "u5"}


@pytest.fixture
async def users() -> Any:
    collection: Any = AsyncMongoMockClient()["scim"]["users"]
    await collection.insert_many([dict(d) for d in DOCUMENTS])
    return collection


async def found(collection: Any, filter_text: str) -> set[str]:
    query = compile_filter(parse_filter(filter_text, schema_uris=USERS.schema_uris), USERS)
    return {doc["_id"] async for doc in collection.find(query)}


async def ordered(
    collection: Any, sort_by: str | None, descending: bool = False, filter_text: str = ""
) -> list[str]:
    path: AttrPath | None = (
        None if sort_by is None else parse_attr_path(sort_by, schema_uris=USERS.schema_uris)
    )
    query = (
        {}
        if not filter_text
        else compile_filter(parse_filter(filter_text, schema_uris=USERS.schema_uris), USERS)
    )
    cursor = collection.find(query).sort(compile_sort(path, descending, USERS))
    return [doc["_id"] async for doc in cursor]


# -- RFC 7644 §3.4.2.2 examples ------------------------------------------------------------------------

RFC_EXAMPLES: list[tuple[str, set[str]]] = [
    ('userName eq "bjensen"', {"u1"}),
    ('name.familyName co "O\'Malley"', {"u2"}),
    ('userName sw "J"', {"u2"}),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', {"u2"}),
    ("title pr", {"u1"}),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', {"u1", "u2", "u3", "u4", "u5"}),
    ('meta.lastModified ge "2012-01-01T00:00:00Z"', {"u1", "u2", "u3", "u4", "u5"}),
    ('meta.lastModified lt "2013-01-01T00:00:00Z"', {"u2"}),
    ('meta.lastModified le "2013-01-01T00:00:00Z"', {"u2", "u3", "u4"}),
    ('title pr and userType eq "Employee"', {"u1"}),
    ('title pr or userType eq "Intern"', {"u1", "u2"}),
    (f'schemas eq "{ENT}"', {"u1", "u2"}),
    ('userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', {"u1"}),
    (
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        {"u3", "u4", "u5"},
    ),
    ('userType eq "Employee" and (emails.type eq "work")', {"u1"}),
    ('userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', {"u1"}),
    (
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
        {"u1"},
    ),
]


@pytest.mark.parametrize(("filter_text", "expected"), RFC_EXAMPLES)
async def test_rfc_example_filters_find_the_right_users(
    users: Any, filter_text: str, expected: set[str]
) -> None:
    assert await found(users, filter_text) == expected


# -- operators -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('userName eq "BJENSEN"', {"u1"}),
        ('USERNAME Eq "jsmith"', {"u2"}),
        ('userName ne "bjensen"', ALL_IDS - {"u1"}),
        ('userName co "SMI"', {"u2"}),
        ('userName ew "SEN"', {"u1"}),
        ('userName gt "b"', {"u1", "u2"}),
        ('userName ge "bjensen"', {"u1", "u2"}),
        ('userName lt "bjensen"', {"u3", "u4", "u5"}),
        ('userName le "a.b*c"', {"u3", "u5"}),
        ('externalId eq "bjensen-EXT"', {"u1"}),
        ('externalId eq "BJENSEN-ext"', set()),
        ('externalId sw "bjensen"', {"u1"}),
        ('externalId co "EXT"', {"u1"}),
        ('externalId co "ext"', set()),
        ('id eq "u3"', {"u3"}),
        ('id ne "u3"', ALL_IDS - {"u3"}),
        ('meta.created eq "2013-01-01T00:00:00.0000000Z"', {"u3", "u4"}),
        ('meta.lastModified eq "2021-09-23T19:35:41.8420572Z"', {"u1"}),
        ('meta.lastModified ge "2021-09-23T19:35:41.8420572Z"', {"u1"}),
        ('meta.lastModified gt "2021-09-23T19:35:41.8420572Z"', set()),
        ('meta.lastModified ge "2021-09-23T21:35:41.842+02:00"', {"u1"}),
        ('meta.resourceType eq "User"', ALL_IDS),
        ('meta.resourceType eq "Group"', set()),
        ('name.givenName sw "BAR"', {"u1"}),
        ("displayName pr", {"u4"}),
    ],
)
async def test_operators(users: Any, filter_text: str, expected: set[str]) -> None:
    assert await found(users, filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("active eq true", {"u1", "u3"}),
        ('active eq "True"', {"u1", "u3"}),
        ('active eq "FALSE"', {"u2"}),
        ("active ne true", {"u2", "u4", "u5"}),
        ("active pr", {"u1", "u2", "u3"}),
        ('roles[primary eq "True"]', {"u1"}),
        ('roles[primary eq "False"]', {"u2"}),
    ],
)
async def test_booleans(users: Any, filter_text: str, expected: set[str]) -> None:
    assert await found(users, filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("title pr", {"u1"}),
        ("title eq null", ALL_IDS - {"u1"}),
        ("title ne null", {"u1"}),
        ("emails pr", {"u1", "u2"}),
        ("emails eq null", {"u3", "u4", "u5"}),
        ("emails.value pr", {"u1", "u2"}),
        ("name pr", {"u1", "u2"}),
        ("name.givenName pr", {"u1"}),
        ("manager pr", {"u1"}),
        (f"{ENT}:employeeNumber pr", {"u1", "u2"}),
        ("schemas pr", ALL_IDS),
        ('schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"', ALL_IDS),
        (f'schemas ne "{ENT}"', ALL_IDS),
        ('schemas ne "urn:ietf:params:scim:schemas:core:2.0:User"', {"u1", "u2"}),
        (f'not (schemas eq "{ENT}")', {"u3", "u4", "u5"}),
        ('schemas eq "urn:example:other"', set()),
    ],
)
async def test_presence_null_and_schemas(users: Any, filter_text: str, expected: set[str]) -> None:
    assert await found(users, filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        (f'{ENT}:employeeNumber eq "701984"', {"u1"}),
        ('employeeNumber eq "701984"', {"u1"}),
        ('urn:scim:schemas:extension:enterprise:1.0:employeeNumber eq "2"', {"u2"}),
        ('manager eq "u2"', {"u1"}),
        ('id eq "u1" and manager eq "u2"', {"u1"}),
        ('id eq "u1" and manager eq "u3"', set()),
        (f'{ENT}:manager.value eq "u2"', {"u1"}),
        (f'{ENT}:manager[value eq "u2"]', {"u1"}),
    ],
)
async def test_enterprise_extension(users: Any, filter_text: str, expected: set[str]) -> None:
    assert await found(users, filter_text) == expected


# -- no injection, escaped patterns ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('userName co "a.b*"', {"u3"}),
        ('userName sw "a.b"', {"u3"}),
        ('userName ew "b*c"', {"u3", "u4"}),
        ('userName co ".*"', set()),
        ('userName sw "^"', set()),
        ('userName co "(x|b)"', set()),
        ('userName eq "$ne"', {"u5"}),
        ('userName ne "$ne"', ALL_IDS - {"u5"}),
        ('externalId eq "$where"', set()),
        (r'externalId eq "{\"$gt\": \"\"}"', {"u5"}),
        (r'userName eq "{\"$ne\": null}"', set()),
        ('userName co "$"', {"u5"}),
    ],
)
async def test_values_are_literal(users: Any, filter_text: str, expected: set[str]) -> None:
    assert await found(users, filter_text) == expected


# -- grouping and value filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('not (userName eq "bjensen")', ALL_IDS - {"u1"}),
        ('not (not (userName eq "bjensen"))', {"u1"}),
        ('userName eq "bjensen" or userName eq "jsmith" or id eq "u5"', {"u1", "u2", "u5"}),
        ('(userName sw "a" or userName sw "b") and not (active eq true)', {"u4"}),
        ('((userName sw "a" and active pr) or (userType eq "intern")) and not (id eq "u2")', {"u3"}),
        ('emails[type eq "work" and value co "example.com"]', {"u1"}),
        ('emails[type eq "home" and value co "example.com"]', {"u2"}),
        ('emails[type eq "work"] and emails[value co "example.com"]', {"u1", "u2"}),
        ('emails.type eq "work" and emails.value co "example.com"', {"u1", "u2"}),
        ('emails[type eq "work" and not (value ew ".org")]', {"u1"}),
        ("emails[primary pr]", {"u1"}),
        ('emails[type eq "home" or primary eq true]', {"u1", "u2"}),
        ('emails[type eq "work"].value eq "JS@x.org"', {"u2"}),
        ('name[givenName eq "barbara" and familyName pr]', {"u1"}),
    ],
)
async def test_grouping_and_value_filters(users: Any, filter_text: str, expected: set[str]) -> None:
    assert await found(users, filter_text) == expected


# -- sorting -------------------------------------------------------------------------------------


async def test_default_order_is_creation_then_id(users: Any) -> None:
    assert await ordered(users, None) == ["u1", "u2", "u3", "u4", "u5"]
    assert await ordered(users, None, descending=True) == ["u1", "u2", "u3", "u4", "u5"]


async def test_sort_is_case_insensitive_on_the_shadow(users: Any) -> None:
    assert await ordered(users, "userName") == ["u5", "u3", "u4", "u1", "u2"]
    assert await ordered(users, "USERNAME", descending=True) == ["u2", "u1", "u4", "u3", "u5"]


async def test_sort_ties_break_on_id_in_the_sort_direction(users: Any) -> None:
    assert await ordered(users, "meta.created", descending=True) == ["u5", "u4", "u3", "u2", "u1"]
    assert await ordered(users, "name.familyName", descending=True) == ["u2", "u1", "u5", "u4", "u3"]


async def test_sort_with_a_filter_and_an_extension_attribute(users: Any) -> None:
    assert await ordered(users, f"{ENT}:employeeNumber", filter_text="employeeNumber pr") == ["u2", "u1"]
    assert await ordered(users, "id", descending=True, filter_text='userName sw "a"') == ["u4", "u3"]


async def test_pages_concatenate_to_the_full_order(users: Any) -> None:
    spec = compile_sort(parse_attr_path("active", schema_uris=USERS.schema_uris), False, USERS)
    full = [d["_id"] async for d in users.find({}).sort(spec)]
    pages: list[str] = []
    for skip in range(0, 5, 2):
        pages += [d["_id"] async for d in users.find({}).sort(spec).skip(skip).limit(2)]
    assert pages == full
    assert sorted(full) == sorted(ALL_IDS)


async def test_stored_datetimes_compare_with_parsed_ones(users: Any) -> None:
    stored = await users.find_one({"_id": "u1"})
    assert stored["meta"]["lastModified"] == datetime(2021, 9, 23, 19, 35, 41, 842000)
    query = compile_filter(parse_filter('meta.lastModified eq "2021-09-23T19:35:41.842Z"'), USERS)
    assert query == {"meta.lastModified": datetime(2021, 9, 23, 19, 35, 41, 842000, tzinfo=UTC)}
    assert [d["_id"] async for d in users.find(query)] == ["u1"]
