"""Exact-dict tests of the filter compiler (RFC 7644 §3.4.2.2); no database involved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scim_server.compiler import compile_filter, string_comparison
from scim_server.errors import InvalidFilterError
from scim_server.filters import (
    And,
    AttrPath,
    Compare,
    CompareOp,
    CompValue,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
    parse_filter,
)
from scim_server.schema.attributes import Attribute, AttributeType, Schema
from scim_server.schema.catalog import (
    COMMON_ATTRIBUTES,
    ENTERPRISE_USER_SCHEMA_ID,
    GROUP_RESOURCE_TYPE,
    USER_RESOURCE_TYPE,
    ResourceType,
)
from scim_server.schema.values import parse_datetime

USERS = USER_RESOURCE_TYPE
ENT = ENTERPRISE_USER_SCHEMA_ID
EXT = "urn:ietf:params:scim:schemas:extension:enterprise:2_0:User"  # its storage key
ALL = {"_id": {"$exists": True}}
NONE = {"_id": {"$exists": False}}
NON_EMPTY = {"$exists": True, "$nin": [None, ""]}
NON_EMPTY_COMPLEX = {"$exists": True, "$nin": [None, {}]}


def path(text: str) -> AttrPath:
    """``a``, ``a.b`` or ``urn:…:a.b`` as an AttrPath (test shorthand; URNs end at the last colon)."""
    uri: str | None = None
    if text.startswith("urn:"):
        uri, _, text = text.rpartition(":")
    attr, _, sub = text.partition(".")
    return AttrPath(uri, attr, sub or None)


def cmp(attr: str, op: str, value: CompValue) -> Compare:
    return Compare(path(attr), CompareOp(op), value)


def pr(attr: str) -> Present:
    return Present(path(attr))


def compiled(node: Filter, resource_type: ResourceType = USERS) -> dict[str, Any]:
    return compile_filter(node, resource_type)


def text(filter_text: str) -> dict[str, Any]:
    return compile_filter(parse_filter(filter_text, schema_uris=USERS.schema_uris), USERS)


def rejects(node: Filter, *names: str, resource_type: ResourceType = USERS) -> None:
    with pytest.raises(InvalidFilterError) as info:
        compile_filter(node, resource_type)
    assert info.value.scim_type == "invalidFilter"
    assert info.value.status == 400
    for name in names:
        assert name in info.value.detail


# -- strings: caseExact=false go to the lower-cased shadow, caseExact=true compare exactly ---------


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("eq", {"_lc.userName": "bjensen"}),
        ("ne", {"_lc.userName": {"$ne": "bjensen"}}),
        ("co", {"_lc.userName": {"$regex": "bjensen"}}),
        ("sw", {"_lc.userName": {"$regex": "^bjensen"}}),
        ("ew", {"_lc.userName": {"$regex": "bjensen$"}}),
        ("gt", {"_lc.userName": {"$gt": "bjensen"}}),
        ("ge", {"_lc.userName": {"$gte": "bjensen"}}),
        ("lt", {"_lc.userName": {"$lt": "bjensen"}}),
        ("le", {"_lc.userName": {"$lte": "bjensen"}}),
    ],
)
def test_case_insensitive_string_uses_the_shadow_and_lower_cases(op: str, expected: dict[str, Any]) -> None:
    assert compiled(cmp("userName", op, "BJensen")) == expected


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("eq", {"externalId": "JYoung"}),
        ("ne", {"externalId": {"$ne": "JYoung"}}),
        ("co", {"externalId": {"$regex": "JYoung"}}),
        ("sw", {"externalId": {"$regex": "^JYoung"}}),
        ("ew", {"externalId": {"$regex": "JYoung$"}}),
        ("gt", {"externalId": {"$gt": "JYoung"}}),
        ("ge", {"externalId": {"$gte": "JYoung"}}),
        ("lt", {"externalId": {"$lt": "JYoung"}}),
        ("le", {"externalId": {"$lte": "JYoung"}}),
    ],
)
def test_case_exact_string_compares_the_field_itself(op: str, expected: dict[str, Any]) -> None:
    assert compiled(cmp("externalId", op, "JYoung")) == expected


def test_entra_unquoted_external_id_is_an_exact_string() -> None:
    assert text("externalId eq jyoung") == {"externalId": "jyoung"}


def test_id_is_stored_as_underscore_id() -> None:
    assert text('id eq "2819c223-7f76-453a-919d-413861904646"') == {
        "_id": "2819c223-7f76-453a-919d-413861904646"
    }


def test_attribute_names_and_operators_are_case_insensitive() -> None:
    assert text('USERNAME Eq "X"') == {"_lc.userName": "x"}
    assert text('name.FamilyName EQ "Jensen"') == {"name._lc.familyName": "jensen"}
    assert text('username Eq "%s"') == {"_lc.userName": "%s"}


def test_regex_metacharacters_are_escaped() -> None:
    assert compiled(cmp("userName", "co", "a.b*")) == {"_lc.userName": {"$regex": r"a\.b\*"}}
    assert compiled(cmp("externalId", "sw", "^(x|y)$")) == {"externalId": {"$regex": r"^\^\(x\|y\)\$"}}
    assert compiled(cmp("externalId", "ew", "[a]+?")) == {"externalId": {"$regex": r"\[a\]\+\?$"}}


def test_operator_looking_values_stay_literal_values() -> None:
    assert compiled(cmp("externalId", "eq", "$ne")) == {"externalId": "$ne"}
    assert compiled(cmp("externalId", "eq", '{"$gt": ""}')) == {"externalId": '{"$gt": ""}'}
    assert compiled(cmp("userName", "eq", "$where")) == {"_lc.userName": "$where"}
    assert text(r'userName eq "{\"$ne\": null}"') == {"_lc.userName": '{"$ne": null}'}


def test_references_follow_their_case_exact_setting() -> None:
    """RFC 7643 §8.7.1 defines profileUrl and photos.value with '"caseExact" : false' (and $ref with
    '"caseExact" : true'), and /Schemas advertises the same: comparisons follow what is advertised.
    (§2.3.7 says "A reference is case exact"; erratum 6001, held, notes the conflict.)"""
    assert compiled(cmp("profileUrl", "eq", "https://X/bjensen")) == {"_lc.profileUrl": "https://x/bjensen"}
    assert compiled(cmp("profileUrl", "sw", "HTTPS://")) == {"_lc.profileUrl": {"$regex": "^https://"}}
    assert compiled(cmp("photos.value", "sw", "https://Photos")) == {
        "photos._lc.value": {"$regex": r"^https://photos"}
    }
    assert text('photos[value ew ".JPG"]') == {"photos": {"$elemMatch": {"_lc.value": {"$regex": r"\.jpg$"}}}}
    assert text(f'{ENT}:manager.$ref eq "https://X/Users/1"') == {f"{EXT}.manager.ref": "https://X/Users/1"}


def test_binary_compares_exactly_and_cannot_be_ordered() -> None:
    assert compiled(cmp("x509Certificates.value", "eq", "MIIDQz")) == {"x509Certificates.value": "MIIDQz"}
    assert compiled(cmp("x509Certificates.value", "co", "QzC+")) == {
        "x509Certificates.value": {"$regex": r"QzC\+"}
    }
    for op in ("gt", "ge", "lt", "le"):
        rejects(cmp("x509Certificates.value", op, "A"), "x509Certificates.value", op)


@pytest.mark.parametrize("value", [5, 1.5, True, False])
def test_strings_do_not_compare_with_numbers_or_booleans(value: CompValue) -> None:
    rejects(cmp("userName", "gt", value), "userName")
    rejects(cmp("externalId", "eq", value), "externalId")


# -- booleans -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [(True, True), (False, False), ("True", True), ("false", False), ("TRUE", True), ("False", False)],
)
def test_boolean_accepts_json_booleans_and_their_strings(value: CompValue, stored: bool) -> None:
    assert compiled(cmp("active", "eq", value)) == {"active": stored}
    assert compiled(cmp("active", "ne", value)) == {"active": {"$ne": stored}}


def test_entra_roles_primary_string_true() -> None:
    assert text('roles[primary eq "True"]') == {"roles": {"$elemMatch": {"primary": True}}}


@pytest.mark.parametrize("op", ["co", "sw", "ew", "gt", "ge", "lt", "le"])
def test_boolean_rejects_substring_and_ordering(op: str) -> None:
    rejects(cmp("active", op, True), "active", op)


@pytest.mark.parametrize("value", ["maybe", "yes", 1, 0, 1.0, ""])
def test_boolean_rejects_other_values(value: CompValue) -> None:
    rejects(cmp("active", "eq", value), "active")


# -- dateTimes ---------------------------------------------------------------------------------------

WHEN = datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("eq", {"meta.lastModified": WHEN}),
        ("ne", {"meta.lastModified": {"$ne": WHEN}}),
        ("gt", {"meta.lastModified": {"$gt": WHEN}}),
        ("ge", {"meta.lastModified": {"$gte": WHEN}}),
        ("lt", {"meta.lastModified": {"$lt": WHEN}}),
        ("le", {"meta.lastModified": {"$lte": WHEN}}),
    ],
)
def test_datetime_compares_datetimes(op: str, expected: dict[str, Any]) -> None:
    assert compiled(cmp("meta.lastModified", op, "2011-05-13T04:42:34Z")) == expected


def test_datetime_with_seven_fraction_digits_is_truncated_to_milliseconds() -> None:
    assert text('meta.lastmodified ge "2021-09-23T19:35:41.8420572Z"') == {
        "meta.lastModified": {"$gte": datetime(2021, 9, 23, 19, 35, 41, 842000, tzinfo=UTC)}
    }


def test_datetime_offsets_are_converted_to_utc() -> None:
    assert compiled(cmp("meta.created", "lt", "2011-05-13T06:42:34.5+02:00")) == {
        "meta.created": {"$lt": datetime(2011, 5, 13, 4, 42, 34, 500000, tzinfo=UTC)}
    }


@pytest.mark.parametrize("op", ["co", "sw", "ew"])
def test_datetime_rejects_substring_operators(op: str) -> None:
    rejects(cmp("meta.lastModified", op, "2011"), "meta.lastModified", op)


@pytest.mark.parametrize("value", ["yesterday", "2011-13-01T00:00:00Z", "", 20110513, True])
def test_datetime_rejects_values_that_are_not_dates(value: CompValue) -> None:
    rejects(cmp("meta.lastModified", "gt", value), "meta.lastModified")


def test_unquoted_datetime_bare_word_is_parsed() -> None:
    assert text("meta.created gt 2011-05-13T04:42:34Z") == {"meta.created": {"$gt": WHEN}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-09-23T19:35:41.8420572Z", datetime(2021, 9, 23, 19, 35, 41, 842000, tzinfo=UTC)),
        ("0001-01-03T00:00:00.0000000Z", datetime(1, 1, 3, tzinfo=UTC)),
        ("2011-05-13T04:42:34z", WHEN),
        ("2011-05-13T04:42:34.999999999Z", datetime(2011, 5, 13, 4, 42, 34, 999000, tzinfo=UTC)),
        ("2011-05-13T00:42:34-04:00", WHEN),
        ("2011-05-13T10:12:34+0530", WHEN),
        ("2011-05-13T04:42:34", WHEN),
        ("2011-05-13", datetime(2011, 5, 13, tzinfo=UTC)),
    ],
)
def test_parse_datetime(value: str, expected: datetime) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    ["", "yesterday", "2011-05-13T04:42:34.Z", "2011-02-30T00:00:00Z", "2011-05-13T25:00:00Z", "١٢٣٤-05-13"],
)
def test_parse_datetime_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError, match="dateTime"):
        parse_datetime(value)


# -- integers and decimals (none in the User schema: a test resource type) ----------------------------

_THING = Schema(
    id="urn:example:params:scim:schemas:core:2.0:Thing",
    name="Thing",
    description="A test schema with numeric attributes",
    attributes=(
        Attribute(name="size", type=AttributeType.INTEGER),
        Attribute(name="weight", type=AttributeType.DECIMAL),
        Attribute(name="tags", type=AttributeType.STRING, multi_valued=True),
    ),
)
THINGS = ResourceType(name="Thing", endpoint="/Things", description="Things", schema=_THING)


@pytest.mark.parametrize(
    ("op", "mongo"),
    [("eq", None), ("ne", "$ne"), ("gt", "$gt"), ("ge", "$gte"), ("lt", "$lt"), ("le", "$lte")],
)
def test_numbers_compare_numerically(op: str, mongo: str | None) -> None:
    size = compiled(cmp("size", op, 5), THINGS)
    weight = compiled(cmp("weight", op, 2.5), THINGS)
    assert size == {"size": 5 if mongo is None else {mongo: 5}}
    assert weight == {"weight": 2.5 if mongo is None else {mongo: 2.5}}


def test_integer_accepts_whole_floats_and_decimal_accepts_integers() -> None:
    assert compiled(cmp("size", "eq", 5.0), THINGS) == {"size": 5}
    assert compiled(cmp("weight", "ge", 3), THINGS) == {"weight": {"$gte": 3}}


@pytest.mark.parametrize(("attr", "value"), [("size", "5"), ("size", 5.5), ("size", True), ("weight", "1")])
def test_numbers_reject_other_values(attr: str, value: CompValue) -> None:
    rejects(cmp(attr, "eq", value), attr, resource_type=THINGS)


@pytest.mark.parametrize("op", ["co", "sw", "ew"])
def test_numbers_reject_substring_operators(op: str) -> None:
    rejects(cmp("size", op, 5), "size", op, resource_type=THINGS)


def test_multi_valued_simple_attribute() -> None:
    assert compiled(cmp("tags", "eq", "Blue"), THINGS) == {"_lc.tags": "blue"}
    assert compiled(pr("tags"), THINGS) == {"tags.0": {"$exists": True}}


# -- presence and null ------------------------------------------------------------------------------


def test_present_on_each_shape() -> None:
    assert text("title pr") == {"title": NON_EMPTY}
    assert text("active pr") == {"active": NON_EMPTY}
    assert text("emails pr") == {"emails.0": {"$exists": True}}
    assert text("name pr") == {"name": NON_EMPTY_COMPLEX}
    assert text("name.givenName pr") == {"name.givenName": NON_EMPTY}
    assert text("emails.value pr") == {"emails": {"$elemMatch": {"value": NON_EMPTY}}}
    assert text(f"{ENT}:manager pr") == {f"{EXT}.manager": NON_EMPTY_COMPLEX}
    assert text("employeeNumber pr") == {f"{EXT}.employeeNumber": NON_EMPTY}
    assert text("meta.resourceType pr") == ALL
    assert text("meta.created pr") == {"meta.created": NON_EMPTY}


def test_eq_null_means_absent_and_ne_null_means_present() -> None:
    assert text("title eq null") == {"$nor": [{"title": NON_EMPTY}]}
    assert text("title ne null") == {"title": NON_EMPTY}
    assert text("emails eq null") == {"$nor": [{"emails.0": {"$exists": True}}]}
    assert text("manager ne null") == {f"{EXT}.manager": NON_EMPTY_COMPLEX}
    # Inside $elemMatch a negation is pushed down to the field: $in with null also finds it missing.
    assert text("emails[display eq null]") == {"emails": {"$elemMatch": {"display": {"$in": [None, ""]}}}}


@pytest.mark.parametrize("op", ["co", "sw", "ew", "gt", "ge", "lt", "le"])
def test_null_with_other_operators_is_rejected(op: str) -> None:
    rejects(cmp("title", op, None), "title", op)


# -- complex attributes -------------------------------------------------------------------------------


def test_multi_valued_complex_without_sub_attribute_means_value() -> None:
    assert text('emails co "Example.com"') == {"emails._lc.value": {"$regex": r"example\.com"}}
    assert text('emails.type eq "work"') == {"emails._lc.type": "work"}


def test_entra_manager_reference_check_compares_manager_value() -> None:
    assert text('manager eq "26118915-6090-4610-87e4-49d8ca9f808d"') == {
        f"{EXT}.manager.value": "26118915-6090-4610-87e4-49d8ca9f808d"
    }
    assert text(f'id eq "u1" and {ENT}:manager eq "u2"') == {"_id": "u1", f"{EXT}.manager.value": "u2"}


def test_enterprise_attributes_live_under_the_storage_key() -> None:
    assert text(f'{ENT}:employeeNumber eq "701984"') == {f"{EXT}._lc.employeeNumber": "701984"}
    assert text('employeeNumber eq "701984"') == {f"{EXT}._lc.employeeNumber": "701984"}
    assert text(f'{ENT}:manager.value eq "u2"') == {f"{EXT}.manager.value": "u2"}
    assert text('manager.displayName sw "Jo"') == {f"{EXT}.manager._lc.displayName": {"$regex": "^jo"}}
    assert text('urn:scim:schemas:extension:enterprise:1.0:department eq "Tour"') == {
        f"{EXT}._lc.department": "tour"
    }


@pytest.mark.parametrize(("op", "mongo"), [("gt", "$gt"), ("ge", "$gte"), ("lt", "$lt"), ("le", "$lte")])
def test_complex_without_sub_attribute_cannot_be_ordered(op: str, mongo: str) -> None:
    rejects(cmp("emails", op, "a"), "emails", op)
    rejects(cmp("manager", op, "a"), "manager", op)
    assert compiled(cmp("emails.value", op, "A")) == {"emails._lc.value": {mongo: "a"}}


def test_complex_without_value_sub_attribute_is_rejected() -> None:
    rejects(cmp("name", "eq", "Jensen"), "name")
    rejects(cmp("addresses", "co", "Main"), "addresses")
    rejects(cmp("meta", "eq", "x"), "meta")


# -- value paths ---------------------------------------------------------------------------------


def test_value_path_correlates_conditions_in_one_element() -> None:
    """A conjunction of distinct sub-attributes is one flat $elemMatch document: the plainest form,
    which engines that refuse $and inside $elemMatch accept (issue 17)."""
    assert text('emails[type eq "work" and value co "@example.com"]') == {
        "emails": {"$elemMatch": {"_lc.type": "work", "_lc.value": {"$regex": r"@example\.com"}}}
    }
    # Two conditions on one sub-attribute share a key: the second goes into a one-branch $or, never
    # an $and inside $elemMatch.
    assert text('emails[value sw "a" and value ew "z"]') == {
        "emails": {"$elemMatch": {"_lc.value": {"$regex": "^a"}, "$or": [{"_lc.value": {"$regex": "z$"}}]}}
    }
    # When $or is taken by a disjunction, the link is a $nor of one $nor: the same conjunction.
    assert text('emails[value sw "a" and (type eq "x" or type eq "y") and value ew "z" and type pr]') == {
        "emails": {
            "$elemMatch": {
                "_lc.value": {"$regex": "^a"},
                "$or": [{"_lc.type": "x"}, {"_lc.type": "y"}],
                "$nor": [{"$nor": [{"_lc.value": {"$regex": "z$"}, "type": NON_EMPTY}]}],
            }
        }
    }
    # A negation is pushed down to the field ($not), rather than a $nor inside $elemMatch.
    assert text('emails[type eq "work" and not (value co "x")]') == {
        "emails": {"$elemMatch": {"_lc.type": "work", "_lc.value": {"$not": {"$regex": "x"}}}}
    }
    assert text('emails[not (type eq "work" and value co "x")]') == {
        "emails": {
            "$elemMatch": {"$or": [{"_lc.type": {"$ne": "work"}}, {"_lc.value": {"$not": {"$regex": "x"}}}]}
        }
    }
    assert text('emails[not (type eq "a" or not (value pr))]') == {
        # $nin with null excludes a missing field: the same as NON_EMPTY.
        "emails": {"$elemMatch": {"_lc.type": {"$ne": "a"}, "value": {"$nin": [None, ""]}}}
    }
    assert text('emails[not (type ne "a")]') == {"emails": {"$elemMatch": {"_lc.type": {"$eq": "a"}}}}


def test_value_path_with_or_not_and_present() -> None:
    node = ValuePath(
        path("addresses"),
        Or((Not(cmp("type", "eq", "Work")), And((pr("postalCode"), cmp("primary", "eq", True))))),
    )
    assert compiled(node) == {
        "addresses": {
            "$elemMatch": {
                "$or": [
                    {"_lc.type": {"$ne": "work"}},
                    {"postalCode": NON_EMPTY, "primary": True},
                ]
            }
        }
    }


def test_value_path_case_exact_sub_attribute() -> None:
    assert text('x509Certificates[value sw "MII"]') == {
        "x509Certificates": {"$elemMatch": {"value": {"$regex": "^MII"}}}
    }


def test_value_path_on_single_complex_prefixes_paths() -> None:
    # The bracketed filter applies to a value of the attribute, which must be there (defect 6 of
    # tests/compiler/test_rfc_defects.py).
    assert text('name[givenName eq "Barbara" and familyName pr]') == {
        "name": NON_EMPTY_COMPLEX,
        "name._lc.givenName": "barbara",
        "name.familyName": NON_EMPTY,
    }
    assert text(f'{ENT}:manager[value eq "u2"]') == {
        f"{EXT}.manager": NON_EMPTY_COMPLEX,
        f"{EXT}.manager.value": "u2",
    }
    assert text('meta[resourceType eq "User"]') == ALL


def test_entra_filtered_path_form_compiles_to_one_element() -> None:
    assert text('emails[type eq "work"].value eq "user@contoso.com"') == {
        "emails": {"$elemMatch": {"_lc.type": "work", "_lc.value": "user@contoso.com"}}
    }


def test_value_path_errors() -> None:
    rejects(ValuePath(path("emails"), cmp("bogus", "eq", "x")), "bogus", "emails")
    rejects(ValuePath(path("emails"), cmp("type.x", "eq", "x")), "emails")
    rejects(ValuePath(path("userName"), cmp("value", "eq", "x")), "userName")
    rejects(ValuePath(path("emails.value"), cmp("type", "eq", "x")), "emails.value")
    rejects(ValuePath(path("emails"), ValuePath(path("ims"), pr("value"))), "ims")
    rejects(ValuePath(path("name"), ValuePath(path("ims"), pr("value"))), "ims")
    rejects(ValuePath(path("name"), cmp("bogus", "eq", "x")), "bogus")
    rejects(ValuePath(path("bogus"), cmp("value", "eq", "x")), "bogus")
    rejects(ValuePath(path("emails"), cmp("type", "gt", 1)), "type")


# -- logic ---------------------------------------------------------------------------------------


def test_and_or_not() -> None:
    a, b, c = cmp("userName", "eq", "A"), cmp("title", "eq", "B"), cmp("active", "eq", True)
    assert compiled(And((a, b, c))) == {"_lc.userName": "a", "_lc.title": "b", "active": True}
    assert compiled(And((a, cmp("userName", "ne", "B")))) == {
        "$and": [{"_lc.userName": "a"}, {"_lc.userName": {"$ne": "b"}}]
    }
    assert compiled(Or((a, b))) == {"$or": [{"_lc.userName": "a"}, {"_lc.title": "b"}]}
    assert compiled(Not(a)) == {"$nor": [{"_lc.userName": "a"}]}
    assert compiled(And((Or((a, b)), Not(c)))) == {
        "$or": [{"_lc.userName": "a"}, {"_lc.title": "b"}],
        "$nor": [{"active": True}],
    }
    assert compiled(And((Or((a, b)), Or((c, a))))) == {
        "$and": [
            {"$or": [{"_lc.userName": "a"}, {"_lc.title": "b"}]},
            {"$or": [{"active": True}, {"_lc.userName": "a"}]},
        ]
    }


def test_inbound_watermark_filters() -> None:
    low, high = datetime(1, 1, 3, tzinfo=UTC), datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert text(
        'active eq true and (meta.lastModified ge "0001-01-03T00:00:00.0000000Z" and '
        'meta.lastModified le "2024-01-02T03:04:05.6789012Z")'
    ) == {
        "$and": [
            {"active": True},
            {"meta.lastModified": {"$gte": low}},
            {"meta.lastModified": {"$lte": high}},
        ]
    }
    assert text('(ActiVe eq true) and meta.lastmodified ge "2021-09-23T19:35:41.8420572Z"') == {
        "active": True,
        "meta.lastModified": {"$gte": datetime(2021, 9, 23, 19, 35, 41, 842000, tzinfo=UTC)},
    }


def test_output_is_deterministic_and_not_shared() -> None:
    node = parse_filter('title pr and meta.resourceType eq "User"', schema_uris=USERS.schema_uris)
    first = compile_filter(node, USERS)
    first["title"]["$nin"].append("mutated")
    first["_id"]["$exists"] = False
    assert compile_filter(node, USERS) == {"title": NON_EMPTY, **ALL}


# -- meta and schemas ---------------------------------------------------------------------------


def test_meta_resource_type_is_compared_case_exactly() -> None:
    """RFC 7643 §3.1, resourceType: 'This attribute has a mutability of "readOnly" and "caseExact"
    as "true".'"""
    assert text('meta.resourceType eq "User"') == ALL
    assert text('meta.resourceType eq "user"') == NONE
    assert text('meta.resourceType eq "Group"') == NONE
    assert text('meta.resourceType ne "Group"') == ALL
    assert text('meta.resourceType ne "user"') == ALL
    assert text('meta.resourceType ne "User"') == NONE
    assert text('meta.resourceType sw "Us"') == ALL
    assert text('meta.resourceType sw "us"') == NONE
    assert text("meta.resourceType eq null") == NONE
    rejects(cmp("meta.resourceType", "eq", True), "meta.resourceType")


@pytest.mark.parametrize("attr", ["meta.location", "meta.version"])
def test_meta_location_and_version_are_not_filterable(attr: str) -> None:
    rejects(cmp(attr, "eq", "x"), attr)


def test_schemas() -> None:
    ext = {EXT: NON_EMPTY_COMPLEX}
    assert text(f'schemas eq "{ENT}"') == ext
    assert text('schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"') == ALL
    assert text('schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"') == ALL
    assert text('schemas eq "urn:example:unknown"') == NONE
    assert text('schemas eq "urn:scim:schemas:extension:enterprise:1.0"') == ext
    # ne: some URN differs (any value, RFC 7644 §3.4.2.2): the core URN unless it is the operand.
    assert text(f'schemas ne "{ENT}"') == ALL
    assert text('schemas ne "urn:ietf:params:scim:schemas:core:2.0:User"') == ext
    assert text('schemas ne "urn:example:unknown"') == ALL
    assert text('schemas co "enterprise"') == ext
    assert text('schemas sw "urn:ietf"') == ALL
    assert text('schemas ew ":nothing"') == NONE
    assert text("schemas pr") == ALL
    rejects(cmp("schemas", "gt", "urn"), "schemas")
    rejects(cmp("schemas", "eq", 1), "schemas")
    rejects(cmp("schemas.value", "eq", "x"), "schemas.value")


# -- errors: nothing is silently dropped ------------------------------------------------------------


def test_unknown_attribute_is_an_error_not_match_all() -> None:
    rejects(cmp("unknown", "eq", "x"), '"unknown"')
    rejects(pr("unknown"), "unknown")
    rejects(And((cmp("userName", "eq", "a"), cmp("bogus", "eq", "x"))), "bogus")
    rejects(Or((cmp("userName", "eq", "a"), Not(pr("bogus")))), "bogus")


def test_unknown_sub_attribute_and_urn_are_errors() -> None:
    rejects(cmp("name.nickname", "eq", "x"), "name.nickname")
    rejects(cmp("userName.value", "eq", "x"), "userName.value")
    rejects(
        cmp("urn:example:params:scim:schemas:extension:foo:2.0:User:department", "eq", "x"), "urn:example"
    )
    rejects(Compare(AttrPath(ENT, "userName"), CompareOp.EQ, "x"), "userName")
    rejects(Compare(AttrPath(ENT, "employeeNumber", "x"), CompareOp.EQ, "x"), "employeeNumber.x")


def test_password_cannot_be_probed() -> None:
    rejects(cmp("password", "eq", "secret"), "password")
    rejects(pr("password"), "password")
    rejects(cmp("password", "eq", None), "password")


def test_unknown_attribute_from_text() -> None:
    with pytest.raises(InvalidFilterError, match="unknown"):
        text('unknown eq "x"')


# -- every example filter of RFC 7644 §3.4.2.2 -------------------------------------------------------

RFC_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ('userName eq "bjensen"', {"_lc.userName": "bjensen"}),
    ('name.familyName co "O\'Malley"', {"name._lc.familyName": {"$regex": "o'malley"}}),
    ('userName sw "J"', {"_lc.userName": {"$regex": "^j"}}),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', {"_lc.userName": {"$regex": "^j"}}),
    ("title pr", {"title": NON_EMPTY}),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', {"meta.lastModified": {"$gt": WHEN}}),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"', {"meta.lastModified": {"$gte": WHEN}}),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"', {"meta.lastModified": {"$lt": WHEN}}),
    ('meta.lastModified le "2011-05-13T04:42:34Z"', {"meta.lastModified": {"$lte": WHEN}}),
    ('title pr and userType eq "Employee"', {"title": NON_EMPTY, "_lc.userType": "employee"}),
    ('title pr or userType eq "Intern"', {"$or": [{"title": NON_EMPTY}, {"_lc.userType": "intern"}]}),
    (
        'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
        {EXT: NON_EMPTY_COMPLEX},
    ),
    (
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        {
            "_lc.userType": "employee",
            "$or": [
                {"emails._lc.value": {"$regex": r"example\.com"}},
                {"emails._lc.value": {"$regex": r"example\.org"}},
            ],
        },
    ),
    (
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        {
            "_lc.userType": {"$ne": "employee"},
            "$nor": [
                {
                    "$or": [
                        {"emails._lc.value": {"$regex": r"example\.com"}},
                        {"emails._lc.value": {"$regex": r"example\.org"}},
                    ]
                }
            ],
        },
    ),
    (
        'userType eq "Employee" and (emails.type eq "work")',
        {"_lc.userType": "employee", "emails._lc.type": "work"},
    ),
    (
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
        {
            "_lc.userType": "employee",
            "emails": {"$elemMatch": {"_lc.type": "work", "_lc.value": {"$regex": r"@example\.com"}}},
        },
    ),
    (
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
        {
            "$or": [
                {"emails": {"$elemMatch": {"_lc.type": "work", "_lc.value": {"$regex": r"@example\.com"}}}},
                {"ims": {"$elemMatch": {"_lc.type": "xmpp", "_lc.value": {"$regex": r"@foo\.com"}}}},
            ]
        },
    ),
]


@pytest.mark.parametrize(("filter_text", "expected"), RFC_EXAMPLES)
def test_rfc_7644_example_filters(filter_text: str, expected: dict[str, Any]) -> None:
    assert text(filter_text) == expected


# -- one comparison with a string, compiled once per path and operator ---------------------------


def _spellings(resource_type: ResourceType) -> list[AttrPath]:
    """Every attribute and sub-attribute path of a resource type as an IdP may write it: bare, in
    another case, and qualified by the schema URN; plus names the compiler refuses or special-cases."""
    paths: list[AttrPath] = []
    levels = [(resource_type.schema.id, (*COMMON_ATTRIBUTES, *resource_type.schema.attributes))]
    for ext in resource_type.extensions:
        levels += [(uri, ext.schema.attributes) for uri in (ext.schema.id, *ext.aliases)]
    for uri, attributes in levels:
        for attribute in attributes:
            subs: list[str | None] = [None, *(s.name for s in attribute.sub_attributes)]
            for sub in subs:
                for name, sub_name in ((attribute.name, sub), (attribute.name.upper(), sub and sub.upper())):
                    paths.append(AttrPath(uri, name, sub_name))
                    if uri == resource_type.schema.id:
                        paths.append(AttrPath(None, name, sub_name))
    paths += [
        AttrPath(None, "schemas"),
        AttrPath(None, "nosuch"),
        AttrPath(None, "userName", "nosuch"),
        AttrPath("urn:example:unknown", "userName"),
    ]
    return paths


_STRINGS = ["BJensen@Example.com", "", "a.b*(c)$^[x]|{1}", "Ünïcödé ß", "  spaced  ", "00u1abcd"]


@pytest.mark.parametrize("resource_type", [USER_RESOURCE_TYPE, GROUP_RESOURCE_TYPE], ids=lambda r: r.name)
def test_a_string_comparison_compiles_as_compile_filter_does_for_every_path_and_operator(
    resource_type: ResourceType,
) -> None:
    kept: set[str] = set()
    compiled_by_filter: set[str] = set()
    for attr_path in _spellings(resource_type):
        for op in CompareOp:
            template = string_comparison(attr_path, op, resource_type)
            label = f"{attr_path} {op.value}"
            if template is None:
                compiled_by_filter.add(label)
                continue
            kept.add(label)
            for value in _STRINGS:
                assert template(value) == compile_filter(Compare(attr_path, op, value), resource_type), label
                assert template(value) is not template(value)  # a new query each time: callers own it
    if resource_type is USER_RESOURCE_TYPE:
        # The shapes IdPs probe with are compiled once...
        for label in [
            "userName eq",
            "userName sw",
            "externalId eq",
            "emails.value eq",
            "emails.value co",
            "name.familyName co",
            f"{ENT}:employeeNumber eq",
            f"{ENT}:manager eq",
            f"{ENT}:manager.value eq",
            "id eq",
        ]:
            assert label in kept
        # ...and what depends on more than the string, or is refused, is left to compile_filter.
        for label in [
            "groups.value eq",
            "groups eq",
            "schemas eq",
            "meta.resourceType eq",
            "meta.created gt",
            "meta.location eq",
            "active eq",
            "password eq",
            "name eq",
            "emails gt",
            "nosuch eq",
            "userName.nosuch eq",
            "urn:example:unknown:userName eq",
        ]:
            assert label in compiled_by_filter
    else:
        assert {"displayName eq", "externalId eq", "id eq"} <= kept
        assert {"members.value eq", "members eq", "schemas eq"} <= compiled_by_filter
