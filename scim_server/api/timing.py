"""``Server-Timing`` on every handler's response: storage time and the server's own time.

``Server-Timing: db;dur=<ms>, app;dur=<ms>`` (W3C Server Timing): ``db`` is the time spent awaiting
storage calls during the request (:mod:`scim_server.timing`), ``app`` the rest of the
handler's time: parsing, compiling, rendering and serializing. The middleware sits innermost, after
authentication, so it times the handler; the bench (``scripts/bench``) reads the header.

The middleware only records the figures (in the request); the header is added when the response is
prepared (``add_server_timing``, an ``on_response_prepare`` hook), so it also lands on the SCIM errors
the one error middleware renders for failures inside the handler. Requests that never reach the
handler (401s, aiohttp's 404/405) carry no header.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler

from scim_server.api.keys import SERVER_TIMING_VALUE
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
            return await handler(request)
        finally:
            request[SERVER_TIMING_VALUE] = server_timing(time.perf_counter() - start, storage.seconds)


async def add_server_timing(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the header for a request that went through the timing middleware."""
    value = request.get(SERVER_TIMING_VALUE)
    if value is not None:
        response.headers[SERVER_TIMING] = value
