"""A recursive-descent parser for SCIM filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2).

The ABNF of RFC 7644 is written above each parsing method. Precedence is ``not`` > ``and`` > ``or``;
``and``/``or`` chains are flattened into one n-ary node, so a long chain costs a loop, not recursion,
and only parentheses, ``not (`` and ``[`` nest (bounded by ``max_depth``).

Leniencies, all for real clients (see the IdP notes in the design docs):

* keywords (``eq`` … ``le``, ``pr``, ``and``, ``or``, ``not``, ``true``, ``false``, ``null``) in any case;
* any run of whitespace between tokens, and none where no word would merge (``userName eq"x"``);
* an unquoted comparison value (``externalId eq jyoung``) that is not ``true``/``false``/``null`` or a
  JSON number is kept as a string;
* ``urn:…:User.manager`` (a dot after a known URN) and legacy alias URNs such as
  ``urn:scim:schemas:extension:enterprise:1.0.department``;
* in a filter, ``emails[type eq "work"].value eq "x"`` (Entra), read as "one element matches both".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from scim_server.errors import InvalidFilterError, InvalidPathError, ScimError
from scim_server.filters.ast import (
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
)
from scim_server.filters.lexer import Lexer, Token, TokenKind

__all__ = ["parse_attr_path", "parse_filter", "parse_path", "split_one_comparison"]

# ATTRNAME = ALPHA *(nameChar); a leading "$" admits "$ref" (RFC 7643 §2.3.7).
_ATTRNAME = re.compile(r"\$?[A-Za-z][A-Za-z0-9_-]*")
# RFC 8259 §6; "NaN", "Infinity" and friends are not numbers and stay bare words.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:(\.[0-9]+)?([eE][+-]?[0-9]+)?)")
_COMPARE_OPS = {op.value: op for op in CompareOp}
_T = TypeVar("_T")
_KEYWORD_VALUES: dict[str, CompValue] = {"true": True, "false": False, "null": None}


def parse_filter(
    text: str,
    *,
    schema_uris: Sequence[str] = (),
    max_length: int = 4096,
    max_depth: int = 32,
    max_terms: int = 256,
) -> Filter:
    """Parse a ``filter`` query parameter or SearchRequest attribute (RFC 7644 §3.4.2.2).

    ``schema_uris`` are the URNs (and aliases) of the resource type, used to split URN-qualified
    attribute paths. Raises :class:`InvalidFilterError` naming the problem and its 0-based position;
    no other exception escapes, whatever the text.
    """
    if len(text) > max_length:
        raise InvalidFilterError(f"filter is longer than {max_length} characters")
    if max_terms >= 1:
        simple = _one_comparison(text, schema_uris)
        if simple is not None:
            return simple
    return _parse_filter(text, schema_uris, max_depth, max_terms)


def _parse_filter(text: str, schema_uris: Sequence[str], max_depth: int, max_terms: int) -> Filter:
    parser = _Parser(text, "filter", InvalidFilterError, schema_uris, max_depth, max_terms)
    return parser.run(parser.parse_filter)


# The commonest filter, an IdP's probe (userName eq "bjensen"): one attribute path, an operator and a
# string without escapes, with the lexer's whitespace around them. The path is a lexer word (which
# cannot hold whitespace, brackets, parentheses or quotes), so the pattern cannot backtrack.
_ONE_COMPARISON = re.compile(
    r'[ \t\r\n\f\v]*([^ \t\r\n\f\v()\[\]"]+)'  # the path
    r"[ \t\r\n\f\v]+([A-Za-z]{2})"  # the operator
    r'[ \t\r\n\f\v]*"([^"\\]*)"[ \t\r\n\f\v]*'  # the string
)


def split_one_comparison(text: str) -> tuple[str, str, str] | None:
    """The path as written, the operator (lower case) and the string of a filter of one comparison
    with a plain string (``userName eq "bjensen"``), or None for any other text.

    The path is not resolved, so the parser may still refuse it; when it does not, the filter is
    ``Compare(<the path parsed>, <the operator>, <the string>)`` (see :func:`_one_comparison`).
    """
    match = _ONE_COMPARISON.fullmatch(text)
    if match is None:
        return None
    word, op_word, value = match.groups()
    op_word = op_word.lower()
    if op_word not in _COMPARE_OPS or word.lower() == "not":  # "not" opens "not (...)" for the parser
        return None
    return word, op_word, value


def _one_comparison(text: str, schema_uris: Sequence[str]) -> Compare | None:
    """A filter of one comparison with a plain string, read by one regular expression (about a
    fifth of the parser's time); None for anything else, which the parser reads. What it returns is
    what the parser returns (``tests/filters/test_parser.py`` holds it to that on generated text)."""
    parts = split_one_comparison(text)
    if parts is None:
        return None
    word, op_word, value = parts
    path = _split_attr_path(word, schema_uris, whole_uri=False)
    return None if path is None else Compare(path, _COMPARE_OPS[op_word], value)


def parse_path(text: str, *, schema_uris: Sequence[str] = ()) -> PatchPath:
    """Parse a PATCH operation's ``path`` (RFC 7644 §3.5.2); raises :class:`InvalidPathError`.

    A path equal to a known URN is the whole extension object: ``attr=AttrPath(uri, "")``.
    Attribute paths inside ``[...]`` are relative to one element (``AttrPath(None, "type")``).
    """
    parser = _Parser(text, "path", InvalidPathError, schema_uris, 32, 256)
    return parser.run(parser.parse_path)


def parse_attr_path(text: str, *, schema_uris: Sequence[str] = ()) -> AttrPath:
    """Parse one attribute path as used by ``sortBy``, ``attributes`` and ``excludedAttributes``
    (RFC 7644 §3.4.2.3, §3.4.2.5); surrounding whitespace is ignored. A bare known URN names the
    whole extension (``AttrPath(uri, "")``). Raises :class:`InvalidPathError`.
    """
    stripped = text.strip(" \t\r\n\f\v")
    if not stripped:
        raise InvalidPathError("attribute path is empty")
    path = _split_attr_path(stripped, schema_uris, whole_uri=True)
    if path is None:
        raise InvalidPathError(f"invalid attribute path {_quote(stripped)}")
    return path


def _quote(text: str) -> str:
    return f"'{text}'" if len(text) <= 100 else f"'{text[:97]}...'"


def _split_attr_path(text: str, schema_uris: Sequence[str], *, whole_uri: bool) -> AttrPath | None:
    """``attrPath = [URI ":"] ATTRNAME *1subAttr``; ``None`` when ``text`` is not one.

    A known URN (case-insensitive, longest first) may be followed by ":" or "." (Microsoft's
    ``…:User.manager``); the URN keeps the text's spelling. Another ``urn:`` prefix is split at its
    last colon, leaving the unknown URN for the compiler to reject.
    """
    folded = text.lower()
    for uri in sorted(schema_uris, key=len, reverse=True):
        size = len(uri)
        if folded[:size] != uri.lower():
            continue
        if len(text) == size:
            return AttrPath(text, "") if whole_uri else None
        if text[size] in ":.":
            return _split_name(text[:size], text[size + 1 :])
    if folded.startswith("urn:"):
        uri, _, rest = text.rpartition(":")
        return _split_name(uri, rest)
    return _split_name(None, text)


def _split_name(uri: str | None, rest: str) -> AttrPath | None:
    """``ATTRNAME *1subAttr`` with ``subAttr = "." ATTRNAME``."""
    attr, dot, sub = rest.partition(".")
    if not _ATTRNAME.fullmatch(attr):
        return None
    if not dot:
        return AttrPath(uri, attr)
    if not _ATTRNAME.fullmatch(sub):
        return None
    return AttrPath(uri, attr, sub)


def _flatten(node: type[And] | type[Or], terms: list[Filter]) -> Filter:
    """One n-ary node for a chain; ``(a and b) and c`` joins the inner chain too."""
    if len(terms) == 1:
        return terms[0]
    flat: list[Filter] = []
    for term in terms:
        if isinstance(term, node):
            flat.extend(term.terms)
        else:
            flat.append(term)
    return node(tuple(flat))


class _Parser:
    def __init__(
        self,
        text: str,
        noun: str,
        error: type[ScimError],
        schema_uris: Sequence[str],
        max_depth: int,
        max_terms: int,
    ) -> None:
        self._lexer = Lexer(text, error=error)
        self._noun = noun
        self._error = error
        self._schema_uris = tuple(schema_uris)
        self._max_depth = max_depth
        self._max_terms = max_terms
        self._depth = 0
        self._terms = 0

    def run(self, entry: Callable[[], _T]) -> _T:
        """Run one entry point; deep nesting is refused before recursion gets deep, but a caller
        passing a huge ``max_depth`` still gets a clean error instead of a RecursionError."""
        if not self._lexer.text.strip(" \t\r\n\f\v"):
            raise self._error(f"{self._noun} is empty")
        try:
            return entry()
        except RecursionError:
            raise self._error(f"{self._noun} is nested too deeply") from None

    # --- entry points -------------------------------------------------------------------------

    # FILTER (whole text) = FILTER EOF
    def parse_filter(self) -> Filter:
        result = self._or_expression(in_brackets=False)
        self._expect_end()
        return result

    # PATH = attrPath / valuePath [subAttr]          (RFC 7644 §3.5.2)
    # valuePath = attrPath "[" valFilter "]"
    def parse_path(self) -> PatchPath:
        token = self._lexer.next()
        if token.kind is not TokenKind.WORD:
            raise self._unexpected(token, "an attribute path")
        path = self._attr_path(token, whole_uri=True)
        if self._lexer.peek().kind is not TokenKind.LBRACKET:
            self._expect_end()
            return PatchPath(path)
        if path.attr == "" or path.sub_attr is not None:
            raise self._error(
                f"a value filter must follow a multi-valued attribute name, not {token.describe()} "
                f"at position {token.pos}"
            )
        value_filter = self._bracket_filter()
        sub_attr = self._sub_attr_after_bracket()
        self._expect_end()
        return PatchPath(path, value_filter, sub_attr)

    # --- grammar rules --------------------------------------------------------------------------

    # logExp = FILTER SP "or" SP FILTER        ("or" binds loosest; chains become one Or)
    def _or_expression(self, *, in_brackets: bool) -> Filter:
        terms = [self._and_expression(in_brackets=in_brackets)]
        while self._at_keyword("or"):
            self._lexer.next()
            terms.append(self._and_expression(in_brackets=in_brackets))
        return _flatten(Or, terms)

    # logExp = FILTER SP "and" SP FILTER       (chains become one And)
    def _and_expression(self, *, in_brackets: bool) -> Filter:
        terms = [self._unary(in_brackets=in_brackets)]
        while self._at_keyword("and"):
            self._lexer.next()
            terms.append(self._unary(in_brackets=in_brackets))
        return _flatten(And, terms)

    # FILTER    = attrExp / valuePath / *1"not" "(" FILTER ")"
    # valFilter = attrExp / *1"not" "(" valFilter ")"
    def _unary(self, *, in_brackets: bool) -> Filter:
        token = self._lexer.peek()
        if token.kind is TokenKind.LPAREN:
            self._lexer.next()
            return self._parenthesized(token, in_brackets=in_brackets)
        if token.kind is TokenKind.WORD and token.text.lower() == "not":
            self._lexer.next()
            paren = self._lexer.next()
            if paren.kind is not TokenKind.LPAREN:
                raise self._error(f"'not' must be followed by '(' at position {paren.pos}")
            return Not(self._parenthesized(paren, in_brackets=in_brackets))
        if token.kind is TokenKind.WORD:
            self._lexer.next()
            return self._attr_expression(token, in_brackets=in_brackets)
        raise self._unexpected(token, "an attribute path, '(' or 'not ('")

    # "(" FILTER ")"
    def _parenthesized(self, paren: Token, *, in_brackets: bool) -> Filter:
        self._enter(paren)
        inner = self._or_expression(in_brackets=in_brackets)
        close = self._lexer.next()
        if close.kind is not TokenKind.RPAREN:
            raise self._error(
                f"expected ')' to close the '(' at position {paren.pos}, found {close.describe()} "
                f"at position {close.pos}"
            )
        self._depth -= 1
        return inner

    # attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
    # valuePath = attrPath "[" valFilter "]"   (followed here by an optional subAttr, see below)
    def _attr_expression(self, token: Token, *, in_brackets: bool) -> Filter:
        path = self._attr_path(token, whole_uri=False)
        if self._lexer.peek().kind is not TokenKind.LBRACKET:
            return self._operation(path, token)
        if in_brackets:
            raise self._error(f"nested '[' in a value filter at position {self._lexer.peek().pos}")
        if path.sub_attr is not None:
            raise self._error(
                f"a value filter must follow a multi-valued attribute name, not {token.describe()} "
                f"at position {token.pos}"
            )
        value_filter = self._bracket_filter()
        following = self._lexer.peek()
        if following.kind is not TokenKind.WORD or not following.text.startswith("."):
            return ValuePath(path, value_filter)
        # Entra: emails[type eq "work"].value eq "x" means one element matching both conditions.
        sub_attr = self._sub_attr_after_bracket()
        assert sub_attr is not None
        element_term = self._operation(AttrPath(None, sub_attr), following)
        return ValuePath(path, _flatten(And, [value_filter, element_term]))

    # "[" valFilter "]"
    def _bracket_filter(self) -> Filter:
        bracket = self._lexer.next()
        self._enter(bracket)
        inner = self._or_expression(in_brackets=True)
        close = self._lexer.next()
        if close.kind is not TokenKind.RBRACKET:
            raise self._error(
                f"expected ']' to close the '[' at position {bracket.pos}, found {close.describe()} "
                f"at position {close.pos}"
            )
        self._depth -= 1
        return inner

    # subAttr = "." ATTRNAME      (after "]")
    def _sub_attr_after_bracket(self) -> str | None:
        token = self._lexer.peek()
        if token.kind is not TokenKind.WORD or not token.text.startswith("."):
            return None
        self._lexer.next()
        name = token.text[1:]
        if not _ATTRNAME.fullmatch(name):
            raise self._error(f"invalid sub-attribute {token.describe()} at position {token.pos}")
        return name

    # compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"   (or "pr")
    def _operation(self, path: AttrPath, path_token: Token) -> Filter:
        token = self._lexer.next()
        if token.kind is not TokenKind.WORD:
            raise self._error(
                f"expected an operator after {path_token.describe()}, found {token.describe()} "
                f"at position {token.pos}"
            )
        keyword = token.text.lower()
        if keyword == "pr":
            self._count_term(token)
            return Present(path)
        op = _COMPARE_OPS.get(keyword)
        if op is None:
            raise self._error(f"unknown operator {token.describe()} at position {token.pos}")
        value = self._comp_value(token)
        self._count_term(token)
        return Compare(path, op, value)

    # compValue = false / null / true / number / string    (plus bare words, kept as strings)
    def _comp_value(self, op_token: Token) -> CompValue:
        token = self._lexer.next_value()
        if token.kind is TokenKind.STRING:
            return token.value
        if token.kind is not TokenKind.WORD:
            raise self._error(
                f"expected a comparison value after {op_token.describe()}, found {token.describe()} "
                f"at position {token.pos}"
            )
        folded = token.text.lower()
        if folded in _KEYWORD_VALUES:
            return _KEYWORD_VALUES[folded]
        number = _NUMBER.fullmatch(token.text)
        if number is None:
            return token.text
        try:
            if number.group(1) is None and number.group(2) is None:
                return int(token.text)
            result = float(token.text)
        except ValueError:  # more digits than int() converts (sys.int_info.str_digits_check_threshold)
            raise self._error(f"number out of range at position {token.pos}") from None
        if math.isinf(result):
            raise self._error(f"number out of range at position {token.pos}")
        return result

    # attrPath = [URI ":"] ATTRNAME *1subAttr
    def _attr_path(self, token: Token, *, whole_uri: bool) -> AttrPath:
        path = _split_attr_path(token.text, self._schema_uris, whole_uri=whole_uri)
        if path is None:
            raise self._error(f"invalid attribute path {token.describe()} at position {token.pos}")
        return path

    # --- helpers ------------------------------------------------------------------------------

    def _at_keyword(self, keyword: str) -> bool:
        token = self._lexer.peek()
        return token.kind is TokenKind.WORD and token.text.lower() == keyword

    def _enter(self, token: Token) -> None:
        if self._depth >= self._max_depth:
            raise self._error(
                f"{self._noun} nesting exceeds {self._max_depth} levels at position {token.pos}"
            )
        self._depth += 1

    def _count_term(self, token: Token) -> None:
        self._terms += 1
        if self._terms > self._max_terms:
            raise self._error(
                f"{self._noun} has more than {self._max_terms} attribute expressions "
                f"(at position {token.pos})"
            )

    def _expect_end(self) -> None:
        token = self._lexer.peek()
        if token.kind is not TokenKind.EOF:
            raise self._unexpected(token, f"the end of the {self._noun}")

    def _unexpected(self, token: Token, expected: str) -> ScimError:
        return self._error(f"expected {expected}, found {token.describe()} at position {token.pos}")
