"""PATCH parsing and application: RFC 7644 §3.5.2 examples, ordering, atomicity and errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scim_server.compiler.patch import (
    PatchOperation,
    apply_patch,
    parse_patch_request,
    simple_assignments,
)
from scim_server.errors import (
    InvalidPathError,
    InvalidSyntaxError,
    InvalidValueError,
    MutabilityError,
    NoTargetError,
    ScimError,
)
from scim_server.filters.ast import AttrPath, Compare, CompareOp, PatchPath
from scim_server.schema.attributes import Attribute, AttributeType, Mutability, Schema
from scim_server.schema.catalog import (
    ENTERPRISE_USER_SCHEMA_ID,
    GROUP_RESOURCE_TYPE,
    PATCH_OP_SCHEMA,
    USER_RESOURCE_TYPE,
    ResourceType,
)

ENT = ENTERPRISE_USER_SCHEMA_ID
RT = USER_RESOURCE_TYPE
GROUP_RT = GROUP_RESOURCE_TYPE
USER_SCHEMA = USER_RESOURCE_TYPE.schema.id
CERT = "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"
OTHER_CERT = "MIIDQzCCAqygAwIBAgICEAAwDQYJ"


def bjensen() -> dict[str, Any]:
    """The RFC 7643 §8.2 full user, in canonical form (trimmed)."""
    return {
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "primary": True,
            },
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"},
        ],
        "x509Certificates": [{"value": CERT}, {"value": OTHER_CERT}],
        ENT: {"employeeNumber": "701984", "manager": {"value": "26118915", "$ref": "../Users/26118915"}},
    }


def patch(resource: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}
    return apply_patch(resource, parse_patch_request(body, RT), RT)


def without(resource: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in keys}


# --- parse_patch_request -------------------------------------------------------------------------


def test_parse_returns_typed_operations() -> None:
    ops = parse_patch_request(
        {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [
                {"op": "add", "path": "nickName", "value": "Babs"},
                {"op": "remove", "path": 'emails[type eq "work"]'},
                {"op": "replace", "value": {"active": False}},
            ],
        },
        RT,
    )
    assert ops == (
        PatchOperation("add", PatchPath(AttrPath(None, "nickName")), "Babs"),
        PatchOperation(
            "remove",
            PatchPath(AttrPath(None, "emails"), Compare(AttrPath(None, "type"), CompareOp.EQ, "work")),
            None,
        ),
        PatchOperation("replace", None, {"active": False}),
    )


def test_parse_is_lenient_about_structure() -> None:
    ops = parse_patch_request(
        {
            "id": "2819c223",
            "operations": [
                {"OP": "Replace", "PATH": "userName", "VALUE": "x", "name": "noise"},
                {"op": "REMOVE", "Path": "title"},
                {"Op": "add", "path": "", "value": {"nickName": "Babs"}},
            ],
        },
        RT,
    )
    assert [(o.op, o.path, o.value) for o in ops] == [
        ("replace", PatchPath(AttrPath(None, "userName")), "x"),
        ("remove", PatchPath(AttrPath(None, "title")), None),
        ("add", None, {"nickName": "Babs"}),
    ]


def test_parse_accepts_extra_schema_urns() -> None:
    body = {"schemas": [PATCH_OP_SCHEMA, "urn:example:noise"], "Operations": [{"op": "add", "value": {}}]}
    assert parse_patch_request(body, RT) == (PatchOperation("add", None, {}),)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ([], "The PATCH request body must be a JSON object"),
        ("x", "The PATCH request body must be a JSON object"),
        ({"schemas": [PATCH_OP_SCHEMA]}, "The PATCH request body has no 'Operations'"),
        ({"Operations": []}, "'Operations' must be a non-empty array"),
        ({"Operations": {"op": "add"}}, "'Operations' must be a non-empty array"),
        ({"Operations": ["add"]}, "Operations[0] must be an object"),
        ({"Operations": [{"path": "title", "value": "x"}]}, "Operations[0] has no 'op'"),
        (
            {"Operations": [{"op": "add", "value": {}}, {"op": "move", "path": "title"}]},
            "Operations[1] has an unknown op 'move' (add, remove, replace)",
        ),
        (
            {"Operations": [{"op": 3, "path": "title"}]},
            "Operations[0] has an unknown op '3' (add, remove, replace)",
        ),
    ],
)
def test_parse_rejects_malformed_messages(body: Any, detail: str) -> None:
    with pytest.raises(InvalidSyntaxError) as info:
        parse_patch_request(body, RT)
    assert info.value.detail == detail
    assert info.value.scim_type == "invalidSyntax"


def test_parse_limits_the_number_of_operations() -> None:
    body = {"Operations": [{"op": "remove", "path": "title"}] * 3}
    assert len(parse_patch_request(body, RT, max_operations=3)) == 3
    with pytest.raises(InvalidSyntaxError, match="at most 2 operations"):
        parse_patch_request(body, RT, max_operations=2)


def test_parse_remove_without_path_is_no_target() -> None:
    with pytest.raises(NoTargetError) as info:
        parse_patch_request({"Operations": [{"op": "remove"}]}, RT)
    assert info.value.to_body()["scimType"] == "noTarget"
    with pytest.raises(NoTargetError):
        parse_patch_request({"Operations": [{"op": "remove", "path": "  ", "value": [{"value": "x"}]}]}, RT)


def test_parse_add_or_replace_without_value_is_invalid_value() -> None:
    with pytest.raises(InvalidValueError, match=r"Operations\[0\]: 'add' requires a 'value'"):
        parse_patch_request({"Operations": [{"op": "add", "path": "title"}]}, RT)
    with pytest.raises(InvalidValueError, match="'replace' requires a 'value'"):
        parse_patch_request({"Operations": [{"op": "replace"}]}, RT)


def test_parse_no_path_value_must_be_an_object() -> None:
    with pytest.raises(InvalidValueError, match="the 'value' must be an object"):
        parse_patch_request({"Operations": [{"op": "replace", "value": "x"}]}, RT)
    with pytest.raises(InvalidValueError, match="the 'value' must be an object"):
        parse_patch_request({"Operations": [{"op": "add", "value": None}]}, RT)


def test_parse_bad_path_is_invalid_path() -> None:
    with pytest.raises(InvalidPathError):
        parse_patch_request({"Operations": [{"op": "add", "path": "emails[type eq", "value": "x"}]}, RT)
    with pytest.raises(InvalidPathError, match="'path' must be a string"):
        parse_patch_request({"Operations": [{"op": "add", "path": 7, "value": "x"}]}, RT)


# --- RFC 7644 §3.5.2.1 add -----------------------------------------------------------------------


def test_rfc_add_to_a_multi_valued_attribute_appends() -> None:
    # The RFC adds a member to a Group; emails is the User analogue.
    result = patch(
        bjensen(),
        {
            "op": "add",
            "path": "emails",
            "value": [{"value": "babs@example.org", "type": "other", "display": "Babs"}],
        },
    )
    assert result == {
        **bjensen(),
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "babs@example.org", "type": "other", "display": "Babs"},
        ],
    }


def test_rfc_add_existing_value_changes_nothing() -> None:
    result = patch(
        bjensen(), {"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}
    )
    assert result == bjensen()


def test_rfc_add_a_single_object_to_a_multi_valued_attribute() -> None:
    result = patch({"userName": "u"}, {"op": "add", "path": "roles", "value": {"value": "admin"}})
    assert result == {"userName": "u", "roles": [{"value": "admin"}]}


def test_rfc_add_without_path() -> None:
    result = patch(
        bjensen(),
        {
            "op": "add",
            "value": {"emails": [{"value": "babs@jensen.net", "type": "home"}], "nickname": "Babs"},
        },
    )
    assert result == {
        **bjensen(),
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "babs@jensen.net", "type": "home"},
        ],
        "nickName": "Babs",
    }


def test_rfc_add_to_a_complex_attribute_merges_sub_attributes() -> None:
    result = patch(bjensen(), {"op": "add", "path": "name", "value": {"middleName": "Jane"}})
    assert result["name"] == {"givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane"}


def test_add_sets_a_single_valued_attribute() -> None:
    assert patch({"userName": "u"}, {"op": "add", "path": "title", "value": "Tour Guide"}) == {
        "userName": "u",
        "title": "Tour Guide",
    }


def test_add_sub_attribute_creates_the_complex_value() -> None:
    assert patch({"userName": "u"}, {"op": "add", "path": "name.givenName", "value": "Babs"}) == {
        "userName": "u",
        "name": {"givenName": "Babs"},
    }


def test_add_new_primary_element_clears_the_old_primary() -> None:
    result = patch(
        bjensen(),
        {"op": "add", "path": "emails", "value": [{"value": "new@example.com", "primary": True}]},
    )
    assert result["emails"] == [
        {"value": "bjensen@example.com", "type": "work", "primary": False},
        {"value": "babs@jensen.org", "type": "home"},
        {"value": "new@example.com", "primary": True},
    ]


def test_add_two_primaries_at_once_fails() -> None:
    value = [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]
    with pytest.raises(InvalidValueError, match="At most one value of 'emails' may be primary"):
        patch({"userName": "u"}, {"op": "add", "path": "emails", "value": value})


def test_add_to_extension_attribute_by_urn_path() -> None:
    result = patch({"userName": "u"}, {"op": "add", "path": f"{ENT}:department", "value": "Tours"})
    assert result == {"userName": "u", ENT: {"department": "Tours"}}


def test_add_whole_extension_object() -> None:
    result = patch(
        bjensen(), {"op": "add", "path": ENT, "value": {"department": "Tours", "employeeNumber": "2"}}
    )
    assert result[ENT] == {
        "employeeNumber": "2",
        "department": "Tours",
        "manager": {"value": "26118915", "$ref": "../Users/26118915"},
    }


# --- RFC 7644 §3.5.2.2 remove --------------------------------------------------------------------


def test_rfc_remove_one_value_by_filter() -> None:
    result = patch(bjensen(), {"op": "remove", "path": 'emails[value eq "babs@jensen.org"]'})
    assert result == {
        **bjensen(),
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    }


def test_rfc_remove_all_values_of_a_multi_valued_attribute() -> None:
    assert patch(bjensen(), {"op": "remove", "path": "emails"}) == without(bjensen(), "emails")


def test_rfc_remove_with_an_and_filter() -> None:
    result = patch(bjensen(), {"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'})
    assert result == {**bjensen(), "emails": [{"value": "babs@jensen.org", "type": "home"}]}


def test_rfc_remove_a_certificate_by_value() -> None:
    result = patch(bjensen(), {"op": "remove", "path": f'x509Certificates[value eq "{CERT}"]'})
    assert result == {**bjensen(), "x509Certificates": [{"value": OTHER_CERT}]}


def test_rfc_remove_all_then_add_replaces_the_list() -> None:
    result = patch(
        bjensen(),
        {"op": "remove", "path": "emails"},
        {"op": "add", "path": "emails", "value": [{"value": "only@example.com", "type": "work"}]},
    )
    assert result == {**bjensen(), "emails": [{"value": "only@example.com", "type": "work"}]}


def test_remove_single_valued_attribute() -> None:
    assert patch(bjensen(), {"op": "remove", "path": "name"}) == without(bjensen(), "name")


def test_remove_sub_attribute_of_a_complex_value() -> None:
    result = patch(bjensen(), {"op": "remove", "path": "name.familyName"})
    assert result["name"] == {"givenName": "Barbara"}


def test_remove_last_sub_attribute_drops_the_complex_value() -> None:
    result = patch({"userName": "u", "name": {"givenName": "B"}}, {"op": "remove", "path": "name.givenName"})
    assert result == {"userName": "u"}


def test_remove_sub_attribute_from_every_element() -> None:
    result = patch(bjensen(), {"op": "remove", "path": "emails.type"})
    assert result["emails"] == [
        {"value": "bjensen@example.com", "primary": True},
        {"value": "babs@jensen.org"},
    ]


def test_remove_sub_attribute_of_matching_elements() -> None:
    result = patch(bjensen(), {"op": "remove", "path": 'addresses[type eq "work"].region'})
    assert result["addresses"][0] == {
        "type": "work",
        "streetAddress": "100 Universal City Plaza",
        "locality": "Hollywood",
        "postalCode": "91608",
        "country": "USA",
        "primary": True,
    }


def test_remove_last_element_drops_the_attribute() -> None:
    resource = {"userName": "u", "roles": [{"value": "admin"}]}
    assert patch(resource, {"op": "remove", "path": 'roles[value eq "admin"]'}) == {"userName": "u"}


def test_remove_with_a_value_list_removes_only_listed_elements() -> None:
    result = patch(bjensen(), {"op": "remove", "path": "emails", "value": [{"value": "BABS@jensen.org"}]})
    assert result == {
        **bjensen(),
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    }


def test_remove_with_a_value_listing_nothing_present_changes_nothing() -> None:
    result = patch(bjensen(), {"op": "remove", "path": "emails", "value": [{"value": "nobody@example.com"}]})
    assert result == bjensen()


def test_remove_absent_attribute_is_a_no_op() -> None:
    assert patch(bjensen(), {"op": "remove", "path": "title"}) == bjensen()


def test_remove_extension_attribute_and_whole_extension() -> None:
    result = patch(bjensen(), {"op": "remove", "path": f"{ENT}:employeeNumber"})
    assert result[ENT] == {"manager": {"value": "26118915", "$ref": "../Users/26118915"}}
    assert patch(bjensen(), {"op": "remove", "path": ENT}) == without(bjensen(), ENT)


def test_remove_last_extension_attribute_drops_the_extension() -> None:
    resource = {"userName": "u", ENT: {"department": "Tours"}}
    assert patch(resource, {"op": "remove", "path": f"{ENT}:department"}) == {"userName": "u"}


def test_remove_filter_matching_nothing_is_no_target() -> None:
    with pytest.raises(
        NoTargetError, match=r"No value matches the filter of path 'emails\[type eq \"other\"\]'"
    ):
        patch(bjensen(), {"op": "remove", "path": 'emails[type eq "other"]'})
    with pytest.raises(NoTargetError):
        patch({"userName": "u"}, {"op": "remove", "path": 'emails[type eq "work"].value'})


def test_remove_required_attribute_fails() -> None:
    with pytest.raises(InvalidValueError, match=r"^userName is required$"):
        patch(bjensen(), {"op": "remove", "path": "userName"})


# --- RFC 7644 §3.5.2.3 replace -------------------------------------------------------------------


def test_rfc_replace_all_values_of_a_multi_valued_attribute() -> None:
    value = [{"value": "new@example.com", "type": "work", "primary": True}, {"value": "b@x", "type": "home"}]
    result = patch(bjensen(), {"op": "replace", "path": "emails", "value": value})
    assert result == {**bjensen(), "emails": value}


def test_rfc_replace_a_filtered_element() -> None:
    value = {
        "type": "work",
        "streetAddress": "911 Universal City Plaza",
        "locality": "Hollywood",
        "region": "CA",
        "postalCode": "91608",
        "country": "US",
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
        "primary": True,
    }
    result = patch(bjensen(), {"op": "replace", "path": 'addresses[type eq "work"]', "value": value})
    assert result == {
        **bjensen(),
        "addresses": [
            value,
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"},
        ],
    }


def test_rfc_replace_a_sub_attribute_of_a_filtered_element() -> None:
    result = patch(
        bjensen(),
        {"op": "replace", "path": 'addresses[type eq "work"].streetAddress', "value": "1010 Broadway Ave"},
    )
    assert result["addresses"] == [
        {
            "type": "work",
            "streetAddress": "1010 Broadway Ave",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "primary": True,
        },
        {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"},
    ]


def test_rfc_replace_without_path() -> None:
    result = patch(
        bjensen(),
        {
            "op": "replace",
            "value": {
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": True},
                    {"value": "babs@jensen.org", "type": "home"},
                ],
                "nickname": "Babs",
            },
        },
    )
    assert result == {**bjensen(), "nickName": "Babs"}


def test_replace_complex_attribute_keeps_unspecified_sub_attributes() -> None:
    # RFC 7644 §3.5.2.3: "Sub-attributes that are not specified in the 'value' parameter are left unchanged."
    result = patch(bjensen(), {"op": "replace", "path": "name", "value": {"givenName": "Babs"}})
    assert result["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_replace_filtered_element_merges_into_it() -> None:
    result = patch(
        bjensen(), {"op": "replace", "path": 'emails[type eq "home"]', "value": {"display": "Home"}}
    )
    assert result["emails"] == [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home", "display": "Home"},
    ]


def test_replace_filtered_element_takes_one_object() -> None:
    with pytest.raises(InvalidValueError, match="must be a single object"):
        patch(
            bjensen(),
            {"op": "replace", "path": 'emails[type eq "home"]', "value": [{"value": "a"}, {"value": "b"}]},
        )


def test_replace_sub_attribute_of_every_element_without_filter() -> None:
    result = patch(bjensen(), {"op": "replace", "path": "emails.display", "value": "x"})
    assert result["emails"] == [
        {"value": "bjensen@example.com", "type": "work", "primary": True, "display": "x"},
        {"value": "babs@jensen.org", "type": "home", "display": "x"},
    ]


def test_replace_filter_not_creatable_and_matching_nothing_is_no_target() -> None:
    with pytest.raises(NoTargetError) as info:
        patch(bjensen(), {"op": "replace", "path": 'emails[value co "nowhere"].type', "value": "work"})
    assert info.value.scim_type == "noTarget"
    with pytest.raises(NoTargetError):
        patch(bjensen(), {"op": "add", "path": 'emails[type eq "a" or type eq "b"].value', "value": "x"})
    with pytest.raises(NoTargetError):
        patch(bjensen(), {"op": "replace", "path": 'emails[not (value co "@")].value', "value": "x"})


def test_replace_with_null_or_empty_unassigns() -> None:
    result = patch(
        bjensen(),
        {"op": "replace", "path": "name.familyName", "value": None},
        {"op": "replace", "path": "emails", "value": []},
        {"op": "add", "path": "x509Certificates", "value": None},
        {"op": "replace", "path": f"{ENT}:employeeNumber", "value": ""},
        {"op": "replace", "path": 'addresses[type eq "home"]', "value": {}},
    )
    assert result == {
        "userName": "bjensen",
        "name": {"givenName": "Barbara"},
        "addresses": [bjensen()["addresses"][0]],
        ENT: {"manager": {"value": "26118915", "$ref": "../Users/26118915"}},
    }


def test_replace_filtered_sub_attribute_with_null_removes_it() -> None:
    result = patch(bjensen(), {"op": "replace", "path": 'emails[type eq "work"].primary', "value": None})
    assert result["emails"][0] == {"value": "bjensen@example.com", "type": "work"}


def test_replace_manager_value_drops_the_stale_ref() -> None:
    result = patch(bjensen(), {"op": "replace", "path": f"{ENT}:manager.value", "value": "42"})
    assert result[ENT]["manager"] == {"value": "42"}
    result = patch(bjensen(), {"op": "replace", "path": f"{ENT}:manager", "value": {"value": "42"}})
    assert result[ENT]["manager"] == {"value": "42"}
    result = patch(bjensen(), {"op": "replace", "path": f"{ENT}:manager", "value": {"value": "26118915"}})
    assert result[ENT]["manager"] == {"value": "26118915", "$ref": "../Users/26118915"}


def test_replace_manager_with_only_read_only_sub_attributes_changes_nothing() -> None:
    result = patch(bjensen(), {"op": "replace", "path": f"{ENT}:manager", "value": {"displayName": "Boss"}})
    assert result == bjensen()


# --- filters inside paths ------------------------------------------------------------------------


def test_filter_string_comparisons_ignore_case_when_not_case_exact() -> None:
    result = patch(
        bjensen(), {"op": "replace", "path": 'emails[value eq "BJENSEN@EXAMPLE.COM"].type', "value": "x"}
    )
    assert result["emails"][0]["type"] == "x"


@pytest.mark.parametrize(
    ("flt", "expected_types"),
    [
        ('value co "jensen"', ["x", "x"]),
        ('value sw "babs"', ["work", "x"]),
        ('value ew ".COM"', ["x", "home"]),
        ('type ne "work"', ["work", "x"]),
        ("primary pr", ["x", "home"]),
        ("primary eq true", ["x", "home"]),
        ('not (type eq "work")', ["work", "x"]),
        ('type eq "work" or type eq "home"', ["x", "x"]),
        ('value gt "bb"', ["x", "home"]),
        ('value ge "babs@jensen.org"', ["x", "x"]),
        ('value lt "bb"', ["work", "x"]),
        ('value le "babs@jensen.org"', ["work", "x"]),
        ("display eq null", ["x", "x"]),
        ("type ne null", ["x", "x"]),
    ],
)
def test_filter_operators(flt: str, expected_types: list[str]) -> None:
    result = patch(bjensen(), {"op": "replace", "path": f"emails[{flt}].type", "value": "x"})
    assert [e["type"] for e in result["emails"]] == expected_types


def test_filter_on_case_exact_binary_is_exact() -> None:
    with pytest.raises(NoTargetError):
        patch(bjensen(), {"op": "remove", "path": f'x509Certificates[value eq "{CERT.lower()}"]'})


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("nickNam", "Unknown attribute path 'nickNam'"),
        ("name.nickName", "Unknown attribute path 'name.nickName'"),
        ("urn:example:unknown:2.0:User:foo", "Unknown attribute path 'urn:example:unknown:2.0:User:foo'"),
        (f"{ENT}:shoeSize", f"Unknown attribute path '{ENT}:shoeSize'"),
        (
            'emails[colour eq "red"]',
            "Unknown attribute 'colour' in the filter of path 'emails[colour eq \"red\"]'",
        ),
        (
            'name[givenName eq "B"]',
            "Invalid path 'name[givenName eq \"B\"]': a value filter needs a multi-valued complex attribute",
        ),
        ('userName[value eq "B"]', None),
        (
            'emails[primary eq "maybe"]',
            "Invalid path 'emails[primary eq \"maybe\"]': "
            'Attribute "emails[primary]" is a boolean; compare it with true or false.',
        ),
        ("emails[primary gt true]", None),
        ('x509Certificates[value gt "a"]', None),
        ("emails[value gt null]", None),
        ('emails[type eq "work"].colour', None),
    ],
)
def test_invalid_paths(path: str, detail: str | None) -> None:
    with pytest.raises(InvalidPathError) as info:
        patch(bjensen(), {"op": "replace", "path": path, "value": "x"})
    assert info.value.scim_type == "invalidPath"
    if detail is not None:
        assert info.value.detail == detail


def test_invalid_filter_is_reported_even_when_the_list_is_empty() -> None:
    with pytest.raises(InvalidPathError):
        patch({"userName": "u"}, {"op": "add", "path": 'emails[colour eq "red"].value', "value": "x"})


def test_whole_core_schema_urn_is_not_a_path() -> None:
    with pytest.raises(InvalidPathError):
        patch(bjensen(), {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User", "value": {}})


# --- mutability ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "path"),
    [
        ("replace", "id"),
        ("add", "meta.lastModified"),
        ("replace", "meta"),
        ("add", "groups"),
        ("remove", "groups"),
        ("replace", f"{ENT}:manager.displayName"),
        ("replace", "manager.displayName"),
    ],
)
def test_explicit_path_to_a_read_only_attribute_is_a_mutability_error(op: str, path: str) -> None:
    with pytest.raises(MutabilityError) as info:
        patch(bjensen(), {"op": op, "path": path, "value": "x"})
    assert info.value.scim_type == "mutability"
    assert "is readOnly" in info.value.detail


def test_read_only_keys_inside_a_no_path_value_are_ignored() -> None:
    result = patch(
        bjensen(),
        {
            "op": "replace",
            "value": {
                "id": "abf4",
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "meta": {"resourceType": "User"},
                "groups": [{"value": "g"}],
                "manager.displayName": "Boss",
                "displayName": "Babs",
            },
        },
    )
    assert result == {**bjensen(), "displayName": "Babs"}


def test_unknown_keys_inside_a_no_path_value_are_ignored() -> None:
    result = patch(
        bjensen(),
        {"op": "add", "value": {"favouriteColour": "blue", "not a path!": 1, "urn:x:y:z": "q", "title": "T"}},
    )
    assert result == {**bjensen(), "title": "T"}


def test_write_only_password_can_be_replaced_and_removed() -> None:
    result = patch(bjensen(), {"op": "replace", "path": "password", "value": "t1meMa$heen"})
    assert result == {**bjensen(), "password": "t1meMa$heen"}
    assert patch(result, {"op": "remove", "path": "password"}) == bjensen()


BADGE = Schema(
    id="urn:example:badge:2.0:User",
    name="Badge",
    description="",
    attributes=(
        Attribute(name="badgeId", type=AttributeType.STRING, mutability=Mutability.IMMUTABLE),
        Attribute(
            name="card",
            type=AttributeType.COMPLEX,
            sub_attributes=(
                Attribute(name="serial", type=AttributeType.STRING, mutability=Mutability.IMMUTABLE),
                Attribute(name="label", type=AttributeType.STRING),
            ),
        ),
    ),
)


def badge_type() -> ResourceType:
    from scim_server.schema.catalog import SchemaExtension

    return ResourceType(
        name="User",
        endpoint="/Users",
        description="",
        schema=RT.schema,
        extensions=(SchemaExtension(BADGE, required=False),),
    )


def test_immutable_attribute_can_be_set_once_and_re_set_equal() -> None:
    rt = badge_type()
    ops = parse_patch_request(
        {"Operations": [{"op": "add", "path": f"{BADGE.id}:badgeId", "value": "B1"}]}, rt
    )
    first = apply_patch({"userName": "u"}, ops, rt)
    assert first == {"userName": "u", BADGE.id: {"badgeId": "B1"}}
    assert apply_patch(first, ops, rt) == first


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "urn:example:badge:2.0:User:badgeId", "value": "B2"},
        {"op": "remove", "path": "urn:example:badge:2.0:User:badgeId"},
        {"op": "replace", "value": {"urn:example:badge:2.0:User:badgeId": "B2"}},
        {"op": "replace", "path": "urn:example:badge:2.0:User:card.serial", "value": "S2"},
    ],
)
def test_changing_a_set_immutable_attribute_is_a_mutability_error(operation: dict[str, Any]) -> None:
    rt = badge_type()
    resource = {"userName": "u", BADGE.id: {"badgeId": "B1", "card": {"serial": "S1"}}}
    ops = parse_patch_request({"Operations": [operation]}, rt)
    with pytest.raises(MutabilityError, match="is immutable"):
        apply_patch(resource, ops, rt)


def test_immutable_sub_attribute_leaves_siblings_writable() -> None:
    rt = badge_type()
    resource = {"userName": "u", BADGE.id: {"card": {"serial": "S1"}}}
    ops = parse_patch_request(
        {"Operations": [{"op": "add", "path": f"{BADGE.id}:card", "value": {"label": "L", "serial": "S1"}}]},
        rt,
    )
    assert apply_patch(resource, ops, rt) == {
        "userName": "u",
        BADGE.id: {"card": {"serial": "S1", "label": "L"}},
    }


# --- values --------------------------------------------------------------------------------------


def test_values_are_coerced_for_the_target_attribute() -> None:
    result = patch(
        {"userName": "u"},
        {"op": "replace", "path": "active", "value": "False"},
        {"op": "add", "path": "phoneNumbers", "value": [{"value": 55555555555, "type": "work"}]},
    )
    assert result == {
        "userName": "u",
        "active": False,
        "phoneNumbers": [{"value": "55555555555", "type": "work"}],
    }


def test_ill_typed_value_is_invalid_value_naming_the_path() -> None:
    with pytest.raises(InvalidValueError, match="Attribute 'active' must be a boolean"):
        patch(bjensen(), {"op": "replace", "path": "active", "value": "maybe"})
    with pytest.raises(InvalidValueError, match=r"Attribute 'emails\.primary' must be a boolean"):
        patch(bjensen(), {"op": "replace", "path": 'emails[type eq "work"].primary', "value": "yes"})


def test_whole_extension_value_must_be_an_object() -> None:
    with pytest.raises(InvalidValueError, match="must be an object"):
        patch(bjensen(), {"op": "replace", "path": ENT, "value": "x"})


# --- order and atomicity -------------------------------------------------------------------------


def test_operations_apply_in_order() -> None:
    result = patch(
        {"userName": "u"},
        {"op": "add", "path": "title", "value": "first"},
        {"op": "replace", "path": "title", "value": "second"},
        {"op": "remove", "path": "title"},
        {"op": "add", "path": "nickName", "value": "n1"},
        {"op": "replace", "path": "nickName", "value": "n2"},
    )
    assert result == {"userName": "u", "nickName": "n2"}


def test_a_later_operation_sees_an_earlier_one() -> None:
    result = patch(
        {"userName": "u"},
        {"op": "add", "path": "emails", "value": [{"value": "a@x", "type": "work"}]},
        {"op": "replace", "path": 'emails[value eq "a@x"].primary', "value": True},
    )
    assert result == {"userName": "u", "emails": [{"value": "a@x", "type": "work", "primary": True}]}


@pytest.mark.parametrize(
    "failing",
    [
        {"op": "replace", "path": "nickNam", "value": "x"},
        {"op": "remove", "path": 'emails[type eq "pager"]'},
        {"op": "replace", "path": "id", "value": "x"},
        {"op": "replace", "path": "active", "value": "maybe"},
        {"op": "remove", "path": "userName"},
    ],
)
def test_a_failing_operation_applies_nothing(failing: dict[str, Any]) -> None:
    original = bjensen()
    snapshot = copy.deepcopy(original)
    with pytest.raises(ScimError):
        patch(original, {"op": "replace", "path": "title", "value": "changed"}, failing)
    assert original == snapshot


def test_apply_never_mutates_its_input() -> None:
    original = bjensen()
    snapshot = copy.deepcopy(original)
    result = patch(
        original,
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@x"},
        {"op": "add", "path": f"{ENT}:department", "value": "Tours"},
        {"op": "remove", "path": "addresses.region"},
    )
    assert original == snapshot
    assert result != original


def test_apply_result_is_canonical() -> None:
    resource = {"userName": "u", "emails": [{"value": "a@x"}], "name": {"givenName": "B"}}
    result = patch(
        resource,
        {"op": "remove", "path": "emails.value"},
        {"op": "remove", "path": "name.givenName"},
        {"op": "add", "path": f"{ENT}:manager", "value": ""},
    )
    assert result == {"userName": "u"}


def test_filtered_add_of_an_object_creates_the_missing_element() -> None:
    result = patch(
        {"userName": "u", "addresses": [{"type": "work", "locality": "Hollywood"}]},
        {"op": "add", "path": 'addresses[type eq "home"]', "value": {"locality": "Burbank", "primary": True}},
    )
    assert result == {
        "userName": "u",
        "addresses": [
            {"type": "work", "locality": "Hollywood"},
            {"type": "home", "locality": "Burbank", "primary": True},
        ],
    }


def test_filtered_add_with_null_removes_the_matching_elements() -> None:
    result = patch(bjensen(), {"op": "add", "path": 'emails[type eq "home"]', "value": None})
    assert result == {
        **bjensen(),
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    }
    # Nothing matches and null creates nothing: RFC 7644 §3.5.2.3's noTarget (test_rfc_defects.py).
    with pytest.raises(NoTargetError):
        patch(bjensen(), {"op": "add", "path": 'emails[type eq "other"].value', "value": None})


# --- copy on write -------------------------------------------------------------------------------


def test_a_patch_copies_only_what_it_changes_and_never_the_original() -> None:
    user = bjensen()
    original = copy.deepcopy(user)
    result = patch(
        user,
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@example.com"},
        {"op": "add", "path": f"{ENT}:manager.value", "value": "42"},
    )
    assert user == original  # the original is untouched, nested values included
    assert result["emails"][0]["value"] == "b@example.com"
    assert result["emails"] is not user["emails"]
    assert result[ENT] is not user[ENT] and result[ENT]["manager"] == {"value": "42"}
    # What no operation touched is shared, not copied.
    assert result["addresses"] is user["addresses"]
    assert result["name"] is user["name"]
    assert result[ENT]["employeeNumber"] == "701984"


def test_a_touched_attribute_left_empty_is_pruned_and_the_rest_is_kept() -> None:
    user = bjensen()
    result = patch(
        user,
        {"op": "remove", "path": "x509Certificates"},
        {"op": "replace", "path": "name.givenName", "value": ""},
        {"op": "remove", "path": f"{ENT}:employeeNumber"},
        {"op": "remove", "path": f"{ENT}:manager"},
    )
    assert "x509Certificates" not in result and ENT not in result
    assert result["name"] == {"familyName": "Jensen"}
    assert without(result, "name") == without(bjensen(), "name", "x509Certificates", ENT)


def test_a_key_inside_an_extension_object_is_the_extension_qualified_path() -> None:
    from scim_server.compiler.patch.paths import object_target, target_of

    for extension in USER_RESOURCE_TYPE.extensions:
        uri = extension.schema.id
        for attribute in extension.schema.attributes:
            keys = [attribute.name, attribute.name.upper()]
            keys += [f"{attribute.name}.{sub.name}" for sub in attribute.sub_attributes]
            for key in keys:
                inside = object_target(key, uri, USER_RESOURCE_TYPE)
                assert inside is not None
                qualified = target_of(f"{uri}:{key}", USER_RESOURCE_TYPE)
                assert (inside.extension, inside.attribute, inside.sub) == (
                    qualified.extension,
                    qualified.attribute,
                    qualified.sub,
                )
                # Resolved once per key: the same target for the same text.
                assert object_target(key, uri, USER_RESOURCE_TYPE) is inside


# --- simple assignments (stored as one conditional $set, without reading the resource) ------------


def assignments(*operations: dict[str, Any], resource_type: ResourceType = RT) -> dict[str, Any] | None:
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}
    return simple_assignments(parse_patch_request(body, resource_type), resource_type)


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        # The IdPs' usual PATCH: replace or add of a string attribute, by path, in any op case.
        ([{"op": "replace", "path": "title", "value": "Chief"}], {"title": "Chief"}),
        ([{"op": "Add", "path": "nickName", "value": "Babs"}], {"nickName": "Babs"}),
        ([{"op": "replace", "path": f"{USER_SCHEMA}:displayName", "value": "B"}], {"displayName": "B"}),
        (
            [{"op": "replace", "path": "USERNAME", "value": "New@Example.com"}],
            {"userName": "New@Example.com"},
        ),
        ([{"op": "replace", "path": "externalId", "value": "ext-9"}], {"externalId": "ext-9"}),
        # Entra's "False" and Okta's no-path deactivation, coerced as apply_patch coerces them.
        ([{"op": "Replace", "path": "active", "value": "False"}], {"active": False}),
        ([{"op": "replace", "value": {"active": False}}], {"active": False}),
        (
            [{"op": "replace", "value": {"title": "T", "userType": "Employee"}}],
            {"title": "T", "userType": "Employee"},
        ),
        # A number for a string attribute is its text, as a POST stores it.
        ([{"op": "replace", "path": "title", "value": 7}], {"title": "7"}),
        # Several operations: the last value of each attribute, in the order first named.
        (
            [
                {"op": "replace", "path": "title", "value": "A"},
                {"op": "add", "path": "userType", "value": "Contractor"},
                {"op": "replace", "path": "title", "value": "B"},
            ],
            {"title": "B", "userType": "Contractor"},
        ),
    ],
)
def test_simple_assignments_are_the_values_apply_patch_sets(
    operations: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert assignments(*operations) == expected
    resource = bjensen()
    ops = parse_patch_request({"Operations": operations}, RT)
    assert apply_patch(resource, ops, RT) == {**resource, **expected}


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "remove", "path": "title"}],
        [{"op": "remove", "path": "title", "value": "Chief"}],
        [{"op": "replace", "path": "title", "value": "A"}, {"op": "remove", "path": "nickName"}],
        # Unassigning: null or an empty string removes the attribute.
        [{"op": "replace", "path": "title", "value": None}],
        [{"op": "replace", "path": "title", "value": ""}],
        # Complex, multi-valued, sub-attributes, value filters, extensions.
        [{"op": "replace", "path": "name", "value": {"givenName": "B"}}],
        [{"op": "replace", "path": "name.givenName", "value": "B"}],
        [{"op": "add", "path": "emails", "value": [{"value": "b@x.org"}]}],
        [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@x.org"}],
        [{"op": "replace", "path": f"{ENT}:department", "value": "R&D"}],
        [{"op": "replace", "path": "department", "value": "R&D"}],  # the enterprise one, unqualified
        [{"op": "replace", "path": ENT, "value": {"department": "R&D"}}],
        # readOnly, writeOnly and never returned, not a string or a boolean.
        [{"op": "replace", "path": "id", "value": "x"}],
        [{"op": "replace", "path": "password", "value": "Secret-123"}],
        [{"op": "replace", "path": "profileUrl", "value": "https://x.org/b"}],
        # A no-path object with anything but such attributes: apply_patch skips or treats those keys.
        [{"op": "replace", "value": {"title": "T", "id": "x"}}],
        [{"op": "replace", "value": {"title": "T", "schemas": [USER_SCHEMA]}}],
        [{"op": "replace", "value": {"title": "T", "unknown": "x"}}],
        [{"op": "replace", "value": {"name.givenName": "B"}}],
        [{"op": "replace", "value": {}}],
        # Values apply_patch refuses: it raises them, not this.
        [{"op": "replace", "path": "active", "value": "maybe"}],
        [{"op": "replace", "path": "title", "value": {"x": 1}}],
        [{"op": "replace", "path": "title", "value": "x" * 70_000}],
        # Paths that name nothing.
        [{"op": "replace", "path": "unknown", "value": "x"}],
        [{"op": "replace", "path": "title.x", "value": "x"}],
    ],
)
def test_any_other_patch_has_no_simple_assignments(operations: list[dict[str, Any]]) -> None:
    assert assignments(*operations) is None


def test_simple_assignments_follow_the_catalog_of_each_resource_type() -> None:
    # A group's displayName is such an attribute; its members are not.
    assert assignments({"op": "replace", "path": "displayName", "value": "Ops"}, resource_type=GROUP_RT) == {
        "displayName": "Ops"
    }
    assert (
        assignments({"op": "add", "path": "members", "value": [{"value": "u1"}]}, resource_type=GROUP_RT)
        is None
    )
    # An attribute whose canonical values form a closed set is left to apply_patch's checks.
    strict = Attribute("kind", AttributeType.STRING, canonical_values=("a", "b"), strict_canonical=True)
    immutable = Attribute("serial", AttributeType.STRING, mutability=Mutability.IMMUTABLE)
    plain = Attribute("note", AttributeType.STRING)
    schema = Schema("urn:example:Thing", "Thing", "", (strict, immutable, plain))
    custom = ResourceType("Thing", "/Things", "", schema)
    assert assignments({"op": "replace", "path": "kind", "value": "a"}, resource_type=custom) is None
    assert assignments({"op": "replace", "path": "serial", "value": "s"}, resource_type=custom) is None
    assert assignments({"op": "replace", "path": "note", "value": "n"}, resource_type=custom) == {"note": "n"}
