"""Seven places where the compiled query or PATCH once parted from the RFC (issue 16; the last two
found by the reference property tests of ``tests/reference``), each held to the sentence it follows:
exact dicts, and the same filters run on the embedded store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scim_server.compiler import apply_patch, compile_filter, parse_patch_request
from scim_server.errors import InvalidFilterError, NoTargetError
from scim_server.filters import parse_filter
from scim_server.schema.catalog import ENTERPRISE_USER_SCHEMA_ID as ENT
from scim_server.schema.catalog import USER_RESOURCE_TYPE as USERS
from scim_server.storage.client import embedded_client
from scim_server.storage.documents import to_document
from tests.reference.evaluator import matches

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

RESOURCES: dict[str, dict[str, Any]] = {
    "both": {
        "userName": "both",
        "profileUrl": "https://Example.com/both",
        "emails": [{"value": "b@work.example", "type": "work"}, {"value": "b@home.example", "type": "home"}],
        "photos": [{"value": "https://Photos.example/b.JPG", "type": "photo"}],
        "name": {"givenName": "Bo"},
    },
    "work": {
        "userName": "work",
        "emails": [{"value": "w@work.example", "type": "work"}],
        ENT: {"manager": {"value": "m1"}},
    },
    "untyped": {"userName": "untyped", "emails": [{"value": "u@example.com"}]},
    "none": {"userName": "none", "profileUrl": "http://example.org/none"},
    # One typed and one untyped email: the untyped one adds no value to emails.type.
    "mixed": {
        "userName": "mixed",
        "emails": [{"value": "m@work.example", "type": "work"}, {"value": "m@example.com"}],
        "name": {"familyName": "Mixed"},
    },
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


#    The values of emails.type are the assigned types of the elements (an element without a type adds
#    none, as for pr and eq null). With no value at all the attribute is unassigned, which RFC 7643 §2.5
#    makes null, and null is "not identical" to any string (Table 3, ne), as for a single-valued one.


def test_ne_on_a_multi_valued_attribute_compiles_to_some_value_differing_or_none() -> None:
    assert query('emails.type ne "work"') == {
        "$or": [
            {"emails": {"$elemMatch": {"_lc.type": {"$nin": [None, "", "work"]}}}},
            {"$nor": [{"emails": {"$elemMatch": {"type": {"$nin": [None, ""]}}}}]},
        ]
    }
    assert query('emails ne "w@work.example"') == {
        "$or": [
            {"emails": {"$elemMatch": {"_lc.value": {"$nin": [None, "", "w@work.example"]}}}},
            {"$nor": [{"emails": {"$elemMatch": {"value": {"$nin": [None, ""]}}}}]},
        ]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('emails.type ne "work"', {"both", "untyped", "none"}),
        ('emails ne "w@work.example"', {"both", "untyped", "none", "mixed"}),
        # Inside brackets the filter sees one element, whose missing type is null: not "work".
        ('emails[type ne "work"]', {"both", "untyped", "mixed"}),
        ('emails[not (type eq "work")]', {"both", "untyped", "mixed"}),
        ('emails.type eq "work"', {"both", "work", "mixed"}),
        ('emails.value ew "@home.example"', {"both"}),
        ('emails[not (type eq "work" or value co "u@")]', {"both", "mixed"}),
        ('emails[value sw "m" and value ew "example.com"]', {"mixed"}),
        # schemas is multi-valued too: every resource has the core URN, which is not the extension's.
        (f'schemas ne "{ENT}"', set(RESOURCES)),
        ('schemas ne "urn:ietf:params:scim:schemas:core:2.0:User"', {"work"}),
        # A top-level not stays the complement of the inner filter.
        ('not (emails.type eq "work")', {"untyped", "none"}),
        ('not (emails.type ne "work")', {"work", "mixed"}),
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
        ('not (groups.value eq "g1")', {"untyped", "none", "mixed"}),
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


# 6. RFC 7644 §3.4.2.2, Table 5, "[ ]": "Service providers MAY support complex filters where expressions
#    MUST be applied to the same value of a parent attribute specified immediately before the left
#    square bracket ("[")." That holds for a single-valued complex attribute too: a user without a name
#    has no value for name[givenName ne "x"] to be applied to.


def test_brackets_on_a_single_complex_attribute_demand_its_value() -> None:
    assert query('name[givenName ne "x"]') == {
        "name": {"$exists": True, "$nin": [None, {}]},
        "name._lc.givenName": {"$ne": "x"},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name[givenName ne "x"]', {"both", "mixed"}),
        ('name[not (givenName eq "Bo")]', {"mixed"}),
        ("name[givenName eq null]", {"mixed"}),
        ("name[givenName pr]", {"both"}),
        (f'{ENT}:manager[value ne "m2"]', {"work"}),
        (f"{ENT}:manager[value eq null]", set()),
        (f'{ENT}:manager[not (value eq "m1")]', set()),
        # The complement stays the complement.
        ('not (name[givenName ne "x"])', {"work", "untyped", "none"}),
    ],
)
async def test_brackets_on_a_single_complex_attribute_skip_resources_without_it(
    users: Any, text: str, expected: set[str]
) -> None:
    assert await found(users, text) == expected


# 7. RFC 7644 §3.5.2.3: "If the target location is a multi-valued attribute for which a value selection
#    filter ("valuePath") has been supplied and no record match was made, the service provider SHALL
#    indicate failure by returning HTTP status code 400 and a "scimType" error code of "noTarget"."
#    The documented leniency (docs/design.md, "Filtered adds") creates the element an eq filter
#    describes, to hold the value sent; null or "" is no value, so nothing is created and noTarget holds.


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": 'emails[type ne "work"].display', "value": None},
        {"op": "replace", "path": 'emails[type eq "home"].display', "value": None},
        {"op": "Replace", "path": 'emails[type eq "home"].display', "value": ""},
        {"op": "add", "path": 'emails[display co "zz"].value', "value": None},
        {"op": "replace", "path": 'emails[type eq "home"]', "value": None},
        {"op": "add", "path": 'emails[type eq "home"]', "value": {"display": None, "value": ""}},
    ],
)
def test_null_through_a_filter_that_matches_nothing_is_no_target(operation: dict[str, Any]) -> None:
    with pytest.raises(NoTargetError) as info:
        patched(operation)
    assert info.value.scim_type == "noTarget" and info.value.status == 400


def test_null_through_a_filter_that_matches_unassigns_and_a_value_still_creates() -> None:
    assert patched({"op": "replace", "path": 'emails[type eq "work"].display', "value": ""}) == {
        **BJENSEN,
        "emails": [{"value": "b@work.example", "type": "work"}],
    }
    assert patched({"op": "replace", "path": 'emails[type eq "home"].value', "value": "h@x.example"}) == {
        **BJENSEN,
        "emails": [*BJENSEN["emails"], {"type": "home", "value": "h@x.example"}],
    }


# Portability: MongoDB-compatible engines differ on what they accept inside $elemMatch; the compiler
# keeps it flat (no $and, no $nor there). docs/design.md, "Queries the server sends", lists the rest.


def _operators_inside_elem_match(node: Any, inside: bool = False) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if inside and key.startswith("$"):
                found.add(key)
            found |= _operators_inside_elem_match(value, inside or key == "$elemMatch")
    elif isinstance(node, list):
        for item in node:
            found |= _operators_inside_elem_match(item, inside)
    return found


_FLAT = {"$or", "$ne", "$eq", "$in", "$nin", "$not", "$regex", "$gt", "$exists"}


@pytest.mark.parametrize(
    ("text", "linked_by_nor"),
    [
        ('emails[value sw "b" and value ew "example"]', False),
        ('emails[not (type eq "work" and value co "b@")]', False),
        ('emails[not (type eq "work" or type eq "home") and value co "@"]', False),
        ('emails[not (not (type eq "work") or value gt "m" and type pr)]', False),
        ('emails.type ne "work" and not (emails[not (display sw "x")])', False),
        # A second conjunct on a key while $or holds a disjunction: the $nor-of-$nor link.
        (
            'emails[(type eq "work" or type eq "home") and (value co "b" or value co "m") and type ne "x"]',
            True,
        ),
        (
            'emails[((type eq "work" or type eq "home") and (value co "b" or value co "w"))'
            ' and (value ew ".example" or value ew ".com")]',
            True,
        ),
        (
            'emails[type eq "work" and type ne "home" and type pr and (value pr or display pr)'
            ' and (value co "m" or type eq "x")]',
            True,
        ),
    ],
)
async def test_elem_match_holds_no_and_and_nor_only_as_a_link(
    users: Any, text: str, linked_by_nor: bool
) -> None:
    assert _operators_inside_elem_match(query(text)) <= _FLAT | ({"$nor"} if linked_by_nor else set())
    # The flat forms mean what the filter means: the store finds what the reference evaluator accepts.
    ast = parse_filter(text, schema_uris=USERS.schema_uris)
    expected = {rid for rid, r in RESOURCES.items() if matches(r, ast, USERS)}
    assert expected and await found(users, text) == expected
