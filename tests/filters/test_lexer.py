"""The filter tokenizer: token boundaries, JSON string decoding and lexical errors."""

from __future__ import annotations

import pytest

from scim_server.errors import InvalidFilterError, InvalidPathError
from scim_server.filters.lexer import Lexer, Token, TokenKind, tokenize

WORD = TokenKind.WORD
STRING = TokenKind.STRING
EOF = TokenKind.EOF


def kinds_and_values(text: str) -> list[tuple[TokenKind, str]]:
    return [(token.kind, token.value) for token in tokenize(text)]


def test_tokenize_simple_comparison_records_positions() -> None:
    assert tokenize('userName eq "bjensen"') == [
        Token(WORD, "userName", 0, "userName"),
        Token(WORD, "eq", 9, "eq"),
        Token(STRING, '"bjensen"', 12, "bjensen"),
        Token(EOF, "", 21, ""),
    ]


def test_tokenize_punctuation_needs_no_surrounding_space() -> None:
    assert kinds_and_values('(a pr)and emails[type eq"work"].value') == [
        (TokenKind.LPAREN, "("),
        (WORD, "a"),
        (WORD, "pr"),
        (TokenKind.RPAREN, ")"),
        (WORD, "and"),
        (WORD, "emails"),
        (TokenKind.LBRACKET, "["),
        (WORD, "type"),
        (WORD, "eq"),
        (STRING, "work"),
        (TokenKind.RBRACKET, "]"),
        (WORD, ".value"),
        (EOF, ""),
    ]


def test_tokenize_tolerates_runs_of_spaces_tabs_and_newlines() -> None:
    assert kinds_and_values("  title \t\r\n  pr \n") == [(WORD, "title"), (WORD, "pr"), (EOF, "")]


def test_tokenize_keeps_urn_attribute_paths_as_one_word() -> None:
    text = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
    assert kinds_and_values(text) == [(WORD, text), (EOF, "")]


def test_tokenize_empty_text_is_only_eof() -> None:
    assert tokenize("") == [Token(EOF, "", 0, "")]


@pytest.mark.parametrize(
    ("source", "decoded"),
    [
        (r'"plain"', "plain"),
        (r'""', ""),
        ('"O\'Malley"', "O'Malley"),
        (r'"a\"b"', 'a"b'),
        (r'"a\\b"', "a\\b"),
        (r'"a\/b"', "a/b"),
        (r'"\b\f\n\r\t"', "\b\f\n\r\t"),
        (r'"\u00e9\u00E9"', "éé"),
        (r'"\ud83d\ude00"', "\U0001f600"),
        ('"raw é 😀"', "raw é 😀"),
    ],
)
def test_string_escapes_decode_like_json(source: str, decoded: str) -> None:
    assert tokenize(source)[0] == Token(STRING, source, 0, decoded)


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ('"abc', "unterminated string starting at position 0"),
        ('"abc\\', "unterminated string starting at position 0"),
        ('"a\\q"', "invalid escape '\\q' in string at position 2"),
        ('"\\u12"', "invalid \\u escape in string at position 1"),
        ('"\\u12G4"', "invalid \\u escape in string at position 1"),
        (
            '"\\u\u0661\u0662\u0663\u0664"',  # Arabic-Indic digits, which int(..., 16) accepts
            "invalid \\u escape in string at position 1",
        ),
        ('"\\ud83d"', "unpaired surrogate in string escape at position 1"),
        ('"\\ud83d\\u0041"', "unpaired surrogate in string escape at position 1"),
        ('"\\ude00"', "unpaired surrogate in string escape at position 1"),
    ],
)
def test_bad_strings_raise_invalid_filter_with_position(source: str, detail: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        tokenize(source)
    assert caught.value.detail == detail


def test_lexer_raises_the_error_class_it_was_given() -> None:
    with pytest.raises(InvalidPathError):
        tokenize('a[b eq "x', error=InvalidPathError)


def test_value_mode_reads_bare_word_up_to_space_paren_or_bracket() -> None:
    lexer = Lexer('(x eq 2021-09-23T19:35:41.8420572Z) [y eq a(b"c]')
    assert [lexer.next().value for _ in range(3)] == ["(", "x", "eq"]
    assert lexer.next_value() == Token(
        WORD, "2021-09-23T19:35:41.8420572Z", 6, "2021-09-23T19:35:41.8420572Z"
    )
    assert lexer.next().kind is TokenKind.RPAREN
    assert [lexer.next().value for _ in range(3)] == ["[", "y", "eq"]
    assert lexer.next_value().value == 'a(b"c'
    assert lexer.next().kind is TokenKind.RBRACKET


def test_value_mode_reads_quoted_string_even_without_leading_space() -> None:
    lexer = Lexer('eq"x y"')
    assert lexer.next().value == "eq"
    assert lexer.next_value() == Token(STRING, '"x y"', 2, "x y")


def test_value_mode_at_closing_paren_returns_it_unconsumed() -> None:
    lexer = Lexer("eq )")
    lexer.next()
    assert lexer.next_value().kind is TokenKind.RPAREN
    assert lexer.next().kind is TokenKind.RPAREN
    assert lexer.next().kind is EOF


def test_peek_does_not_consume() -> None:
    lexer = Lexer("a b")
    assert lexer.peek() == lexer.peek() == Token(WORD, "a", 0, "a")
    assert lexer.next().value == "a"
    assert lexer.next().value == "b"
