"""Where the mongoeco wire server differs from MongoDB's documented behaviour.

The server follows MongoDB. A test that meets one of these differences is marked ``mongoeco_gap`` and,
when the suite runs on mongoeco (``SCIM_TEST_MONGODB_IS_MONGOECO=1``, which ``scripts/test-wire``
sets), expected to fail there (strictly: once mongoeco behaves as MongoDB does, the test passes, the
run fails, and the entry goes). On MongoDB, and on the embedded store, these tests run as usual.
"""

from __future__ import annotations

import os

import pytest

ON_MONGOECO = os.environ.get("SCIM_TEST_MONGODB_IS_MONGOECO") == "1"

SKIP_LIMIT = (
    "mongoeco refuses a skip of 2**63 - 1 ('wire find skip must be a non-negative integer'); MongoDB takes "
    "any non-negative int64 skip and returns nothing past the end"
)
NESTING = (
    "mongoeco refuses a query nested a few dozen operators deep ('parser stack overflow'); MongoDB accepts "
    "a query tree up to 100 levels deep, beyond the server's default max_filter_depth of 32"
)
LOGICAL_IN_ELEM_MATCH = (
    "mongoeco refuses $and, $or and $nor inside $elemMatch ('Unsupported query operator') and a logical "
    "operator beside a field condition there ('$elemMatch cannot mix operator and field conditions'); "
    "MongoDB accepts any query operator inside $elemMatch but $where and $text "
    "(https://www.mongodb.com/docs/manual/reference/operator/query/elemMatch/). The server sends a flat "
    "$elemMatch for a conjunction of distinct sub-attributes (Entra's emails[type eq ...].value eq ...), "
    "which both accept, and a logical operator inside it only for a value filter with or, not, or a "
    "sub-attribute named twice; on mongoeco such a filter answers 500"
)

# Test node id (a whole test, or one of its parameters) -> the difference it meets.
GAPS: dict[str, str] = {
    "tests/api/test_hostile_input.py::test_filter_depth_is_honoured_up_to_the_limit_and_refused_beyond": (
        NESTING
    ),
    "tests/api/test_hostile_input.py::test_huge_and_negative_paging_values_are_clamped"
    "[9223372036854775808-2-9223372036854775808-0]": SKIP_LIMIT,
    "tests/api/test_hostile_input.py::test_huge_and_negative_paging_values_are_clamped"
    "[1000000000000000000000000000000-1000000000000000000000000000000-1000000000000000000000000000000-0]": (
        SKIP_LIMIT
    ),
    # The generated filters include value filters with or and not (photos[not (value sw "x")]).
    "tests/reference/test_filter_reference.py::"
    "test_filters_return_exactly_what_the_reference_evaluator_accepts": LOGICAL_IN_ELEM_MATCH,
}


def mark_gaps(items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`GAPS` (and those marked ``mongoeco_gap`` in their own module, with
    a reason) as expected to fail on mongoeco."""
    for item in items:
        reason = GAPS.get(item.nodeid) or GAPS.get(item.nodeid.partition("[")[0])
        if reason is not None:
            item.add_marker(pytest.mark.mongoeco_gap(reason=reason))
        marker = item.get_closest_marker("mongoeco_gap")
        if marker is not None and ON_MONGOECO:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"mongoeco gap: {marker.kwargs['reason']}"))
