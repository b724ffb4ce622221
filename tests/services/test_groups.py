"""Membership operations reduce to a MemberPlan before anything is written (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.compiler.patch import parse_patch_request
from scim_server.errors import InvalidPathError, InvalidValueError, MutabilityError, ScimError
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE
from scim_server.services.groups import MemberPlan, parse_members, split_operations


def plan_of(*operations: dict[str, Any]) -> tuple[list[Any], MemberPlan]:
    parsed = parse_patch_request({"Operations": list(operations)}, GROUP_RESOURCE_TYPE)
    return split_operations(parsed, GROUP_RESOURCE_TYPE)


def test_entra_add_and_remove_with_value_lists() -> None:
    others, plan = plan_of(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "a"}, {"value": "b"}]},
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "a"}]},
    )
    assert others == []
    assert plan == MemberPlan(replace=None, add={"b": None}, remove={"a"})


def test_okta_remove_then_add_in_one_request() -> None:
    _, plan = plan_of(
        {"op": "remove", "path": 'members[value eq "old"]'},
        {"op": "add", "path": "members", "value": [{"value": "new", "display": "n@okta.local"}]},
    )
    assert plan == MemberPlan(replace=None, add={"new": None}, remove={"old"})


def test_a_later_add_cancels_an_earlier_remove_and_vice_versa() -> None:
    _, plan = plan_of(
        {"op": "remove", "path": 'members[value eq "x"]'},
        {"op": "add", "path": "members", "value": {"value": "x"}},
        {"op": "add", "path": "members", "value": [{"value": "y"}]},
        {"op": "remove", "path": 'members[value eq "y" or value eq "z"]'},
    )
    assert plan == MemberPlan(replace=None, add={"x": None}, remove={"y", "z"})


def test_replace_then_changes_fold_into_the_replacement() -> None:
    _, plan = plan_of(
        {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b", "type": "user"}]},
        {"op": "remove", "path": 'members[value eq "a"]'},
        {"op": "add", "path": "members", "value": [{"value": "c", "type": "Group"}]},
    )
    assert plan == MemberPlan(replace={"b": "User", "c": "Group"}, add={}, remove=set())
    assert plan.wanted() == {"b": "User", "c": "Group"}


def test_remove_members_without_a_value_clears_the_group() -> None:
    _, plan = plan_of({"op": "remove", "path": "members"})
    assert plan == MemberPlan(replace={}, add={}, remove=set())
    assert not plan.is_empty


def test_no_path_values_split_members_from_other_attributes() -> None:
    others, plan = plan_of(
        {"op": "replace", "value": {"id": "g1", "displayName": "New", "members": [{"value": "m"}]}}
    )
    assert [(o.op, o.path, o.value) for o in others] == [
        ("replace", None, {"id": "g1", "displayName": "New"})
    ]
    assert plan == MemberPlan(replace={"m": None}, add={}, remove=set())


def test_rename_alone_leaves_the_plan_empty() -> None:
    others, plan = plan_of({"op": "Replace", "path": "displayName", "value": "x"})
    assert len(others) == 1 and plan.is_empty


def test_urn_qualified_members_path_is_membership() -> None:
    _, plan = plan_of(
        {
            "op": "add",
            "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members",
            "value": [{"value": "a"}],
        }
    )
    assert plan.add == {"a": None}


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ({"op": "replace", "path": "members.value", "value": "x"}, MutabilityError),
        ({"op": "add", "path": 'members[value eq "x"].display', "value": "x"}, MutabilityError),
        ({"op": "remove", "path": 'members[type eq "User"]'}, InvalidPathError),
        ({"op": "remove", "path": 'members[value co "x"]'}, InvalidPathError),
        ({"op": "replace", "path": 'members[value eq "x"]', "value": {"value": "y"}}, InvalidPathError),
        ({"op": "add", "path": "members", "value": [{"display": "no value"}]}, InvalidValueError),
        ({"op": "add", "path": "members", "value": [{"value": ""}]}, InvalidValueError),
        ({"op": "add", "path": "members", "value": [{"value": "a", "type": "Robot"}]}, InvalidValueError),
        ({"op": "add", "path": "members", "value": [42]}, InvalidValueError),
    ],
)
def test_unsupported_member_operations_are_clear_errors(
    operation: dict[str, Any], error: type[ScimError]
) -> None:
    with pytest.raises(error):
        plan_of(operation)


def test_parse_members_accepts_a_bare_id_a_single_object_and_null() -> None:
    assert parse_members("string id 1", "v") == {"string id 1": None}
    assert parse_members({"VALUE": "a", "Type": "group"}, "v") == {"a": "Group"}
    assert parse_members(None, "v") == {}
    assert parse_members([{"value": "a"}, {"value": "a", "type": "User"}], "v") == {"a": None}
