"""SCIM JSON responses (``application/scim+json``, RFC 7644 §3.1)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

SCIM_MEDIA_TYPE = "application/scim+json"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def scim_response(
    body: Mapping[str, Any] | None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        text=_dumps(body),
        status=status,
        headers=headers,
        content_type=SCIM_MEDIA_TYPE,
        charset="utf-8",
    )
