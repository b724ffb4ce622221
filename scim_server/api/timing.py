"""``Server-Timing`` on every handler's response: storage time and the server's own time.

``Server-Timing: db;dur=<ms>, app;dur=<ms>`` (W3C Server Timing): ``db`` is the time spent awaiting
storage calls during the request (:mod:`scim_server.timing`), ``app`` the rest of the
handler's time: parsing, compiling, rendering and serializing. The middleware sits innermost, after
authentication, so it times the handler; the bench (``scripts/bench``) reads the header.

A SCIM error raised by the handler is rendered here with the error middleware's own renderer, so
4xx answers carry the header too; anything else (aiohttp's 404/405, unexpected exceptions) passes on
to the error middleware untouched.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler

from scim_server.api.middleware import render_error
from scim_server.errors import ScimError
from scim_server.timing import measure

SERVER_TIMING = "Server-Timing"


def server_timing(total_seconds: float, db_seconds: float) -> str:
    """The header value: ``db`` and ``app`` (total minus db) in milliseconds."""
    app_seconds = max(0.0, total_seconds - db_seconds)
    return f"db;dur={db_seconds * 1000:.3f}, app;dur={app_seconds * 1000:.3f}"


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    start = time.perf_counter()
    with measure() as storage:
        try:
            response = await handler(request)
        except ScimError as error:
            response = render_error(error)
    if not response.prepared:
        response.headers[SERVER_TIMING] = server_timing(time.perf_counter() - start, storage.seconds)
    return response
