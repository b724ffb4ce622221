"""Running one server process (aiohttp's runner, with graceful shutdown)."""

from __future__ import annotations

import socket
from collections.abc import Callable

from aiohttp import web


def serve(
    app: web.Application,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    shutdown_timeout: float,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, then finish in-flight requests for up to ``shutdown_timeout`` s.

    ``ready`` is called once the application has started (the database answered, tokens are loaded).
    aiohttp's own access log is off: it prints raw paths and query strings, which can hold email
    addresses; the access-log middleware logs route templates instead.
    """
    if ready is not None:
        notify = ready

        async def started(_app: web.Application) -> None:
            notify()

        app.on_startup.append(started)
    web.run_app(
        app,
        host=host,
        port=port,
        sock=sock,
        print=None,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
    )
