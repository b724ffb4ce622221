"""One comparison rule for both entry points: a filter (``compile_filter``, run on the embedded store)
and a PATCH value-path filter (``apply_patch``) give the same accept/refuse answer and the same
matches, for every attribute type, caseExact setting and operator (RFC 7644 §3.4.2.2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from scim_server.compiler import apply_patch, compile_filter, parse_patch_request
from scim_server.errors import InvalidFilterError, InvalidPathError, NoTargetError
from scim_server.filters import CompValue, parse_filter
from scim_server.schema.attributes import Attribute, AttributeType, Schema
from scim_server.schema.catalog import ResourceType
from scim_server.storage.client import embedded_client
from scim_server.storage.documents import to_document

_SUBS = (
    Attribute(name="s", type=AttributeType.STRING),
    Attribute(name="cs", type=AttributeType.STRING, case_exact=True),
    Attribute(name="r", type=AttributeType.REFERENCE, reference_types=("external",)),
    Attribute(name="cr", type=AttributeType.REFERENCE, case_exact=True, reference_types=("uri",)),
    Attribute(name="b", type=AttributeType.BINARY, case_exact=True),
    Attribute(name="flag", type=AttributeType.BOOLEAN),
    Attribute(name="n", type=AttributeType.INTEGER),
    Attribute(name="d", type=AttributeType.DECIMAL),
    Attribute(name="t", type=AttributeType.DATETIME),
)
_SCHEMA = Schema(
    id="urn:example:params:scim:schemas:core:2.0:Box",
    name="Box",
    description="A test schema with one sub-attribute of every type",
    attributes=(
        Attribute(name="things", type=AttributeType.COMPLEX, multi_valued=True, sub_attributes=_SUBS),
    ),
)
BOXES = ResourceType(name="Box", endpoint="/Boxes", description="Boxes", schema=_SCHEMA)

WHEN = datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)
LATER = datetime(2021, 9, 23, 19, 35, 41, 842000, tzinfo=UTC)

# One element per resource, so "the PATCH found the element" and "the filter found the resource" are
# the same question. "empty" holds an element with every other sub-attribute unassigned; "none" has
# no element at all.
RESOURCES: dict[str, dict[str, Any]] = {
    "alpha": {
        "things": [
            {
                "s": "Alpha",
                "cs": "Alpha",
                "r": "HTTPS://Example.com/Alpha",
                "cr": "https://example.com/Alpha",
                "b": "QUxQSEE=",
                "flag": True,
                "n": 5,
                "d": 2.5,
                "t": WHEN,
            }
        ]
    },
    "beta": {
        "things": [
            {
                "s": "beta",
                "cs": "beta",
                "r": "https://example.org/beta",
                "cr": "HTTPS://EXAMPLE.ORG/BETA",
                "b": "YmV0YQ==",
                "flag": False,
                "n": 7,
                "d": 1.0,
                "t": LATER,
            }
        ]
    },
    "empty": {"things": [{"cs": "zzz"}]},
    "none": {},
}

OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
VALUES: tuple[CompValue, ...] = (
    "Alpha",
    "alpha",
    "ALP",
    "ha",
    "https://example",
    "QUxQSEE=",
    "",
    5,
    5.0,
    6,
    2.5,
    True,
    False,
    "True",
    "false",
    "2011-05-13T04:42:34Z",
    "2015-01-01T00:00:00+02:00",
    None,
)


def _literal(value: CompValue) -> str:
    return json.dumps(value)


@pytest.fixture
async def boxes() -> Any:
    collection: Any = embedded_client()["scim"]["boxes"]
    await collection.insert_many(
        [
            to_document(resource, BOXES, id=rid, created=WHEN, last_modified=WHEN, version=1)
            for rid, resource in RESOURCES.items()
        ]
    )
    return collection


async def _filter_answer(collection: Any, text: str) -> set[str] | None:
    try:
        query = compile_filter(parse_filter(text, schema_uris=BOXES.schema_uris), BOXES)
    except InvalidFilterError:
        return None
    return {doc["_id"] async for doc in collection.find(query)}


def _patch_answer(path: str) -> set[str] | None:
    operations = parse_patch_request({"Operations": [{"op": "remove", "path": path}]}, BOXES)
    found: set[str] = set()
    for rid, resource in RESOURCES.items():
        try:
            apply_patch(resource, operations, BOXES)
        except NoTargetError:
            continue
        except InvalidPathError:
            return None
        found.add(rid)
    return found


def _comparisons(sub: str, op: str) -> list[str]:
    if op == "pr":
        return [f"{sub} pr"]
    return [f"{sub} {op} {_literal(value)}" for value in VALUES]


@pytest.mark.parametrize("op", [*OPERATORS, "pr"])
@pytest.mark.parametrize("sub", [sub.name for sub in _SUBS])
async def test_filters_and_patch_value_paths_apply_one_comparison_rule(boxes: Any, sub: str, op: str) -> None:
    for comparison in _comparisons(sub, op):
        for text in (
            f"things[{comparison}]",
            f"things[not ({comparison})]",
            f'things[{comparison} and cs ne "q"]',
        ):
            assert (text, await _filter_answer(boxes, text)) == (text, _patch_answer(text))


async def test_the_rule_refuses_what_it_should_and_reads_the_rest_by_type(boxes: Any) -> None:
    """Spot checks that the shared answers are the RFC's, not merely equal."""
    assert await _filter_answer(boxes, "things[s eq 5]") is None  # a string never equals a number
    assert _patch_answer("things[s eq 5]") is None
    assert await _filter_answer(boxes, "things[flag gt true]") is None  # RFC 7644 §3.4.2.2
    assert await _filter_answer(boxes, 'things[b gt "a"]') is None
    assert await _filter_answer(boxes, "things[n co 5]") is None
    assert await _filter_answer(boxes, 'things[s eq "ALPHA"]') == {"alpha"}
    assert await _filter_answer(boxes, 'things[cs eq "alpha"]') == set()
    assert await _filter_answer(boxes, 'things[flag eq "True"]') == {"alpha"}
    assert await _filter_answer(boxes, "things[n eq 5.0]") == {"alpha"}
    assert await _filter_answer(boxes, 'things[t gt "2015-01-01T00:00:00+02:00"]') == {"beta"}
    assert await _filter_answer(boxes, 'things[s ne "beta"]') == {"alpha", "empty"}
