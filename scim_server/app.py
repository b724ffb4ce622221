"""``create_app``: the one place that wires settings, store and services together.

The wiring here is framework-free: :func:`open_components` opens the store and builds the services;
:func:`scim_server.api.application.build_application` turns them into the web application.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from scim_server.api.application import Application, build_application
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


@dataclass(frozen=True, slots=True)
class Components:
    """The wired services of one process."""

    tokens: TokenService
    users: ResourceService
    groups: GroupService
    ready: Callable[[], Awaitable[None]]


@asynccontextmanager
async def open_components(
    settings: Settings, *, db: Any = None, announce: Callable[[str], None]
) -> AsyncIterator[Components]:
    """Open the store (or use ``db``), build the services, load the tokens; close it all at the end."""
    client = None
    database = db
    if database is None:
        client, database = connect(
            settings.mongodb_uri,
            settings.database,
            server_selection_timeout_seconds=settings.server_selection_timeout_seconds,
        )
    try:
        await ping(database)
        store = Store(database)
        tokens = TokenService(TokenRepository(database), cache_seconds=settings.token_cache_seconds)
        audit = AuditTrail(AuditStore(database))
        users = ResourceService(USER_RESOURCE_TYPE, store.users, store.memberships, settings, audit=audit)
        groups = GroupService(GROUP_RESOURCE_TYPE, store.groups, store.memberships, settings, audit=audit)
        if settings.embedded and db is None:
            announce(
                "scim-server: using the EMBEDDED in-memory store (mongomock-motor). All data is lost when "
                "the process exits. Set SCIM_MONGODB_URI to use MongoDB."
            )
        if settings.bootstrap_tokens:
            orgs = await tokens.bootstrap(settings.bootstrap_tokens)
            logger.info("loaded bootstrap tokens for %d organization(s)", len(set(orgs)))
        elif settings.embedded and db is None:
            _, token = await tokens.create(DEMO_ORG, name="demo")
            announce(f"scim-server: demo organization {DEMO_ORG!r}, bearer token (shown once): {token}")

        async def ready() -> None:
            await ping(database)

        # The last flush of tokens' last-used times happens before the store is closed.
        async with tokens.flushing_last_used(settings.token_last_used_flush_seconds):
            yield Components(tokens, users, groups, ready)
    finally:
        if client is not None:
            await close(client)


def create_app(
    settings: Settings,
    *,
    db: Any = None,
    announce: Callable[[str], None] | None = None,
) -> Application:
    """Build the application. ``db`` injects a database (tests); otherwise one is opened at startup.

    ``announce`` receives the startup messages meant for the operator's console (the embedded-store
    warning and the demo token); it defaults to standard error.
    """
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))
    return build_application(settings, lambda: open_components(settings, db=db, announce=say))
