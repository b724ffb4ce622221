"""SCIM JSON responses (``application/scim+json``, RFC 7644 §3.1)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

SCIM_MEDIA_TYPE = "application/scim+json"


# Response bodies are trees built by the server, never cyclic, so the cycle check is skipped.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def dumps(value: Any) -> bytes:
    """UTF-8 JSON: orjson, for speed; the stdlib encoder for what orjson refuses (integers beyond
    64 bits, non-string keys), so every body the server built still goes out."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _ENCODER.encode(value).encode("utf-8")


def scim_response(
    body: Mapping[str, Any] | None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        body=dumps(body),
        status=status,
        headers=headers,
        content_type=SCIM_MEDIA_TYPE,
        charset="utf-8",
    )


def scim_json_response(
    body: bytes, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A response whose JSON body is already serialized (see ``api/rendered.py``)."""
    return web.Response(
        body=body, status=status, headers=headers, content_type=SCIM_MEDIA_TYPE, charset="utf-8"
    )
