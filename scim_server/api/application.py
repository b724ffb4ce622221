"""The aiohttp application: the middleware, limits, routes and OpenAPI around the wired components.

``scim_server.app`` wires settings, store and services (no web framework there); this module is the
only place that turns them into a ``web.Application``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import aiohttp
from aiohttp import web

from scim_server.api.keys import (
    EVENTS,
    GROUPS,
    METRICS,
    ORGANIZATIONS,
    RATE_LIMITER,
    READY,
    RENDERED,
    SETTINGS,
    TOKENS,
    USERS,
)
from scim_server.api.metrics import Metrics
from scim_server.api.middleware import request_middleware
from scim_server.api.openapi import setup_openapi
from scim_server.api.ratelimit import RateLimiter
from scim_server.api.rendered import RenderedCache
from scim_server.api.routes import setup_routes
from scim_server.api.timing import add_server_timing
from scim_server.api.webhooks import HttpSender
from scim_server.services.events import EventFeed
from scim_server.services.organizations import OrganizationsRegistry
from scim_server.services.resources import ResourceService
from scim_server.services.retention import DeletedPurge
from scim_server.services.tokens import TokenService
from scim_server.services.webhooks import Observer, Sender, WebhookDispatcher
from scim_server.settings import Settings

Application = web.Application
logger = logging.getLogger("scim_server")

# How often each process removes events, and soft-deleted resources, past their retention (a bounded
# batch per organization).
PURGE_INTERVAL_SECONDS = 3600.0
# How long after its start a process makes its first purge pass: a pass touches every organization's
# collections, which should not compete with the first requests of a process just started (or of
# every worker at once), and a server stopped sooner has nothing of it to interrupt.
PURGE_DELAY_SECONDS = 60.0

SERVER_HEADER = "scim-server"


async def name_server(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: ``Server: scim-server``, without aiohttp's and Python's versions,
    which would tell a scanner which known flaws to try (RFC 9110 §10.2.4 advises against detail)."""
    response.headers["Server"] = SERVER_HEADER


class Components(Protocol):
    """What the web layer needs from the wiring: the services and a readiness check."""

    @property
    def tokens(self) -> TokenService: ...
    @property
    def users(self) -> ResourceService: ...
    @property
    def groups(self) -> ResourceService: ...
    @property
    def ready(self) -> Callable[[], Awaitable[None]]: ...
    @property
    def organizations(self) -> OrganizationsRegistry: ...
    @property
    def events(self) -> EventFeed: ...
    @property
    def deleted(self) -> DeletedPurge: ...
    @property
    def webhooks(self) -> Callable[[Sender, Observer], WebhookDispatcher]: ...


def build_application(
    settings: Settings, components: Callable[[], AbstractAsyncContextManager[Components]]
) -> web.Application:
    """The application; ``components`` is entered at startup and left at shutdown."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # A filter may be sent in the URL: let request lines be as long as a body may be, so that an
        # over-long one reaches the app and gets a SCIM error rather than aiohttp's plain-text 400.
        handler_args={"max_line_size": max(8190, settings.max_body_bytes)},
        middlewares=[request_middleware],
    )
    app[SETTINGS] = settings
    # Series by organization only behind the metrics token: the ids would list every customer.
    app[METRICS] = Metrics(per_organization=bool(settings.metrics_token))
    app[RENDERED] = RenderedCache(settings.render_cache_entries, settings.render_cache_seconds)
    if settings.rate_limit_per_second > 0:
        app[RATE_LIMITER] = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with components() as wired:
            app[TOKENS] = wired.tokens
            app[USERS] = wired.users
            app[GROUPS] = wired.groups
            app[READY] = wired.ready
            app[ORGANIZATIONS] = wired.organizations
            app[EVENTS] = wired.events
            async with aiohttp.ClientSession() as session:
                dispatcher = wired.webhooks(HttpSender(session), app[METRICS].observe_webhook)
                background = [
                    asyncio.create_task(dispatcher.run(settings.webhook_poll_seconds)),
                    asyncio.create_task(_purge(wired.events.purge, "change events")),
                    asyncio.create_task(_purge(wired.deleted.purge, "soft-deleted resources")),
                ]
                try:
                    yield
                finally:
                    for task in background:
                        task.cancel()
                    for task in background:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(add_server_timing)
    app.on_response_prepare.append(name_server)
    setup_routes(app)
    setup_openapi(app)
    return app


async def _purge(purge: Callable[[], Awaitable[int]], what: str) -> None:
    """Remove ``what`` past its retention ``PURGE_DELAY_SECONDS`` after the start, then every
    ``PURGE_INTERVAL_SECONDS``."""
    await asyncio.sleep(PURGE_DELAY_SECONDS)
    while True:
        try:
            removed = await purge()
            if removed:
                logger.info("removed %d %s past their retention", removed, what)
        except Exception:
            logger.exception("purging expired %s failed; retrying in the next pass", what)
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
