"""Reading request bodies strictly: media type, size, UTF-8, JSON without NaN or duplicate keys, depth.

Anything wrong becomes a SCIM error here, before a handler sees the body.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from scim_server.errors import InvalidSyntaxError, PayloadTooLargeError, UnsupportedMediaTypeError

ACCEPTED_MEDIA_TYPES = frozenset({"application/scim+json", "application/json"})
MAX_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise InvalidSyntaxError(f"{name} is not a valid JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidSyntaxError(f"duplicate key {key!r} in JSON object")
        out[key] = value
    return out


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSyntaxError("the request body is not valid UTF-8") from None
    if _too_deep_text(text):
        raise InvalidSyntaxError(f"the request body is nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidSyntaxError("the request body is not valid JSON") from None
    return value


def _too_deep_text(text: str) -> bool:
    """Nesting depth checked on the text, so json.loads never recurses on absurdly nested input."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """The request's JSON body, or a SCIM error (415, 413, 400 invalidSyntax)."""
    if request.content_type not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/scim+json or application/json, not {request.content_type!r}"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError(f"the request body exceeds {max_bytes} bytes") from None
    if not raw.strip():
        raise InvalidSyntaxError("the request body is empty")
    return parse_json(raw)
