"""``create_app``: the one place that wires settings, store, services and routes together."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from scim_server.api.keys import (
    CLIENT,
    DATABASE,
    GROUPS,
    METRICS,
    RATE_LIMITER,
    SETTINGS,
    STORE,
    TOKENS,
    USERS,
)
from scim_server.api.metrics import Metrics
from scim_server.api.middleware import auth_middleware, error_middleware
from scim_server.api.observability import access_log_middleware
from scim_server.api.openapi import setup_openapi
from scim_server.api.ratelimit import RateLimiter
from scim_server.api.routes import setup_routes
from scim_server.api.timing import timing_middleware
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE
from scim_server.services.audit import AuditTrail
from scim_server.services.groups import GroupService
from scim_server.services.resources import ResourceService
from scim_server.services.tokens import TokenService
from scim_server.settings import Settings
from scim_server.storage.audit import AuditStore
from scim_server.storage.client import close, connect, ping
from scim_server.storage.repository import Store
from scim_server.storage.tokens import TokenRepository

logger = logging.getLogger("scim_server")

DEMO_ORG = "demo"


def create_app(
    settings: Settings,
    *,
    db: Any = None,
    announce: Callable[[str], None] | None = None,
) -> web.Application:
    """Build the application. ``db`` injects a database (tests); otherwise one is opened at startup.

    ``announce`` receives the startup messages meant for the operator's console (the embedded-store
    warning and the demo token); it defaults to standard error.
    """
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # A filter may be sent in the URL: let request lines be as long as a body may be, so that an
        # over-long one reaches the app and gets a SCIM error rather than aiohttp's plain-text 400.
        handler_args={"max_line_size": max(8190, settings.max_body_bytes)},
        middlewares=[access_log_middleware, error_middleware, auth_middleware, timing_middleware],
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    if settings.rate_limit_per_second > 0:
        app[RATE_LIMITER] = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        client = None
        database = db
        if database is None:
            client, database = connect(settings.mongodb_uri, settings.database)
            app[CLIENT] = client
        try:
            await ping(database)
        except BaseException:
            if client is not None:
                close(client)
            raise
        app[DATABASE] = database
        store = Store(database)
        app[STORE] = store
        tokens = TokenService(TokenRepository(database), cache_seconds=settings.token_cache_seconds)
        app[TOKENS] = tokens
        audit = AuditTrail(AuditStore(database))
        app[USERS] = ResourceService(
            USER_RESOURCE_TYPE, store.users, store.memberships, settings, audit=audit
        )
        app[GROUPS] = GroupService(
            GROUP_RESOURCE_TYPE, store.groups, store.memberships, settings, audit=audit
        )
        if settings.embedded and db is None:
            say(
                "scim-server: using the EMBEDDED in-memory store (mongomock-motor). All data is lost when "
                "the process exits. Set SCIM_MONGODB_URI to use MongoDB."
            )
        if settings.bootstrap_tokens:
            orgs = await tokens.bootstrap(settings.bootstrap_tokens)
            logger.info("loaded bootstrap tokens for %d organization(s)", len(set(orgs)))
        elif settings.embedded and db is None:
            _, token = await tokens.create(DEMO_ORG, name="demo")
            say(f"scim-server: demo organization {DEMO_ORG!r}, bearer token (shown once): {token}")
        yield
        if client is not None:
            close(client)

    async def token_last_used_ctx(app: web.Application) -> AsyncIterator[None]:
        # Runs inside store_ctx: the last flush happens before the store is closed.
        async with app[TOKENS].flushing_last_used(settings.token_last_used_flush_seconds):
            yield

    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(token_last_used_ctx)
    setup_routes(app)
    setup_openapi(app)
    return app
