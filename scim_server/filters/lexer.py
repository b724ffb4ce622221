"""The tokenizer for SCIM filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2).

The lexer is pulled by the parser one token at a time because a comparison value has its own
lexical rule: after ``eq`` a bare word runs up to whitespace, ``)`` or ``]`` (Entra's
``externalId eq jyoung``, ``meta.lastModified ge 2021-09-23T19:35:41Z``), while everywhere else a
word also stops at ``(``, ``[`` and ``"``. :meth:`Lexer.next_value` reads in that value mode.

Whitespace (spaces, tabs, newlines, any number of them) separates tokens but is needed only where
two words would otherwise run together: ``userName eq"x"`` and ``(title pr)and(x pr)`` are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from scim_server.errors import InvalidFilterError, ScimError

__all__ = ["Lexer", "Token", "TokenKind", "tokenize"]

# ASCII whitespace only: a no-break space inside a word is part of the word (and then an invalid name).
_SPACE = re.compile(r"[ \t\r\n\f\v]*")
_WORD = re.compile(r"[^ \t\r\n\f\v()\[\]\"]+")
_BARE_VALUE = re.compile(r"[^ \t\r\n\f\v)\]]+")
_STRING_CHUNK = re.compile(r"[^\"\\]*")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class TokenKind(Enum):
    WORD = "word"  # an attribute path, a keyword, a number or a bare value
    STRING = "string"  # a JSON string; ``Token.value`` is the decoded text
    LPAREN = "("
    RPAREN = ")"
    LBRACKET = "["
    RBRACKET = "]"
    EOF = "end of input"


_PUNCTUATION = {
    "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN,
    "[": TokenKind.LBRACKET,
    "]": TokenKind.RBRACKET,
}


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``text`` is the source slice, ``value`` the decoded string (same as ``text``
    except for :attr:`TokenKind.STRING`), ``pos`` the 0-based offset of its first character."""

    kind: TokenKind
    text: str
    pos: int
    value: str

    def describe(self) -> str:
        """The token as an error message shows it."""
        if self.kind is TokenKind.EOF:
            return "end of input"
        shown = self.text if len(self.text) <= 100 else self.text[:97] + "..."
        return f"'{shown}'"


class Lexer:
    """An on-demand tokenizer over ``text``; lexical errors raise ``error`` (a :class:`ScimError`)."""

    def __init__(self, text: str, *, error: type[ScimError] = InvalidFilterError) -> None:
        self._text = text
        self._pos = 0
        self._error = error
        self._peeked: tuple[Token, int] | None = None

    @property
    def text(self) -> str:
        return self._text

    def peek(self) -> Token:
        """The next token (ordinary mode) without consuming it."""
        if self._peeked is None:
            self._peeked = self._lex(self._skip_space(self._pos))
        return self._peeked[0]

    def next(self) -> Token:
        """Consume and return the next token (ordinary mode)."""
        self.peek()
        assert self._peeked is not None
        token, self._pos = self._peeked
        self._peeked = None
        return token

    def next_value(self) -> Token:
        """Consume a comparison value: a JSON string, or a bare word up to whitespace, ``)`` or ``]``.

        A bare word is returned as :attr:`TokenKind.WORD`; the parser decides whether it is
        ``true``/``false``/``null``, a number or a string. At ``)``, ``]`` or the end this returns
        that token unconsumed as a signal that the value is missing.
        """
        self._peeked = None
        start = self._skip_space(self._pos)
        if start < len(self._text) and self._text[start] == '"':
            token, self._pos = self._lex_string(start)
            return token
        match = _BARE_VALUE.match(self._text, start)
        if match is None:
            return self.peek()
        self._pos = match.end()
        return Token(TokenKind.WORD, match.group(), start, match.group())

    def fail(self, message: str) -> ScimError:
        """The error to raise for ``message`` (the caller raises it, so control flow stays visible)."""
        return self._error(message)

    def _skip_space(self, pos: int) -> int:
        match = _SPACE.match(self._text, pos)
        return pos if match is None else match.end()

    def _lex(self, start: int) -> tuple[Token, int]:
        text = self._text
        if start >= len(text):
            return Token(TokenKind.EOF, "", start, ""), start
        char = text[start]
        kind = _PUNCTUATION.get(char)
        if kind is not None:
            return Token(kind, char, start, char), start + 1
        if char == '"':
            return self._lex_string(start)
        match = _WORD.match(text, start)
        assert match is not None  # every other character starts a word
        return Token(TokenKind.WORD, match.group(), start, match.group()), match.end()

    def _lex_string(self, start: int) -> tuple[Token, int]:
        """Decode the JSON string (RFC 8259 §7) that opens at ``start``."""
        text = self._text
        end = len(text)
        parts: list[str] = []
        pos = start + 1
        while True:
            match = _STRING_CHUNK.match(text, pos)
            assert match is not None  # the pattern accepts the empty string
            parts.append(match.group())
            pos = match.end()
            if pos >= end:
                raise self.fail(f"unterminated string starting at position {start}")
            if text[pos] == '"':
                pos += 1
                return Token(TokenKind.STRING, text[start:pos], start, "".join(parts)), pos
            # A backslash.
            if pos + 1 >= end:
                raise self.fail(f"unterminated string starting at position {start}")
            escape = text[pos + 1]
            if escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                pos += 2
            elif escape == "u":
                char, pos = self._lex_unicode_escape(pos)
                parts.append(char)
            else:
                raise self.fail(f"invalid escape '\\{escape}' in string at position {pos}")

    def _lex_unicode_escape(self, pos: int) -> tuple[str, int]:
        """Decode ``\\uXXXX`` at ``pos``, joining a UTF-16 surrogate pair into one character."""
        code = self._hex4(pos)
        if 0xDC00 <= code <= 0xDFFF:
            raise self.fail(f"unpaired surrogate in string escape at position {pos}")
        if 0xD800 <= code <= 0xDBFF:
            low_pos = pos + 6
            if self._text[low_pos : low_pos + 2] != "\\u":
                raise self.fail(f"unpaired surrogate in string escape at position {pos}")
            low = self._hex4(low_pos)
            if not 0xDC00 <= low <= 0xDFFF:
                raise self.fail(f"unpaired surrogate in string escape at position {pos}")
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), low_pos + 6
        return chr(code), pos + 6

    def _hex4(self, pos: int) -> int:
        digits = self._text[pos + 2 : pos + 6]
        # int(..., 16) alone would accept non-ASCII digits and underscores.
        if len(digits) != 4 or not _HEX.issuperset(digits):
            raise self.fail(f"invalid \\u escape in string at position {pos}")
        return int(digits, 16)


def tokenize(text: str, *, error: type[ScimError] = InvalidFilterError) -> list[Token]:
    """All tokens of ``text`` in ordinary mode, ending with an EOF token (for tests and tooling)."""
    lexer = Lexer(text, error=error)
    tokens = [lexer.next()]
    while tokens[-1].kind is not TokenKind.EOF:
        tokens.append(lexer.next())
    return tokens
