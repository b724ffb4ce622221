"""Exact tests of the sortBy compiler (RFC 7644 §3.4.2.3); no database involved."""

from __future__ import annotations

import pytest

from scim_server.compiler import compile_sort
from scim_server.errors import InvalidValueError
from scim_server.filters import AttrPath, parse_attr_path
from scim_server.schema.catalog import ENTERPRISE_USER_SCHEMA_ID, USER_RESOURCE_TYPE

USERS = USER_RESOURCE_TYPE
EXT = "urn:ietf:params:scim:schemas:extension:enterprise:2_0:User"


def sort(text: str | None, descending: bool = False) -> list[tuple[str, int]]:
    path = None if text is None else parse_attr_path(text, schema_uris=USERS.schema_uris)
    return compile_sort(path, descending, USERS)


def test_default_order_is_creation_then_id_and_ignores_sort_order() -> None:
    assert sort(None) == [("meta.created", 1), ("_id", 1)]
    assert sort(None, descending=True) == [("meta.created", 1), ("_id", 1)]


@pytest.mark.parametrize(
    ("sort_by", "field"),
    [
        ("name.familyName", "name._lc.familyName"),
        ("urn:ietf:params:scim:schemas:core:2.0:User:displayName", "_lc.displayName"),
        ("externalId", "externalId"),
        ("active", "active"),
        ("meta.created", "meta.created"),
        ("meta.lastModified", "meta.lastModified"),
        ("emails", "emails._lc.value"),
        ("emails.type", "emails._lc.type"),
        ("x509Certificates", "x509Certificates.value"),
        ("manager", f"{EXT}.manager.value"),
        (f"{ENTERPRISE_USER_SCHEMA_ID}:employeeNumber", f"{EXT}._lc.employeeNumber"),
        ("department", f"{EXT}._lc.department"),
    ],
)
def test_sort_field_and_direction_with_id_tiebreaker(sort_by: str, field: str) -> None:
    assert sort(sort_by) == [(field, 1), ("_id", 1)]
    assert sort(sort_by, descending=True) == [(field, -1), ("_id", -1)]


@pytest.mark.parametrize("sort_by", ["userName", "USERNAME"])
def test_sort_by_a_unique_attribute_needs_no_tiebreaker(sort_by: str) -> None:
    assert sort(sort_by) == [("_lc.userName", 1)]
    assert sort(sort_by, descending=True) == [("_lc.userName", -1)]


def test_sort_by_id_needs_no_tiebreaker() -> None:
    assert sort("id") == [("_id", 1)]
    assert sort("ID", descending=True) == [("_id", -1)]


def test_sort_by_resource_type_is_the_default_order() -> None:
    assert sort("meta.resourceType", descending=True) == [("meta.created", 1), ("_id", 1)]


@pytest.mark.parametrize(
    "sort_by",
    [
        "unknown",
        "name.unknown",
        "password",
        "name",
        "addresses",
        "meta",
        "meta.location",
        "meta.version",
        "schemas",
    ],
)
def test_unsortable_attributes_are_invalid_values(sort_by: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        sort(sort_by)
    assert info.value.scim_type == "invalidValue"
    assert sort_by in info.value.detail


def test_unknown_urn_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValueError, match="urn:example:unknown"):
        compile_sort(AttrPath("urn:example:unknown", "department"), False, USERS)
