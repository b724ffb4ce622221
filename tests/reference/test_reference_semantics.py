"""The reference evaluator and PATCH application themselves, on the cases issue 16 names and on the
choices their docstrings state: whole results for hand-written resources, no server involved."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.filters import parse_filter
from scim_server.schema.catalog import (
    ENTERPRISE_USER_SCHEMA_ID,
    GROUP_RESOURCE_TYPE,
    USER_RESOURCE_TYPE,
    USER_SCHEMA_ID,
)
from tests.reference.evaluator import matches
from tests.reference.patcher import RefusalError, apply_operations

ENT = ENTERPRISE_USER_SCHEMA_ID
USERS: dict[str, dict[str, Any]] = {
    "work-and-home": {
        "userName": "a",
        "emails": [{"value": "a@x.com", "type": "work"}, {"value": "a@y.com", "type": "home"}],
        "groups": [{"value": "g1", "display": "G", "type": "direct"}],
        "meta": {"resourceType": "User", "created": "2026-01-02T03:04:05.123Z"},
        "profileUrl": "https://example.com/a",
    },
    "work-only": {"userName": "b", "emails": [{"value": "b@x.com", "type": "work"}, {"value": "b@z.com"}]},
    "nothing": {"userName": "c", "meta": {"resourceType": "User"}},
    "name-and-manager": {
        "userName": "d",
        "name": {"givenName": "Dee"},
        ENT: {"manager": {"value": "M1"}, "department": "Ops"},
        "groups": [{"value": "g1"}, {"value": "g2"}],
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Issue 16, 1: any value matches, for ne too; no values at all is null, which is "not identical".
        ('emails.type ne "work"', ["work-and-home", "nothing", "name-and-manager"]),
        ('not (emails.type eq "work")', ["nothing", "name-and-manager"]),
        ('groups.value ne "g1"', ["work-only", "nothing", "name-and-manager"]),
        # Issue 16, 2: a value path needs a value to apply to.
        ('groups[value ne "g1"]', ["name-and-manager"]),
        ('groups[not (value eq "g1")]', ["name-and-manager"]),
        ('groups[value eq "g1" and value eq "g2"]', []),
        ('emails[type eq "work" and value co "@y"]', []),
        ('emails[type eq "work"].value ew "x.com"', ["work-and-home", "work-only"]),
        # Issue 16, 4 and 5: resourceType is caseExact; profileUrl is caseExact false.
        ('meta.resourceType eq "user"', []),
        ('meta.resourceType eq "User"', ["work-and-home", "nothing"]),
        ('profileUrl sw "HTTPS://"', ["work-and-home"]),
        # pr, null and unassigned.
        ("emails.type pr", ["work-and-home", "work-only"]),
        ("emails.type eq null", ["nothing", "name-and-manager"]),
        ("name pr", ["name-and-manager"]),
        ('name[givenName ne "x"]', ["name-and-manager"]),
        # Defect 6: brackets on a single-valued complex attribute need its value.
        ('name[not (givenName eq "x")]', ["name-and-manager"]),
        ("manager[displayName eq null]", ["name-and-manager"]),
        ('emails[type ne "work"]', ["work-and-home", "work-only"]),
        ('name.givenName ne "x"', list(USERS)),
        # Extension paths, URN-qualified or not, and the manager compared through its value.
        (f'{ENT}:manager eq "M1"', ["name-and-manager"]),
        ('manager.value eq "m1"', []),
        ('DEPARTMENT eq "ops"', ["name-and-manager"]),
        # dateTime as instants.
        ('meta.created eq "2026-01-02T05:04:05.1230000+02:00"', ["work-and-home"]),
        ('meta.created gt "2026-01-02T03:04:05.122Z"', ["work-and-home"]),
    ],
)
def test_the_evaluator_follows_the_rfc(text: str, expected: list[str]) -> None:
    ast = parse_filter(text, schema_uris=USER_RESOURCE_TYPE.schema_uris)
    assert [key for key, user in USERS.items() if matches(user, ast, USER_RESOURCE_TYPE)] == expected


def test_the_evaluator_reads_group_members() -> None:
    group = {"displayName": "G", "members": [{"value": "u1", "type": "User", "display": "a"}]}
    ast = parse_filter('members[type eq "User" and value eq "u1"]')
    assert matches(group, ast, GROUP_RESOURCE_TYPE)
    assert not matches({"displayName": "H"}, parse_filter('members[value ne "u1"]'), GROUP_RESOURCE_TYPE)


BASE = {"schemas": [USER_SCHEMA_ID], "userName": "u", "name": {"givenName": "G", "familyName": "F"}}


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        # Issue 16, 3: null inside a complex value unassigns that sub-attribute.
        (
            [{"op": "replace", "path": "name", "value": {"familyName": None}}],
            {**BASE, "name": {"givenName": "G"}},
        ),
        ([{"op": "replace", "value": {"name": {"givenName": None}}}], {**BASE, "name": {"familyName": "F"}}),
        (
            [{"op": "add", "path": 'emails[type eq "work"].value', "value": "w@x"}],
            {**BASE, "emails": [{"type": "work", "value": "w@x"}]},
        ),
        (
            [{"op": "add", "value": {f"{ENT}:department": "D", "name.givenName": "H"}}],
            {
                "schemas": [USER_SCHEMA_ID, ENT],
                "userName": "u",
                "name": {"givenName": "H", "familyName": "F"},
                ENT: {"department": "D"},
            },
        ),
    ],
)
def test_the_patch_reference_follows_the_rfc(
    operations: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert apply_operations(BASE, operations, USER_RESOURCE_TYPE) == expected


def test_the_patch_reference_refuses_an_unmatched_filter_it_cannot_create() -> None:
    with pytest.raises(RefusalError) as info:
        apply_operations(
            BASE, [{"op": "replace", "path": 'emails[type ne "x"].value', "value": "v"}], USER_RESOURCE_TYPE
        )
    assert info.value.scim_type == "noTarget"


@pytest.mark.parametrize("value", [None, ""])
def test_the_patch_reference_creates_nothing_for_null_through_an_unmatched_filter(value: Any) -> None:
    """Defect 7: the filtered-add leniency creates an element to hold a value; null or "" is none."""
    with pytest.raises(RefusalError) as info:
        apply_operations(
            BASE,
            [{"op": "replace", "path": 'emails[type eq "work"].display', "value": value}],
            USER_RESOURCE_TYPE,
        )
    assert info.value.scim_type == "noTarget"
