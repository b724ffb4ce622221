"""Filters on the attributes derived from membership: a user's groups, a group's members (pure)."""

from __future__ import annotations

import pytest

from scim_server.compiler import compile_filter, compile_sort, membership_references
from scim_server.errors import InvalidFilterError, InvalidValueError
from scim_server.filters import parse_attr_path, parse_filter
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE as GROUPS
from scim_server.schema.catalog import USER_RESOURCE_TYPE as USERS


def users(text: str, related: dict[str, tuple[str, ...]] | None = None) -> dict[str, object]:
    return compile_filter(parse_filter(text, schema_uris=USERS.schema_uris), USERS, related=related)


def groups(text: str, related: dict[str, tuple[str, ...]]) -> dict[str, object]:
    return compile_filter(parse_filter(text), GROUPS, related=related)


MEMBERS_OF_G1 = {"g1": ("u2", "u1"), "G1": ()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('groups.value eq "g1"', {"_id": {"$in": ["u1", "u2"]}}),
        ('groups eq "g1"', {"_id": {"$in": ["u1", "u2"]}}),
        ('groups[value eq "g1"]', {"_id": {"$in": ["u1", "u2"]}}),
        ('not (groups.value eq "g1")', {"$nor": [{"_id": {"$in": ["u1", "u2"]}}]}),
        ('groups[value eq "g1" or value eq "G1"]', {"_id": {"$in": ["u1", "u2"]}}),
        ('groups[value eq "g1" and value eq "G1"]', {"_id": {"$in": []}}),
        ('groups[value eq "g1" and value eq "g1"]', {"_id": {"$in": ["u1", "u2"]}}),
        ('userName eq "a" and groups.value eq "G1"', {"_lc.userName": "a", "_id": {"$in": []}}),
    ],
)
def test_user_groups_compile_to_the_looked_up_member_ids(text: str, expected: object) -> None:
    assert users(text, MEMBERS_OF_G1) == expected


@pytest.mark.parametrize(
    "text",
    [
        'groups.display eq "Eng"',
        'groups.type eq "direct"',
        'groups.value co "g"',
        "groups.value gt 1",
        "groups pr",
        'groups.value ne "g1"',
        'groups[value ne "g1"]',
        'groups[not (value eq "g1")]',
        'groups[value eq "g1" or not (value eq "g")]',
        "groups[value pr]",
        'groups[display eq "g"]',
    ],
)
def test_other_user_group_filters_are_refused(text: str) -> None:
    with pytest.raises(InvalidFilterError):
        users(text, {"g": ()})


def test_members_value_compiles_to_the_groups_the_member_is_in() -> None:
    member_of = {"u1": ("g2", "g1"), "u2": ()}
    assert groups('members.value eq "u1"', member_of) == {"_id": {"$in": ["g1", "g2"]}}
    assert groups('members[value eq "u2"]', member_of) == {"_id": {"$in": []}}
    assert groups('not (members.value eq "u1")', member_of) == {"$nor": [{"_id": {"$in": ["g1", "g2"]}}]}
    assert groups('displayName sw "E" and members eq "u1"', member_of) == {
        "_lc.displayName": {"$regex": "^e"},
        "_id": {"$in": ["g1", "g2"]},
    }


def test_membership_references_lists_exactly_the_ids_to_look_up() -> None:
    ast = parse_filter(
        'members.value eq "a" or (members[value eq "b"] and displayName eq "c") or not (members eq "d")'
    )
    assert membership_references(ast, GROUPS) == frozenset({"a", "b", "d"})
    assert membership_references(parse_filter('displayName eq "x"'), GROUPS) == frozenset()
    by_group = parse_filter('groups.value eq "x" or userName eq "y"')
    assert membership_references(by_group, USERS) == frozenset({"x"})


@pytest.mark.parametrize(
    "text",
    [
        "members pr",
        'members.display eq "x"',
        'members.type eq "User"',
        'members.value co "x"',
        'members.value ne "x"',
        'members[not (value eq "x")]',
    ],
)
def test_other_member_filters_are_refused(text: str) -> None:
    with pytest.raises(InvalidFilterError):
        groups(text, {"x": ()})


def test_membership_attributes_cannot_be_sorted() -> None:
    with pytest.raises(InvalidValueError):
        compile_sort(parse_attr_path("members.value"), False, GROUPS)
    with pytest.raises(InvalidValueError):
        compile_sort(parse_attr_path("groups"), False, USERS)
    assert compile_sort(parse_attr_path("displayName"), True, GROUPS) == [("_lc.displayName", -1)]


def test_ref_sub_attributes_are_queried_under_their_stored_name() -> None:
    uri = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert users(f'{uri}:manager.$ref eq "https://x/Users/1"') == {
        "urn:ietf:params:scim:schemas:extension:enterprise:2_0:User.manager.ref": "https://x/Users/1"
    }
