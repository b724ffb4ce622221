"""Every User PATCH shape the IdP behaviour notes list (design/idp-behaviour.md), one test per behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.compiler.patch import apply_patch, parse_patch_request
from scim_server.errors import InvalidValueError
from scim_server.schema.catalog import ENTERPRISE_USER_SCHEMA_ID, PATCH_OP_SCHEMA, USER_RESOURCE_TYPE

ENT = ENTERPRISE_USER_SCHEMA_ID
RT = USER_RESOURCE_TYPE


def patch(resource: dict[str, Any], *operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations), **extra}
    return apply_patch(resource, parse_patch_request(body, RT), RT)


def entra_user() -> dict[str, Any]:
    """What the Entra create body of the notes is stored as."""
    return {
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
    }


# --- Microsoft Entra ID --------------------------------------------------------------------------


def test_entra_default_mode_update() -> None:
    result = patch(
        entra_user(),
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": f"{ENT}:employeeNumber", "value": "Eqpj"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
    )
    assert result == {
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com",
        "active": False,
        "emails": [{"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}],
        "name": {
            "formatted": "givenName familyName",
            "familyName": "updatedFamilyName",
            "givenName": "givenName",
        },
        "nickName": "Babs",
        ENT: {"employeeNumber": "Eqpj"},
    }


def test_entra_active_true_string() -> None:
    resource = {**entra_user(), "active": False}
    assert patch(resource, {"op": "Replace", "path": "active", "value": "True"}) == entra_user()


def test_entra_add_on_an_attribute_already_set_is_an_upsert() -> None:
    resource = {**entra_user(), "nickName": "Old", ENT: {"department": "Old"}}
    result = patch(
        resource,
        {"op": "Add", "path": "nickName", "value": "New"},
        {"op": "Add", "path": f"{ENT}:department", "value": "New"},
        {"op": "Add", "path": "name.givenName", "value": "New"},
    )
    assert result == {
        **entra_user(),
        "nickName": "New",
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "New"},
        ENT: {"department": "New"},
    }


def test_entra_patch_noise_top_level_id_and_operation_name_is_ignored() -> None:
    result = patch(
        entra_user(),
        {"op": "Add", "name": "addMember", "path": "title", "value": "Engineer"},
        id="2819c223-7f76-453a-919d-413861904646",
    )
    assert result == {**entra_user(), "title": "Engineer"}


def test_entra_scim_compliant_mode_replace_active_boolean() -> None:
    result = patch(entra_user(), {"op": "replace", "path": "active", "value": False})
    assert result == {**entra_user(), "active": False}


def test_entra_scim_compliant_mode_no_path_replace_with_path_keys() -> None:
    result = patch(
        entra_user(),
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                f"{ENT}:employeeNumber": "Aklq",
            },
        },
    )
    assert result == {
        **entra_user(),
        "displayName": "Bjfe",
        "name": {"formatted": "givenName familyName", "familyName": "Unua", "givenName": "Kkom"},
        ENT: {"employeeNumber": "Aklq"},
    }


def test_entra_no_path_value_with_an_extension_object() -> None:
    result = patch(
        entra_user(),
        {"op": "add", "value": {ENT: {"department": "Tours", "manager": "271"}, "title": "Guide"}},
    )
    assert result == {
        **entra_user(),
        "title": "Guide",
        ENT: {"department": "Tours", "manager": {"value": "271"}},
    }


def test_entra_filtered_add_creates_the_missing_element() -> None:
    resource = {"userName": "u"}
    result = patch(resource, {"op": "Add", "path": 'emails[type eq "work"].value', "value": "u@contoso.com"})
    assert result == {"userName": "u", "emails": [{"type": "work", "value": "u@contoso.com"}]}


def test_entra_filtered_replace_creates_the_missing_element() -> None:
    result = patch(
        entra_user(),
        {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
    )
    assert result == {**entra_user(), "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}]}


def test_entra_sub_attribute_ops_on_one_filter_merge_into_one_address() -> None:
    result = patch(
        {"userName": "u"},
        {"op": "Add", "path": 'addresses[type eq "work"].formatted', "value": "1 Main St, Redmond, WA"},
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Redmond"},
        {"op": "Add", "path": 'addresses[type eq "work"].region', "value": "WA"},
        {"op": "Add", "path": 'addresses[type eq "work"].postalCode', "value": 98052},
    )
    assert result == {
        "userName": "u",
        "addresses": [
            {
                "type": "work",
                "formatted": "1 Main St, Redmond, WA",
                "locality": "Redmond",
                "region": "WA",
                "postalCode": "98052",
            }
        ],
    }


def test_entra_replace_does_not_drop_sibling_entries() -> None:
    resource = {
        "userName": "u",
        "phoneNumbers": [
            {"type": "work", "value": "1"},
            {"type": "mobile", "value": "2"},
            {"type": "fax", "value": "3"},
        ],
    }
    result = patch(resource, {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "22"})
    assert result == {
        "userName": "u",
        "phoneNumbers": [
            {"type": "work", "value": "1"},
            {"type": "mobile", "value": "22"},
            {"type": "fax", "value": "3"},
        ],
    }


def test_entra_validator_long_email_patch_switches_primary() -> None:
    resource = {
        "userName": "u",
        "emails": [{"type": "work", "value": "old@work.example", "primary": True}],
    }
    result = patch(
        resource,
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@work.example"},
        {"op": "add", "path": 'emails[type eq "home"].value', "value": "me@home.example"},
        {"op": "replace", "path": 'emails[type eq "home"].display', "value": "Home"},
        {"op": "add", "path": 'emails[type eq "work"].primary', "value": False},
        {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True},
    )
    assert result == {
        "userName": "u",
        "emails": [
            {"type": "work", "value": "new@work.example", "primary": False},
            {"type": "home", "value": "me@home.example", "display": "Home", "primary": True},
        ],
    }


def test_entra_setting_primary_clears_the_other_primary() -> None:
    resource = {
        "userName": "u",
        "emails": [{"type": "work", "value": "w@x", "primary": True}, {"type": "home", "value": "h@x"}],
    }
    result = patch(resource, {"op": "replace", "path": 'emails[type eq "home"].primary', "value": "True"})
    assert result == {
        "userName": "u",
        "emails": [
            {"type": "work", "value": "w@x", "primary": False},
            {"type": "home", "value": "h@x", "primary": True},
        ],
    }


def test_entra_capital_v_sub_attribute() -> None:
    result = patch({"userName": "u"}, {"op": "Add", "path": 'emails[type eq "other"].Value', "value": "o@x"})
    assert result == {"userName": "u", "emails": [{"type": "other", "value": "o@x"}]}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            'phoneNumbers[type eq "fax"].value',
            "555-0101",
            {"phoneNumbers": [{"type": "fax", "value": "555-0101"}]},
        ),
        (
            'phoneNumbers[type eq "work"].value',
            55555555555,
            {"phoneNumbers": [{"type": "work", "value": "55555555555"}]},
        ),
        (
            'addresses[type eq "work"].postalCode',
            "98052",
            {"addresses": [{"type": "work", "postalCode": "98052"}]},
        ),
        (
            'addresses[type eq "other"].formatted',
            "Somewhere",
            {"addresses": [{"type": "other", "formatted": "Somewhere"}]},
        ),
        (
            'photos[type eq "photo"].value',
            "https://photos.example.com/u.jpg",
            {"photos": [{"type": "photo", "value": "https://photos.example.com/u.jpg"}]},
        ),
        (
            'addresses[type eq "untyped"].streetAddress',
            "1 Main St",
            {"addresses": [{"type": "untyped", "streetAddress": "1 Main St"}]},
        ),
    ],
)
def test_entra_mapping_paths(path: str, value: Any, expected: dict[str, Any]) -> None:
    assert patch({"userName": "u"}, {"op": "Add", "path": path, "value": value}) == {
        "userName": "u",
        **expected,
    }


def test_entra_manager_bare_id_with_urn_path() -> None:
    result = patch(entra_user(), {"op": "Add", "path": f"{ENT}:manager", "value": "271"})
    assert result == {**entra_user(), ENT: {"manager": {"value": "271"}}}


def test_entra_manager_array_with_unqualified_path() -> None:
    result = patch(
        entra_user(),
        {
            "op": "Add",
            "path": "manager",
            "value": [
                {
                    "$ref": "http://example.com/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                    "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                }
            ],
        },
    )
    assert result == {
        **entra_user(),
        ENT: {
            "manager": {
                "$ref": "http://example.com/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            }
        },
    }


def test_entra_manager_dot_path_from_the_postman_collection() -> None:
    resource = {**entra_user(), ENT: {"manager": {"value": "1", "$ref": "../Users/1"}}}
    result = patch(resource, {"op": "Replace", "path": f"{ENT}.manager", "value": "2"})
    assert result == {**entra_user(), ENT: {"manager": {"value": "2"}}}


def test_entra_manager_removed() -> None:
    resource = {**entra_user(), ENT: {"manager": {"value": "1"}, "department": "D"}}
    result = patch(resource, {"op": "Remove", "path": f"{ENT}:manager"})
    assert result == {**entra_user(), ENT: {"department": "D"}}


def test_entra_roles_add_with_a_json_string_value() -> None:
    text = '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}'
    result = patch(entra_user(), {"op": "Add", "path": "roles", "value": [{"value": text}]})
    assert result == {**entra_user(), "roles": [{"value": text}]}


def test_entra_single_app_role_assignment_primary_compared_to_a_string() -> None:
    result = patch(
        entra_user(),
        {"op": "Add", "path": 'roles[primary eq "True"].value', "value": "Admin"},
        {"op": "Add", "path": 'roles[primary eq "True"].display', "value": "Administrator"},
        {"op": "Add", "path": 'roles[primary eq "True"].type', "value": "WindowsAzureActiveDirectoryRole"},
    )
    assert result == {
        **entra_user(),
        "roles": [
            {
                "primary": True,
                "value": "Admin",
                "display": "Administrator",
                "type": "WindowsAzureActiveDirectoryRole",
            }
        ],
    }
    again = patch(result, {"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "Reader"})
    assert again["roles"] == [
        {
            "primary": True,
            "value": "Reader",
            "display": "Administrator",
            "type": "WindowsAzureActiveDirectoryRole",
        }
    ]


def test_entra_assertive_app_role_assignments_replace_roles() -> None:
    resource = {**entra_user(), "roles": [{"value": "Old", "primary": True}]}
    value = [
        {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "value": "Reader"},
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"},
    ]
    assert patch(resource, {"op": "replace", "path": "roles", "value": value}) == {
        **entra_user(),
        "roles": value,
    }


def test_entra_legacy_gallery_dot_form_extension_path() -> None:
    result = patch(
        entra_user(),
        {"op": "Replace", "path": "urn:scim:schemas:extension:enterprise:1.0.department", "value": "Sales"},
    )
    assert result == {**entra_user(), ENT: {"department": "Sales"}}


def test_entra_remove_with_a_value_list_removes_only_those_elements() -> None:
    # The Group members form ({"op":"Remove","path":"members","value":[{"value":id}]}) on a User list.
    resource = {
        "userName": "u",
        "roles": [{"value": "a"}, {"value": "b", "display": "B"}, {"value": "c"}],
    }
    result = patch(resource, {"op": "Remove", "path": "roles", "value": [{"$ref": None, "value": "b"}]})
    assert result == {"userName": "u", "roles": [{"value": "a"}, {"value": "c"}]}


def test_entra_enterprise_extension_need_not_be_in_schemas() -> None:
    # Nothing in a PATCH names the extension in "schemas"; the URN-qualified path alone suffices.
    result = patch(entra_user(), {"op": "Add", "path": f"{ENT}:costCenter", "value": "4130"})
    assert result == {**entra_user(), ENT: {"costCenter": "4130"}}


def test_entra_validator_removing_a_required_attribute_is_invalid_value() -> None:
    with pytest.raises(InvalidValueError) as info:
        patch(entra_user(), {"op": "Remove", "path": "userName"})
    assert info.value.to_body() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "400",
        "scimType": "invalidValue",
        "detail": "userName is required",
    }


# --- Okta ----------------------------------------------------------------------------------------


def test_okta_deactivate_with_no_path() -> None:
    assert patch(entra_user(), {"op": "replace", "value": {"active": False}}) == {
        **entra_user(),
        "active": False,
    }


def test_okta_reactivate_with_no_path() -> None:
    resource = {**entra_user(), "active": False}
    assert patch(resource, {"op": "replace", "value": {"active": True}}) == entra_user()


def test_okta_password_sync_with_no_path() -> None:
    result = patch(entra_user(), {"op": "replace", "value": {"password": "n3wP4ss!"}})
    assert result == {**entra_user(), "password": "n3wP4ss!"}


def test_okta_id_inside_the_value_is_ignored() -> None:
    result = patch(
        entra_user(),
        {
            "op": "replace",
            "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Test User"},
        },
    )
    assert result == {**entra_user(), "displayName": "Test User"}


# --- OneLogin, SailPoint -------------------------------------------------------------------------


def test_onelogin_lowercase_ops() -> None:
    result = patch(
        entra_user(),
        {"op": "add", "path": "title", "value": "Engineer"},
        {"op": "replace", "path": "active", "value": "false"},
    )
    assert result == {**entra_user(), "title": "Engineer", "active": False}


def test_onelogin_manager_id_shape_in_a_patch() -> None:
    result = patch(entra_user(), {"op": "replace", "path": "manager", "value": {"managerId": "00u1"}})
    assert result == {**entra_user(), ENT: {"manager": {"value": "00u1"}}}


def test_sailpoint_replace_on_a_complex_attribute_behaves_like_add() -> None:
    result = patch(entra_user(), {"op": "replace", "path": "name", "value": {"middleName": "Q"}})
    assert result == {
        **entra_user(),
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
            "middleName": "Q",
        },
    }
