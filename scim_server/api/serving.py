"""Running one server process (aiohttp's runner, with graceful shutdown)."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable

from aiohttp import web, web_response

from scim_server.api.application import SERVER_HEADER
from scim_server.api.keys import ORGANIZATIONS


def serve(
    app: web.Application,
    *,
    sock: socket.socket,
    shutdown_timeout: float,
    ready: Callable[[], None] | None = None,
    listening: Callable[[], None] | None = None,
) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT, then finish in-flight requests for up to
    ``shutdown_timeout`` s.

    The caller binds ``sock``, so that a port in use is reported before the application starts (and
    before it prints a demo token). ``ready`` is called once the application has started (the database
    answered, tokens are loaded), ``listening`` once the server accepts connections on ``sock``.
    aiohttp's own access log is off: it prints raw paths and query strings, which can hold email
    addresses; the access-log middleware logs route templates instead.

    The application names itself in ``Server`` on its own responses; aiohttp's answers to requests
    too malformed to reach it (a garbage request line, an over-long header) would still carry
    aiohttp's and Python's versions, so this process's fallback value is replaced too.

    SIGHUP reloads the organizations file (``OrganizationsRegistry.reload``; an invalid file keeps the
    previous configuration and is logged).
    """
    setattr(web_response, "SERVER_SOFTWARE", SERVER_HEADER)  # noqa: B010 (aiohttp does not re-export it)

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
    # run_app calls ``print`` once, right after its sites started accepting connections; its own text
    # (a banner) is replaced by the caller's message.
    on_listening = None if listening is None else _ignoring_text(listening)
    try:
        web.run_app(
            app,
            sock=sock,
            print=on_listening,
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


def _ignoring_text(callback: Callable[[], None]) -> Callable[..., None]:
    def call(*_args: object, **_kwargs: object) -> None:
        callback()

    return call


# What asyncio raises when the loop is stopped inside run_until_complete before its future is done.
_LOOP_STOPPED_EARLY = "Event loop stopped before Future completed."
