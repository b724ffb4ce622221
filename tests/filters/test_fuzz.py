"""Property tests: no input escapes the parser's error classes, and rendered ASTs parse back equal."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from scim_server.errors import InvalidFilterError, InvalidPathError
from scim_server.filters import (
    And,
    AttrPath,
    Compare,
    CompareOp,
    CompValue,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
    parse_attr_path,
    parse_filter,
    parse_path,
)
from scim_server.schema.catalog import USER_RESOURCE_TYPE

URIS = USER_RESOURCE_TYPE.schema_uris
UNKNOWN_URN = "urn:example:params:scim:schemas:extension:custom:2.0:Thing"
# Generating nested trees costs far more than parsing them; fewer examples keep the file fast.
TREE_BUDGET = settings(max_examples=settings.default.max_examples // 2)

# Tokens that exercise every grammar rule, for soups that get further than random text does.
SOUP = st.sampled_from(
    [
        "(", ")", "[", "]", "not", "NOT", "and", "or", "Or", "pr", "eq", "Eq", "ne", "co", "sw", "gt", "le",
        "zz", "true", "null", "1", "-2.5e3", "1e999", '"x"', '"\\u00e9"', '"\\ud83d', '"', "\\", "jyoung",
        "userName", "name.givenName", "a..b", ".value", "emails", "$ref", URIS[0], URIS[1] + ":manager",
        URIS[2] + ".department", "urn:", ":", ".", " ", "\t", "\n",
    ]
)  # fmt: skip


@given(st.text())
def test_parse_filter_on_any_text_returns_or_raises_invalid_filter(text: str) -> None:
    with contextlib.suppress(InvalidFilterError):
        parse_filter(text, schema_uris=URIS)


@given(st.lists(SOUP, max_size=30), st.sampled_from([" ", ""]))
def test_parse_filter_on_token_soup_returns_or_raises_invalid_filter(tokens: list[str], sep: str) -> None:
    with contextlib.suppress(InvalidFilterError):
        parse_filter(sep.join(tokens), schema_uris=URIS)


@given(st.one_of(st.text(), st.lists(SOUP, max_size=30).map("".join)))
def test_parse_path_on_any_text_returns_or_raises_invalid_path(text: str) -> None:
    with contextlib.suppress(InvalidPathError):
        parse_path(text, schema_uris=URIS)


@given(st.one_of(st.text(), st.lists(SOUP, max_size=10).map("".join)))
def test_parse_attr_path_on_any_text_returns_or_raises_invalid_path(text: str) -> None:
    with contextlib.suppress(InvalidPathError):
        parse_attr_path(text, schema_uris=URIS)


# --- round trip -----------------------------------------------------------------------------------

# "not" is excluded: "not" followed by an operator reads as the keyword, by design.
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["", "", "", "$"]),
        st.sampled_from(LETTERS),
        st.text(alphabet=LETTERS + "0123456789_-", max_size=6),
    ),
).filter(lambda name: name.lower() != "not")
uris = st.sampled_from([None, None, None, *URIS, UNKNOWN_URN])
attr_paths = st.builds(AttrPath, uris, names, st.none() | names)
relative_paths = st.builds(AttrPath, st.none(), names, st.none() | names)
values: st.SearchStrategy[CompValue] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
ops = st.sampled_from(list(CompareOp))


def _join(node: type[And] | type[Or], terms: list[Filter]) -> Filter:
    """Build the flattened n-ary node the parser produces for a chain."""
    flat: list[Filter] = []
    for term in terms:
        flat.extend(term.terms if isinstance(term, node) else (term,))
    return node(tuple(flat))


def _filters(leaves: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
    def extend(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
        chains = st.lists(children, min_size=2, max_size=4)
        return st.one_of(
            chains.map(lambda terms: _join(And, terms)),
            chains.map(lambda terms: _join(Or, terms)),
            st.builds(Not, children),
        )

    return st.recursive(leaves, extend, max_leaves=6)


def _attr_expressions(paths: st.SearchStrategy[AttrPath]) -> st.SearchStrategy[Filter]:
    return st.one_of(st.builds(Compare, paths, ops, values), st.builds(Present, paths))


val_filters = _filters(_attr_expressions(relative_paths))
value_paths = st.builds(ValuePath, st.builds(AttrPath, uris, names), val_filters)
filters = _filters(st.one_of(_attr_expressions(attr_paths), value_paths))


class Style:
    """How to spell keywords and separate tokens; any choice must parse to the same tree."""

    def __init__(self, case: Callable[[str], str], space: str, ascii_only: bool) -> None:
        self.case = case
        self.space = space
        self.ascii_only = ascii_only


styles = st.builds(
    Style,
    st.sampled_from([str.lower, str.upper, str.title]),
    st.sampled_from([" ", "  ", "\t", "\n ", " \r\n"]),
    st.booleans(),
)


def render_value(value: CompValue, style: Style) -> str:
    if value is None or isinstance(value, bool):
        return style.case(json.dumps(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=style.ascii_only)
    return repr(value)


def render(node: Filter, style: Style) -> str:
    sp = style.space
    if isinstance(node, Compare):
        return sp.join((str(node.path), style.case(node.op.value), render_value(node.value, style)))
    if isinstance(node, Present):
        return f"{node.path}{sp}{style.case('pr')}"
    if isinstance(node, Not):
        return f"{style.case('not')}{sp}({render(node.term, style)})"
    if isinstance(node, ValuePath):
        return f"{node.path}[{render(node.filter, style)}]"
    if isinstance(node, And):
        parts = [f"({render(t, style)})" if isinstance(t, Or) else render(t, style) for t in node.terms]
        return f"{sp}{style.case('and')}{sp}".join(parts)
    return f"{sp}{style.case('or')}{sp}".join(render(t, style) for t in node.terms)


@TREE_BUDGET
@given(filters, styles)
def test_rendered_filter_parses_back_to_the_same_tree(tree: Filter, style: Style) -> None:
    parsed = parse_filter(render(tree, style), schema_uris=URIS, max_length=100_000)
    assert parsed == tree
    assert repr(parsed) == repr(tree)  # == alone would let True stand for 1, or 1 for 1.0


@st.composite
def patch_paths(draw: st.DrawFn) -> PatchPath:
    if draw(st.integers(0, 9)) == 0:
        return PatchPath(AttrPath(draw(st.sampled_from(URIS)), ""))
    if draw(st.booleans()):
        return PatchPath(draw(attr_paths))
    return PatchPath(draw(st.builds(AttrPath, uris, names)), draw(val_filters), draw(st.none() | names))


def render_path(path: PatchPath, style: Style) -> str:
    text = str(path.attr) if path.attr.attr else str(path.attr.uri)
    if path.filter is not None:
        text += f"[{render(path.filter, style)}]"
    if path.sub_attr is not None:
        text += f".{path.sub_attr}"
    return text


@TREE_BUDGET
@given(patch_paths(), styles)
def test_rendered_patch_path_parses_back_to_the_same_path(path: PatchPath, style: Style) -> None:
    parsed = parse_path(render_path(path, style), schema_uris=URIS)
    assert parsed == path
    assert repr(parsed) == repr(path)


@given(attr_paths)
def test_rendered_attr_path_parses_back(path: AttrPath) -> None:
    assert parse_attr_path(str(path), schema_uris=URIS) == path


bare_words = st.builds(
    "".join,
    st.tuples(st.sampled_from(LETTERS + "_@"), st.text(alphabet=LETTERS + "0123456789_@.:+/-", max_size=12)),
).filter(lambda word: word.lower() not in {"true", "false", "null"})


@given(relative_paths, ops, bare_words)
def test_unquoted_bare_word_value_is_kept_as_string(path: AttrPath, op: CompareOp, word: str) -> None:
    assert parse_filter(f"{path} {op.value} {word}") == Compare(path, op, word)
