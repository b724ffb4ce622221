"""``Server-Timing`` on every handler's response: storage time and the server's own time.

``Server-Timing: db;dur=<ms>, app;dur=<ms>`` (W3C Server Timing): ``db`` is the time spent awaiting
storage calls during the request (:mod:`scim_server.timing`), ``app`` the rest of the server's time
for it: request ids and the access log, authentication and rate limiting, error rendering, and the
handler's parsing, compiling, rendering and serializing. The server's middleware (``api/middleware.py``)
starts the clock before anything else and stops it after everything else, so all the server's own
code is in one of the two figures; only aiohttp's reading of the request line and headers and its
writing of the response to the socket are outside them. The bench (``scripts/bench``) reads the header.

The middleware only records the value (in the request, formatted by :func:`server_timing`); the
header is added when the response is prepared (``add_server_timing``, an ``on_response_prepare``
hook), so it lands on every response, the SCIM errors included (401s and aiohttp's 404/405).
"""

from __future__ import annotations

from aiohttp import web

from scim_server.api.keys import SERVER_TIMING_VALUE

SERVER_TIMING = "Server-Timing"


def server_timing(total_seconds: float, db_seconds: float) -> str:
    """The header value: ``db`` and ``app`` (total minus db) in milliseconds."""
    app_seconds = max(0.0, total_seconds - db_seconds)
    return f"db;dur={db_seconds * 1000:.3f}, app;dur={app_seconds * 1000:.3f}"


async def add_server_timing(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the header for a request whose timing the middleware has recorded."""
    value = request.get(SERVER_TIMING_VALUE)
    if value is not None:
        response.headers[SERVER_TIMING] = value
