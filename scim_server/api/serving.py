"""Running one server process (aiohttp's runner, with graceful shutdown)."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from scim_server.api.keys import ORGANIZATIONS


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

    SIGHUP reloads the organizations file (``OrganizationsRegistry.reload``; an invalid file keeps the
    previous configuration and is logged).
    """

    async def reload_on_hangup(app: web.Application) -> None:
        registry = app.get(ORGANIZATIONS)
        if registry is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, registry.reload)

    app.on_startup.append(reload_on_hangup)
    if ready is not None:
        notify = ready

        async def started(_app: web.Application) -> None:
            notify()

        app.on_startup.append(started)
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            sock=sock,
            print=None,
            access_log=None,
            shutdown_timeout=shutdown_timeout,
        )
    except RuntimeError as error:
        # A stop signal that lands in the loop iteration in which the application's main task ends
        # (a worker told to stop just as its startup fails) escapes that iteration as aiohttp's
        # GracefulExit, before the task's done callback has run. That callback, which stops the loop,
        # then runs during run_app's last step (shutting down async generators, after the application
        # was cleaned up) and asyncio reports this. Nothing is left to do: the process was told to stop.
        if str(error) != _LOOP_STOPPED_EARLY:
            raise


# What asyncio raises when the loop is stopped inside run_until_complete before its future is done.
_LOOP_STOPPED_EARLY = "Event loop stopped before Future completed."
