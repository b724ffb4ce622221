"""Coercion of client bodies into the canonical resource, and the whole-resource checks."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from scim_server.errors import InvalidSyntaxError, InvalidValueError
from scim_server.schema.attributes import Attribute, AttributeType, Mutability
from scim_server.schema.catalog import (
    ENTERPRISE_USER_SCHEMA_ID,
    USER_RESOURCE_TYPE,
    ResolvedAttribute,
)
from scim_server.schema.validation import (
    MAX_STRING_LENGTH,
    check_resource,
    coerce_resource,
    coerce_value,
    parse_boolean,
    parse_datetime,
)

ENT = ENTERPRISE_USER_SCHEMA_ID
RT = USER_RESOURCE_TYPE


def coerce(body: dict[str, Any]) -> dict[str, Any]:
    return coerce_resource(body, RT)


def resolved(uri: str | None, attr: str, sub: str | None = None) -> ResolvedAttribute:
    found = RT.resolve(uri, attr, sub)
    assert found is not None
    return found


# --- parse_boolean -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("true", True), ("True", True), ("FALSE", False), ("false", False)],
)
def test_parse_boolean_accepts_bools_and_boolean_strings(raw: Any, expected: bool) -> None:
    assert parse_boolean(raw) is expected


@pytest.mark.parametrize("raw", ["yes", "1", "", 1, 0, None, [], {"x": True}])
def test_parse_boolean_rejects_everything_else(raw: Any) -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        parse_boolean(raw)


# --- simple types --------------------------------------------------------------------------------


def test_strings_are_kept_as_sent() -> None:
    assert coerce({"userName": "  Bjensen@Example.com "}) == {"userName": "  Bjensen@Example.com "}


def test_integer_sent_for_a_string_keeps_its_digits() -> None:
    body = {"userName": 1234, "phoneNumbers": [{"value": 55555555555, "type": "work"}]}
    assert coerce(body) == {"userName": "1234", "phoneNumbers": [{"value": "55555555555", "type": "work"}]}


@pytest.mark.parametrize("raw", [True, 1.5, {"a": "b"}, ["a"]])
def test_string_rejects_other_types(raw: Any) -> None:
    with pytest.raises(InvalidValueError, match="'userName'") as info:
        coerce({"userName": raw})
    assert info.value.scim_type == "invalidValue"


def test_string_in_a_sub_attribute_error_names_the_path() -> None:
    with pytest.raises(InvalidValueError, match=r"'name\.givenName' must be a string"):
        coerce({"name": {"givenName": False}})


def test_overlong_string_is_rejected() -> None:
    coerce({"userName": "x" * MAX_STRING_LENGTH})
    with pytest.raises(InvalidValueError, match="longer than"):
        coerce({"userName": "x" * (MAX_STRING_LENGTH + 1)})


def test_error_detail_never_echoes_the_value() -> None:
    with pytest.raises(InvalidValueError) as info:
        coerce({"password": {"secret": "hunter2"}})
    assert "hunter2" not in info.value.detail
    assert info.value.detail == "Attribute 'password' must be a string"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("True", True), ("false", False), ("TRUE", True)],
)
def test_boolean_accepts_bools_and_strings(raw: Any, expected: bool) -> None:
    assert coerce({"active": raw}) == {"active": expected}


@pytest.mark.parametrize("raw", ["yes", 1, 0, 1.0, {"v": True}, ["true"]])
def test_boolean_rejects_other_values(raw: Any) -> None:
    with pytest.raises(InvalidValueError, match="'active'"):
        coerce({"active": raw})


def test_reference_accepts_strings_only() -> None:
    assert coerce({"profileUrl": "https://login.example.com/bjensen"}) == {
        "profileUrl": "https://login.example.com/bjensen"
    }
    with pytest.raises(InvalidValueError, match="'profileUrl' must be a string"):
        coerce({"profileUrl": {"href": "x"}})


def test_binary_must_be_base64() -> None:
    cert = "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"
    assert coerce({"x509Certificates": [{"value": cert}]}) == {"x509Certificates": [{"value": cert}]}
    wrapped = "MIIDQzCC\nAqygAwIB"
    assert coerce({"x509Certificates": [{"value": wrapped}]}) == {"x509Certificates": [{"value": wrapped}]}
    with pytest.raises(InvalidValueError, match=r"'x509Certificates\.value' must be base64"):
        coerce({"x509Certificates": [{"value": "not base64!"}]})
    with pytest.raises(InvalidValueError, match=r"'x509Certificates\.value' must be a string"):
        coerce({"x509Certificates": [{"value": 1234}]})


INTEGER = ResolvedAttribute(None, Attribute(name="loginCount", type=AttributeType.INTEGER))
DECIMAL = ResolvedAttribute(None, Attribute(name="score", type=AttributeType.DECIMAL))
DATETIME = ResolvedAttribute(None, Attribute(name="hired", type=AttributeType.DATETIME))


def test_integer_accepts_ints_and_integral_floats() -> None:
    assert coerce_value(INTEGER, 42) == 42
    assert coerce_value(INTEGER, 42.0) == 42
    assert isinstance(coerce_value(INTEGER, 42.0), int)


@pytest.mark.parametrize("raw", [True, 1.5, "42", math.inf, math.nan, 2**63, {"v": 1}])
def test_integer_rejects_other_values(raw: Any) -> None:
    with pytest.raises(InvalidValueError, match="'loginCount'"):
        coerce_value(INTEGER, raw)


def test_decimal_accepts_finite_numbers_as_float() -> None:
    assert coerce_value(DECIMAL, 1.5) == 1.5
    value = coerce_value(DECIMAL, 2)
    assert value == 2.0
    assert isinstance(value, float)


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf, True, "1.5", 10**400, [1.0]])
def test_decimal_rejects_non_finite_and_non_numbers(raw: Any) -> None:
    with pytest.raises(InvalidValueError, match="'score'"):
        coerce_value(DECIMAL, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2011-08-01T21:32:44.882Z", datetime(2011, 8, 1, 21, 32, 44, 882000, tzinfo=UTC)),
        ("2021-09-23T19:35:41.8420572Z", datetime(2021, 9, 23, 19, 35, 41, 842000, tzinfo=UTC)),
        ("2011-08-01T21:32:44Z", datetime(2011, 8, 1, 21, 32, 44, tzinfo=UTC)),
        ("2011-08-01T23:32:44.1+02:00", datetime(2011, 8, 1, 21, 32, 44, 100000, tzinfo=UTC)),
        ("2011-08-01T16:32:44-0500", datetime(2011, 8, 1, 21, 32, 44, tzinfo=UTC)),
        ("2011-08-01t21:32:44z", datetime(2011, 8, 1, 21, 32, 44, tzinfo=UTC)),
        ("2011-08-01T21:32:44", datetime(2011, 8, 1, 21, 32, 44, tzinfo=UTC)),
        ("0001-01-03T00:00:00.0000000Z", datetime(1, 1, 3, tzinfo=UTC)),
    ],
)
def test_datetime_parses_rfc3339_to_aware_utc_milliseconds(raw: str, expected: datetime) -> None:
    value = coerce_value(DATETIME, raw)
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "2011-13-01T00:00:00Z",
        "2011-08-01T25:00:00Z",
        "2011-08-01T21:32:44+24:00",
        1312234364,
        True,
    ],
)
def test_datetime_rejects_garbage(raw: Any) -> None:
    with pytest.raises(InvalidValueError, match="'hired' must be an RFC 3339 dateTime"):
        coerce_value(DATETIME, raw)


def test_parse_datetime_accepts_datetimes() -> None:
    naive = datetime(2020, 1, 2, 3, 4, 5, 678901)
    assert parse_datetime(naive) == datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


# --- unassigned, readOnly, unknown ---------------------------------------------------------------


def test_null_empty_string_empty_list_and_empty_object_are_absent() -> None:
    body = {
        "userName": "bjensen",
        "title": None,
        "nickName": "",
        "emails": [],
        "name": {},
        "addresses": None,
        "phoneNumbers": [{"value": "", "type": None}, None, ""],
        ENT: {"department": "", "manager": None},
    }
    assert coerce(body) == {"userName": "bjensen"}


def test_empty_sub_attributes_are_dropped_from_complex_values() -> None:
    body = {"name": {"givenName": "Barbara", "familyName": "", "middleName": None}}
    assert coerce(body) == {"name": {"givenName": "Barbara"}}


def test_read_only_attributes_are_dropped() -> None:
    body = {
        "id": "2819c223",
        "meta": {"resourceType": "User", "created": "2011-08-01T21:32:44.882Z"},
        "groups": [{"value": "g1", "display": "Admins"}],
        "userName": "bjensen",
        ENT: {"manager": {"value": "m1", "displayName": "Boss"}},
    }
    assert coerce(body) == {"userName": "bjensen", ENT: {"manager": {"value": "m1"}}}


def test_schemas_and_unknown_attributes_are_ignored() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:example:unknown"],
        "userName": "bjensen",
        "favouriteColour": "blue",
        "name": {"givenName": "Barbara", "nickname": "Babs"},
        "urn:example:unknown:2.0:User": {"foo": "bar"},
        "urn:example:unknown:2.0:User:foo": "bar",
        ENT: {"shoeSize": 42},
    }
    assert coerce(body) == {"userName": "bjensen", "name": {"givenName": "Barbara"}}


def test_keys_match_case_insensitively() -> None:
    body = {
        "USERNAME": "bjensen",
        "Name": {"GivenName": "Barbara"},
        "EMAILS": [{"Value": "b@example.com", "TYPE": "work", "Primary": "True"}],
        ENT.upper(): {"EmployeeNumber": "701984"},
    }
    assert coerce(body) == {
        "userName": "bjensen",
        "name": {"givenName": "Barbara"},
        "emails": [{"value": "b@example.com", "type": "work", "primary": True}],
        ENT: {"employeeNumber": "701984"},
    }


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidSyntaxError):
        coerce_resource(["userName"], RT)  # type: ignore[arg-type]


def test_complex_attribute_rejects_non_objects() -> None:
    with pytest.raises(InvalidValueError, match="'name' must be an object"):
        coerce({"name": "Barbara Jensen"})
    with pytest.raises(InvalidValueError, match="'name' must be an object"):
        coerce({"name": True})


def test_single_valued_attribute_rejects_lists() -> None:
    with pytest.raises(InvalidValueError, match="'displayName' is single-valued"):
        coerce({"displayName": ["Babs"]})
    with pytest.raises(InvalidValueError, match="'name' is single-valued"):
        coerce({"name": [{"givenName": "a"}, {"givenName": "b"}]})


def test_multi_valued_single_object_is_wrapped() -> None:
    assert coerce({"emails": {"value": "b@example.com"}}) == {"emails": [{"value": "b@example.com"}]}


def test_multi_valued_bare_string_becomes_value() -> None:
    assert coerce({"emails": ["b@example.com"]}) == {"emails": [{"value": "b@example.com"}]}


def test_multi_valued_rejects_non_object_elements() -> None:
    with pytest.raises(InvalidValueError, match="'emails' must be an object"):
        coerce({"emails": [True]})
    with pytest.raises(InvalidValueError, match="'addresses' must be an object"):
        coerce({"addresses": ["1 Main St"]})


def test_password_is_kept_as_plaintext() -> None:
    assert coerce({"password": "t1meMa$heen"}) == {"password": "t1meMa$heen"}


def test_external_id_is_writable() -> None:
    assert coerce({"externalId": "701984"}) == {"externalId": "701984"}


def test_roles_value_holding_json_text_is_kept_as_a_string() -> None:
    text = '{"id":"06b07648","value":"25","displayName":"Role1234"}'
    assert coerce({"roles": [{"value": text}]}) == {"roles": [{"value": text}]}


# --- extensions ----------------------------------------------------------------------------------


def test_extension_nested_under_its_urn() -> None:
    body = {ENT: {"employeeNumber": "701984", "department": "Tour Operations"}}
    assert coerce(body) == {ENT: {"employeeNumber": "701984", "department": "Tour Operations"}}


def test_extension_nested_under_the_legacy_alias() -> None:
    body = {"urn:scim:schemas:extension:enterprise:1.0": {"department": "Sales"}}
    assert coerce(body) == {ENT: {"department": "Sales"}}


def test_extension_as_fully_qualified_top_level_keys() -> None:
    body = {
        f"{ENT}:employeeNumber": "701984",
        f"{ENT.lower()}:Department": "Sales",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName": "bjensen",
    }
    assert coerce(body) == {"userName": "bjensen", ENT: {"employeeNumber": "701984", "department": "Sales"}}


def test_extension_nested_and_qualified_merge() -> None:
    body = {ENT: {"employeeNumber": "1"}, f"{ENT}:costCenter": "4130"}
    assert coerce(body) == {ENT: {"employeeNumber": "1", "costCenter": "4130"}}


def test_unqualified_extension_attribute_resolves_to_the_extension() -> None:
    assert coerce({"department": "Sales"}) == {ENT: {"department": "Sales"}}


def test_extension_must_be_an_object() -> None:
    with pytest.raises(InvalidValueError, match=f"'{ENT}' must be an object"):
        coerce({ENT: "Sales"})


def test_extension_error_names_the_qualified_path() -> None:
    with pytest.raises(InvalidValueError, match=f"'{ENT}:employeeNumber' must be a string"):
        coerce({ENT: {"employeeNumber": {"a": 1}}})


# --- manager shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("271", {"value": "271"}),
        (271, {"value": "271"}),
        ({"value": "271", "$ref": "https://x/Users/271"}, {"value": "271", "$ref": "https://x/Users/271"}),
        ({"managerId": "271"}, {"value": "271"}),
        ({"ManagerID": "271", "value": "272"}, {"value": "272"}),
        ({"value": "271", "displayName": "John Smith"}, {"value": "271"}),
        ([{"$ref": "https://x/Users/271", "value": "271"}], {"value": "271", "$ref": "https://x/Users/271"}),
        ([None, {"value": "271"}], {"value": "271"}),
    ],
)
def test_manager_shapes(raw: Any, expected: dict[str, Any]) -> None:
    assert coerce({ENT: {"manager": raw}}) == {ENT: {"manager": expected}}


@pytest.mark.parametrize(
    "raw", [None, "", [], {}, [{}], {"value": "", "$ref": None}, {"displayName": "Boss"}]
)
def test_empty_manager_is_absent(raw: Any) -> None:
    assert coerce({"userName": "u", ENT: {"manager": raw}}) == {"userName": "u"}


def test_manager_list_with_two_elements_is_rejected() -> None:
    with pytest.raises(InvalidValueError, match=f"'{ENT}:manager' is single-valued"):
        coerce({ENT: {"manager": [{"value": "1"}, {"value": "2"}]}})


def test_manager_boolean_is_rejected() -> None:
    with pytest.raises(InvalidValueError, match=f"'{ENT}:manager' must be an object"):
        coerce({ENT: {"manager": True}})


# --- coerce_value --------------------------------------------------------------------------------


def test_coerce_value_multi_valued_wraps_a_single_object() -> None:
    assert coerce_value(resolved(None, "emails"), {"value": "a@x"}) == [{"value": "a@x"}]
    assert coerce_value(resolved(None, "emails"), [{"value": "a@x"}, {}]) == [{"value": "a@x"}]


def test_coerce_value_complex_and_simple() -> None:
    assert coerce_value(resolved(None, "name"), {"givenName": "B", "x": 1}) == {"givenName": "B"}
    assert coerce_value(resolved(None, "emails", "primary"), "True") is True
    assert coerce_value(resolved(ENT, "manager"), "271") == {"value": "271"}
    assert coerce_value(resolved(ENT, "manager", "value"), 271) == "271"


@pytest.mark.parametrize("raw", [None, "", [], {}])
def test_coerce_value_unassigned_is_none(raw: Any) -> None:
    assert coerce_value(resolved(None, "nickName"), raw) is None
    assert coerce_value(resolved(None, "emails"), raw) is None
    assert coerce_value(resolved(None, "name"), raw) is None


def test_coerce_value_error_names_the_path() -> None:
    with pytest.raises(InvalidValueError, match=r"'emails\.primary' must be a boolean"):
        coerce_value(resolved(None, "emails", "primary"), "maybe")
    with pytest.raises(InvalidValueError, match=f"'{ENT}:manager.value' is single-valued"):
        coerce_value(resolved(ENT, "manager", "value"), [1])
    with pytest.raises(InvalidValueError, match=f"'{ENT}:manager.value' must be a string"):
        coerce_value(resolved(ENT, "manager", "value"), 1.5)


# --- IdP bodies ----------------------------------------------------------------------------------


def test_entra_create_body() -> None:
    body = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": "True",
        "emails": [
            {"primary": True, "type": "work", "value": "Test_User_fd0ea19b-0777@testuser.com"},
        ],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "addresses": None,
        "title": None,
        "manager": None,
        "phoneNumbers": [{"type": "work", "value": 55555555555}],
    }
    assert coerce(body) == {
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b-0777@testuser.com"}],
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "phoneNumbers": [{"type": "work", "value": "55555555555"}],
    }


def test_entra_create_body_with_enterprise_extension_and_roles() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "userName": "bjensen@contoso.com",
        "active": True,
        "roles": [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}],
        ENT: {"department": "Sales", "employeeNumber": "1", "manager": {"value": "271"}},
    }
    assert coerce(body) == {
        "userName": "bjensen@contoso.com",
        "active": True,
        "roles": [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}],
        ENT: {"department": "Sales", "employeeNumber": "1", "manager": {"value": "271"}},
    }


def test_okta_create_body() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    assert coerce(body) == {
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "password": "1mz050nq",
        "active": True,
    }


def test_okta_put_body_with_id_groups_and_meta() -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Another User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "active": True,
        "meta": {"resourceType": "User"},
    }
    assert coerce(body) == {
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Another User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "active": True,
    }


def test_onelogin_template_body() -> None:
    body = {
        "schemas": ["urn:scim:schemas:core:1.0"],
        "id": None,
        "userName": "jdoe@example.com",
        "name": {"givenName": "John", "familyName": "Doe", "middleName": ""},
        "title": "",
        "active": "true",
        "emails": [{"value": "jdoe@example.com", "primary": "true", "type": "work"}],
        "phoneNumbers": [{"value": "", "type": "work"}],
        ENT: {"department": "", "manager": {"managerId": "00u1", "displayName": "Jane Roe"}},
    }
    assert coerce(body) == {
        "userName": "jdoe@example.com",
        "name": {"givenName": "John", "familyName": "Doe"},
        "active": True,
        "emails": [{"value": "jdoe@example.com", "primary": True, "type": "work"}],
        # An element keeps what was sent: RFC 7643 does not require "value".
        "phoneNumbers": [{"type": "work"}],
        ENT: {"manager": {"value": "00u1"}},
    }


# --- check_resource ------------------------------------------------------------------------------


def test_check_resource_accepts_a_valid_resource() -> None:
    check_resource(
        {
            "userName": "bjensen",
            "emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": False}],
            ENT: {"department": "Sales"},
        },
        RT,
    )


def test_check_resource_requires_user_name() -> None:
    with pytest.raises(InvalidValueError) as info:
        check_resource({"displayName": "Babs"}, RT)
    assert info.value.to_body() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "400",
        "scimType": "invalidValue",
        "detail": "userName is required",
    }
    with pytest.raises(InvalidValueError, match="userName is required"):
        check_resource({"userName": ""}, RT)


def test_check_resource_rejects_two_primaries() -> None:
    resource = {
        "userName": "u",
        "emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}],
    }
    with pytest.raises(InvalidValueError, match="At most one value of 'emails' may be primary"):
        check_resource(resource, RT)


def test_check_resource_allows_one_primary_per_attribute() -> None:
    check_resource(
        {
            "userName": "u",
            "emails": [{"value": "a@x", "primary": True}],
            "phoneNumbers": [{"value": "1", "primary": True}],
        },
        RT,
    )


def test_check_resource_strict_canonical_values() -> None:
    check_resource({"userName": "u", "groups": [{"value": "g", "type": "Direct"}]}, RT)
    with pytest.raises(InvalidValueError, match=r"'groups\.type' must be one of: direct, indirect"):
        check_resource({"userName": "u", "groups": [{"value": "g", "type": "sideways"}]}, RT)


def test_check_resource_does_not_enforce_advisory_canonical_values() -> None:
    check_resource({"userName": "u", "addresses": [{"type": "untyped", "locality": "Paris"}]}, RT)


def test_check_resource_required_sub_attributes_and_required_extensions() -> None:
    from dataclasses import replace

    from scim_server.schema.attributes import Schema
    from scim_server.schema.catalog import ResourceType, SchemaExtension

    member = Attribute(
        name="members",
        type=AttributeType.COMPLEX,
        multi_valued=True,
        sub_attributes=(
            Attribute(name="value", type=AttributeType.STRING, required=True),
            Attribute(name="display", type=AttributeType.STRING, mutability=Mutability.READ_ONLY),
        ),
    )
    ext = SchemaExtension(
        Schema(
            id="urn:example:ext:2.0:Thing",
            name="Thing",
            description="",
            attributes=(Attribute(name="code", type=AttributeType.STRING, required=True),),
        ),
        required=True,
    )
    thing = ResourceType(
        name="Thing",
        endpoint="/Things",
        description="",
        schema=replace(RT.schema, attributes=(member,)),
        extensions=(ext,),
    )
    check_resource({"members": [{"value": "1"}], "urn:example:ext:2.0:Thing": {"code": "c"}}, thing)
    with pytest.raises(InvalidValueError, match=r"^members\.value is required$"):
        check_resource({"members": [{"display": "x"}], "urn:example:ext:2.0:Thing": {"code": "c"}}, thing)
    with pytest.raises(InvalidValueError, match=r"^urn:example:ext:2\.0:Thing is required$"):
        check_resource({"members": [{"value": "1"}]}, thing)
    with pytest.raises(InvalidValueError, match=r"^urn:example:ext:2\.0:Thing:code is required$"):
        check_resource({"urn:example:ext:2.0:Thing": {"other": 1}}, thing)


def test_a_patch_check_visits_the_changed_attributes_and_every_required_one() -> None:
    two_primaries = [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]
    resource = {"userName": "u", "emails": two_primaries, "title": "t"}
    check_resource(resource, RT, keys=["title"])  # emails were not changed: not visited again
    with pytest.raises(InvalidValueError, match="primary"):
        check_resource(resource, RT, keys=["emails"])
    with pytest.raises(InvalidValueError, match="userName is required"):
        check_resource({"title": "t"}, RT, keys=["title"])


def test_check_resource_checks_the_values_of_extension_attributes_too() -> None:
    from scim_server.schema.attributes import Schema
    from scim_server.schema.catalog import ResourceType, SchemaExtension

    urn = "urn:example:ext:2.0:Badge"
    ext = SchemaExtension(
        Schema(
            id=urn,
            name="Badge",
            description="",
            attributes=(
                Attribute(
                    name="level",
                    type=AttributeType.STRING,
                    canonical_values=("gold", "silver"),
                    strict_canonical=True,
                ),
                Attribute(
                    name="door",
                    type=AttributeType.COMPLEX,
                    sub_attributes=(Attribute(name="value", type=AttributeType.STRING, required=True),),
                ),
            ),
        ),
        required=False,
    )
    badge = ResourceType(
        name="Badged", endpoint="/Badged", description="", schema=RT.schema, extensions=(ext,)
    )
    check_resource({"userName": "u", urn: {"level": "Gold", "door": {"value": "d1"}}}, badge)
    with pytest.raises(InvalidValueError, match=rf"^Attribute '{urn}:level' must be one of: gold, silver$"):
        check_resource({"userName": "u", urn: {"level": "bronze"}}, badge)
    with pytest.raises(InvalidValueError, match=rf"^{urn}:door\.value is required$"):
        check_resource({"userName": "u", urn: {"door": {"other": "x"}}}, badge)
    # A PATCH that changed the extension visits it; one that did not, does not.
    with pytest.raises(InvalidValueError, match="must be one of"):
        check_resource({"userName": "u", urn: {"level": "bronze"}}, badge, keys=[urn])
    check_resource({"userName": "u", urn: {"level": "bronze"}}, badge, keys=["userName"])
