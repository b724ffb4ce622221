"""Reading request bodies strictly: media type, size, UTF-8, JSON without NaN or duplicate keys, depth,
and no unpaired surrogate escapes.

Anything wrong becomes a SCIM error here, before a handler sees the body.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from scim_server.errors import InvalidSyntaxError, PayloadTooLargeError, UnsupportedMediaTypeError

ACCEPTED_MEDIA_TYPES = frozenset({"application/scim+json", "application/json"})
_ACCEPTED_HEADERS = frozenset(
    {*ACCEPTED_MEDIA_TYPES, *(f"{media_type}; charset=utf-8" for media_type in ACCEPTED_MEDIA_TYPES)}
)
MAX_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise InvalidSyntaxError(f"{name} is not a valid JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidSyntaxError(f"duplicate key {key!r} in JSON object")
            seen.add(key)
    return out


# Built once: json.loads with options builds a decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSyntaxError("the request body is not valid UTF-8") from None
    if _too_deep_text(text):
        raise InvalidSyntaxError(f"the request body is nested deeper than {MAX_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidSyntaxError("the request body is not valid JSON") from None
    except ValueError:
        # Python refuses integers of more than 4300 digits (CVE-2020-10735) with a plain ValueError.
        raise InvalidSyntaxError("the request body has a number too long to read") from None
    if _SURROGATE_ESCAPE.search(text) is not None and not _is_unicode(value):
        raise InvalidSyntaxError("the request body has a string with an unpaired surrogate escape")
    return value


# A lone surrogate can only come from a \uD800-\uDFFF escape (raw UTF-8 cannot hold one), so the
# walk of the parsed value is needed only when the text has such an escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _is_unicode(value: Any) -> bool:
    """False when a string (key or value) holds a lone surrogate such as ``"\\ud800"``.

    JSON lets ``\\u`` escapes name half a surrogate pair, and json.loads keeps it; such a string
    cannot be encoded as UTF-8, so it could neither be stored in BSON nor sent back in a response.
    The depth check has already bounded the nesting, so this recursion is shallow.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_is_unicode(k) and _is_unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_unicode(item) for item in value)
    return True


# A JSON string (escapes included), and a run of characters that are not brackets.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def _too_deep_text(text: str) -> bool:
    """Nesting depth checked on the text, so json.loads never recurses on absurdly nested input.

    A body with no more brackets than the limit cannot nest deeper (the usual case: no scan). Else
    strings and everything but brackets are dropped by regular expressions, and only the brackets
    are walked.
    """
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return False
    depth = 0
    for char in _NOT_BRACKETS.sub("", _STRING.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """The request's JSON body, or a SCIM error (415, 413, 400 invalidSyntax)."""
    # The header as IdPs send it is recognized as it is; anything else is parsed (parameters, case).
    if (
        request.headers.get("Content-Type") not in _ACCEPTED_HEADERS
        and request.content_type not in ACCEPTED_MEDIA_TYPES
    ):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/scim+json or application/json, not {request.content_type!r}"
        )
    content = request.content
    if content.is_eof():
        # The whole body has arrived (an IdP's usual request comes in one packet): take it as it lies
        # in the buffer instead of through read()'s loop of awaited chunks. This is the only reader.
        raw = content.read_nowait()
        if len(raw) > max_bytes:
            raise PayloadTooLargeError(f"the request body exceeds {max_bytes} bytes")
    else:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise PayloadTooLargeError(f"the request body exceeds {max_bytes} bytes") from None
    if not raw.strip():
        raise InvalidSyntaxError("the request body is empty")
    return parse_json(raw)
