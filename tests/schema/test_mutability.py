"""The one immutability rule used by PUT and PATCH (RFC 7643 §7)."""

from __future__ import annotations

import pytest

from scim_server.errors import MutabilityError
from scim_server.schema.attributes import Attribute, AttributeType, Mutability, Schema
from scim_server.schema.catalog import ResourceType, SchemaExtension
from scim_server.schema.mutability import check_immutable

_IMMUTABLE = Mutability.IMMUTABLE
_CORE = Schema(
    "urn:example:Thing",
    "Thing",
    "",
    (
        Attribute("serial", AttributeType.STRING, mutability=_IMMUTABLE),
        Attribute(
            "origin",
            AttributeType.COMPLEX,
            sub_attributes=(
                Attribute("site", AttributeType.STRING, mutability=_IMMUTABLE),
                Attribute("note", AttributeType.STRING),
            ),
        ),
        Attribute("note", AttributeType.STRING),
    ),
)
_EXT = Schema(
    "urn:example:Badge", "Badge", "", (Attribute("badge", AttributeType.STRING, mutability=_IMMUTABLE),)
)
THINGS = ResourceType("Thing", "/Things", "", _CORE, (SchemaExtension(_EXT, required=False),))

BEFORE = {"serial": "s1", "origin": {"site": "Oslo", "note": "a"}, "urn:example:Badge": {"badge": "b1"}}


@pytest.mark.parametrize(
    ("after", "path"),
    [
        ({**BEFORE, "serial": "s2"}, "serial"),
        ({k: v for k, v in BEFORE.items() if k != "serial"}, "serial"),
        ({**BEFORE, "origin": {"site": "Rome", "note": "a"}}, "origin.site"),
        ({**BEFORE, "origin": {"note": "a"}}, "origin.site"),
        ({**BEFORE, "urn:example:Badge": {"badge": "b2"}}, "urn:example:Badge:badge"),
    ],
)
def test_a_set_immutable_value_cannot_change_or_go(after: dict[str, object], path: str) -> None:
    """RFC 7643 §7, immutable: 'The attribute SHALL NOT be updated.'"""
    with pytest.raises(MutabilityError) as info:
        check_immutable(BEFORE, after, THINGS)
    assert info.value.detail == f"Attribute '{path}' is immutable and cannot be changed"
    assert (info.value.status, info.value.scim_type) == (400, "mutability")


def test_immutable_values_may_be_set_once_and_re_sent_equal() -> None:
    """RFC 7643 §7, immutable: 'MAY be defined at creation (e.g., POST) or at record replacement'."""
    check_immutable({}, BEFORE, THINGS)
    check_immutable(BEFORE, {**BEFORE, "note": "changed", "origin": {"site": "Oslo"}}, THINGS)
