"""Five places where the compiled query or PATCH once parted from the RFC (issue 16), each held to the
sentence it follows: exact dicts, and the same filters run on the embedded store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scim_server.compiler import apply_patch, compile_filter, parse_patch_request
from scim_server.errors import InvalidFilterError
from scim_server.filters import parse_filter
from scim_server.schema.catalog import USER_RESOURCE_TYPE as USERS
from scim_server.storage.client import embedded_client
from scim_server.storage.documents import to_document

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

RESOURCES: dict[str, dict[str, Any]] = {
    "both": {
        "userName": "both",
        "profileUrl": "https://Example.com/both",
        "emails": [{"value": "b@work.example", "type": "work"}, {"value": "b@home.example", "type": "home"}],
        "photos": [{"value": "https://Photos.example/b.JPG", "type": "photo"}],
    },
    "work": {"userName": "work", "emails": [{"value": "w@work.example", "type": "work"}]},
    "untyped": {"userName": "untyped", "emails": [{"value": "u@example.com"}]},
    "none": {"userName": "none", "profileUrl": "http://example.org/none"},
}
# Memberships as the service looks them up for the filter: group id -> its member users.
RELATED = {"g1": ("both", "work"), "g2": ("both",), "g3": ()}


@pytest.fixture
async def users() -> Any:
    collection: Any = embedded_client()["scim"]["users"]
    await collection.insert_many(
        [
            to_document(resource, USERS, id=rid, created=WHEN, last_modified=WHEN, version=1)
            for rid, resource in RESOURCES.items()
        ]
    )
    return collection


def query(text: str) -> dict[str, Any]:
    return compile_filter(parse_filter(text, schema_uris=USERS.schema_uris), USERS, related=RELATED)


async def found(users: Any, text: str) -> set[str]:
    return {doc["_id"] async for doc in users.find(query(text))}


# 1. RFC 7644 §3.4.2.2: "If the specified attribute in a filter expression is a multi-valued attribute,
#    the filter matches if any of the values of the specified attribute match the specified criterion;
#    e.g., if a User has multiple "emails" values, only one has to match for the entire User to match."


def test_ne_on_a_multi_valued_attribute_compiles_to_some_element_differing() -> None:
    assert query('emails.type ne "work"') == {"emails": {"$elemMatch": {"_lc.type": {"$ne": "work"}}}}
    assert query('emails ne "w@work.example"') == {
        "emails": {"$elemMatch": {"_lc.value": {"$ne": "w@work.example"}}}
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('emails.type ne "work"', {"both", "untyped"}),
        ('emails ne "w@work.example"', {"both", "untyped"}),
        ('emails[type ne "work"]', {"both", "untyped"}),
        ('emails[not (type eq "work")]', {"both", "untyped"}),
        ('emails.type eq "work"', {"both", "work"}),
        ('emails.value ew "@home.example"', {"both"}),
        # A top-level not stays the complement of the inner filter.
        ('not (emails.type eq "work")', {"untyped", "none"}),
        ('not (emails.type ne "work")', {"work", "none"}),
    ],
)
async def test_every_operator_on_a_multi_valued_attribute_means_any_value(
    users: Any, text: str, expected: set[str]
) -> None:
    assert await found(users, text) == expected


# 2. RFC 7644 §3.4.2.2, "[ ]": "Service providers MAY support complex filters where expressions MUST be
#    applied to the same value of a parent attribute specified immediately before the left square
#    bracket ("[")." A user with no groups has no value to apply them to.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('groups[value eq "g1"]', {"both", "work"}),
        ('groups[value eq "g2" or value eq "g1"]', {"both", "work"}),
        ('groups[value eq "g1" and value eq "g2"]', set()),  # no single group is both
        ('groups.value eq "g1" and groups.value eq "g2"', {"both"}),  # two values may differ
        ('groups[value eq "g3"]', set()),
        ('not (groups.value eq "g1")', {"untyped", "none"}),
    ],
)
async def test_value_paths_on_groups_apply_to_one_group(users: Any, text: str, expected: set[str]) -> None:
    assert await found(users, text) == expected


@pytest.mark.parametrize(
    "text", ['groups[value ne "g1"]', 'groups[not (value eq "g1")]', 'groups.value ne "g1"']
)
def test_groups_filters_that_would_need_every_membership_are_refused(text: str) -> None:
    """Such a filter holds for groups it does not name; a user matches only through one of their
    groups, which the looked-up members of the named groups cannot tell. Refused, never guessed."""
    with pytest.raises(InvalidFilterError) as info:
        query(text)
    assert "not (groups.value eq" in info.value.detail


# 3. RFC 7643 §2.5: "Unassigned attributes, the null value, or empty array (in the case of a
#    multi-valued attribute) SHALL be considered to be equivalent in "state"." A null inside a complex
#    value unassigns that sub-attribute, as RFC 7644 §3.5.2.3 replaces with the given value.

BJENSEN: dict[str, Any] = {
    "userName": "bjensen",
    "name": {"familyName": "Jensen", "givenName": "Barbara", "middleName": "Jane"},
    "emails": [{"value": "b@work.example", "type": "work", "display": "Work"}],
}


def patched(*operations: dict[str, Any]) -> dict[str, Any]:
    return apply_patch(BJENSEN, parse_patch_request({"Operations": list(operations)}, USERS), USERS)


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        (
            {"op": "replace", "path": "name", "value": {"familyName": None}},
            {"givenName": "Barbara", "middleName": "Jane"},
        ),
        (
            {"op": "replace", "value": {"name": {"givenName": None, "middleName": "J"}}},
            {"familyName": "Jensen", "middleName": "J"},
        ),
        (
            {"op": "add", "path": "name", "value": {"familyName": None, "givenName": "Babs"}},
            {"givenName": "Babs", "middleName": "Jane"},
        ),
        (
            {"op": "replace", "path": "name.middleName", "value": None},
            {"familyName": "Jensen", "givenName": "Barbara"},
        ),
    ],
)
def test_null_inside_a_complex_value_unassigns_the_sub_attribute(
    operation: dict[str, Any], name: dict[str, Any]
) -> None:
    assert patched(operation) == {**BJENSEN, "name": name}


def test_null_sub_attributes_of_a_filtered_element_are_unassigned_and_the_element_kept() -> None:
    result = patched({"op": "replace", "path": 'emails[type eq "work"]', "value": {"display": None}})
    assert result == {**BJENSEN, "emails": [{"value": "b@work.example", "type": "work"}]}


def test_nulling_every_sub_attribute_of_a_complex_value_unassigns_it() -> None:
    result = patched(
        {
            "op": "replace",
            "path": "name",
            "value": {"familyName": None, "givenName": None, "middleName": None},
        }
    )
    assert result == {k: v for k, v in BJENSEN.items() if k != "name"}


# 4. RFC 7643 §3.1, meta.resourceType: "This attribute has a mutability of "readOnly" and "caseExact"
#    as "true"."


async def test_meta_resource_type_compares_case_exactly(users: Any) -> None:
    assert await found(users, 'meta.resourceType eq "User"') == set(RESOURCES)
    assert await found(users, 'meta.resourceType eq "user"') == set()
    assert await found(users, 'meta.resourceType ne "user"') == set(RESOURCES)


# 5. RFC 7643 §8.7.1 (the User schema, also served at /Schemas): profileUrl and photos.value are
#    "type" : "reference" with "caseExact" : false, so they compare case-insensitively.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('profileUrl sw "HTTPS://"', {"both"}),
        ('profileUrl eq "https://example.com/BOTH"', {"both"}),
        ('profileUrl co "EXAMPLE"', {"both", "none"}),
        ('photos.value ew ".jpg"', {"both"}),
        ('photos[value sw "https://photos.EXAMPLE"]', {"both"}),
    ],
)
async def test_case_insensitive_references_compare_case_insensitively(
    users: Any, text: str, expected: set[str]
) -> None:
    assert await found(users, text) == expected
