"""``GET /scim/v2/events``: an organization's change events after a cursor (services/events.py).

The feed sits under the SCIM base path, so the organization's bearer token authenticates it like any
SCIM request; read-only tokens may read it. It is not a SCIM resource endpoint: the answer is
``{"events": [...], "next": "<cursor>"}``, not a ListResponse.
"""

from __future__ import annotations

from aiohttp import web

from scim_server.api.keys import EVENTS, PRINCIPAL, SETTINGS
from scim_server.api.responses import scim_response
from scim_server.errors import InvalidValueError


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidValueError(f"'limit' must be a whole number from 1 to {maximum}")
    return int(raw)


async def list_events(request: web.Request) -> web.StreamResponse:
    """Up to ``limit`` events after the ``after`` cursor, in commit order, and the next cursor."""
    settings = request.app[SETTINGS]
    limit = _limit(request.query.get("limit"), settings.default_page_size, settings.max_page_size)
    after = request.query.get("after") or None
    page = await request.app[EVENTS].page(request[PRINCIPAL].org_id, after, limit)
    return scim_response({"events": page.events, "next": page.next})
