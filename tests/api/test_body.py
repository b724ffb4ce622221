"""The strict JSON reader (api/body.py): depth, duplicate keys and the fast paths that skip work."""

from __future__ import annotations

import json

import pytest

from scim_server.api.body import MAX_DEPTH, parse_json
from scim_server.errors import InvalidSyntaxError


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a":', "}")])
def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused(opener: str, closer: str) -> None:
    text = opener * MAX_DEPTH + "1" + closer * MAX_DEPTH
    assert parse_json(text.encode()) == json.loads(text)
    deeper = opener * (MAX_DEPTH + 1) + "1" + closer * (MAX_DEPTH + 1)
    with pytest.raises(InvalidSyntaxError, match="deeper"):
        parse_json(deeper.encode())


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    # Far more brackets than the limit, all inside strings (with escaped quotes among them).
    strings = [nested(40), '\\"[[[[' * 20, "{" * 50 + '\\\\"', "]}" * 40]
    text = json.dumps({"a": [{"b": s} for s in strings], "c": '"[' * 30})
    assert text.count("[") + text.count("{") > MAX_DEPTH
    assert parse_json(text.encode()) == json.loads(text)


def test_many_shallow_objects_are_not_too_deep() -> None:
    text = json.dumps({"Operations": [{"op": "add", "value": [{"value": str(n)}]} for n in range(500)]})
    assert parse_json(text.encode()) == json.loads(text)


def test_depth_is_counted_past_strings_that_hold_closing_brackets() -> None:
    # The strings' "]" must not cancel the real opening brackets around them.
    text = "[" * (MAX_DEPTH + 1) + '"]]]]]]]]"' + "]" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidSyntaxError, match="deeper"):
        parse_json(text.encode())


@pytest.mark.parametrize(
    "text",
    ['{"a": 1, "a": 2}', '{"x": {"b": 1, "c": 2, "b": 3}}', '[{"k": 1}, {"k": 1, "k": 1}]'],
)
def test_a_duplicate_key_at_any_level_is_refused_by_name(text: str) -> None:
    with pytest.raises(InvalidSyntaxError, match="duplicate key"):
        parse_json(text.encode())


def test_equal_keys_in_different_objects_are_not_duplicates() -> None:
    assert parse_json(b'[{"k": 1}, {"k": 2}, {"a": {"k": 3}}]') == [{"k": 1}, {"k": 2}, {"a": {"k": 3}}]
