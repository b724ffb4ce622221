"""``create_app``: the one place that wires settings, store and services together.

The wiring here is framework-free: :func:`open_components` opens the store and builds the services;
:func:`scim_server.api.application.build_application` turns them into the web application.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scim_server.api.application import Application, build_application
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE
from scim_server.services.audit import AuditTrail
from scim_server.services.cursors import Cursors, cursor_secret
from scim_server.services.events import EventFeed
from scim_server.services.groups import GroupService
from scim_server.services.organizations import OrganizationsRegistry
from scim_server.services.resources import ResourceService
from scim_server.services.retention import DeletedPurge
from scim_server.services.tokens import TokenService, new_token_secret
from scim_server.services.webhooks import Observer, Sender, WebhookDispatcher
from scim_server.settings import Settings
from scim_server.storage.audit import AuditStore, DeliveryStateStore
from scim_server.storage.client import close, connect, ping
from scim_server.storage.repository import Store
from scim_server.storage.secrets import shared_secret
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
    organizations: OrganizationsRegistry
    events: EventFeed
    # Removes soft-deleted resources past their organization's retention (run in the background).
    deleted: DeletedPurge
    # Builds the webhook dispatcher from the web layer's HTTP sender and metrics observer.
    webhooks: Callable[[Sender, Observer], WebhookDispatcher]


def load_organizations_registry(settings: Settings) -> OrganizationsRegistry:
    """The organizations file's configuration (``OrganizationsError`` naming the key when invalid)."""
    return OrganizationsRegistry(Path(settings.organizations_file) if settings.organizations_file else None)


class DemoTokenFileError(Exception):
    """The demo token file cannot be read or written, or holds no usable token; the message says which."""


# A token the file may hold: visible ASCII (it travels in an HTTP header), at least 8 characters.
_USABLE_TOKEN = re.compile(r"[!-~]{8,}")


def kept_demo_token(file: str) -> tuple[Path, str, bool]:
    """The demo token kept in ``file``, or a new one written there with mode 0600: the file's absolute
    path, the token, and whether it is new (a startup step, so the file I/O blocks briefly).

    The file is created exclusively (``O_EXCL``) and never widened, so the secret is readable by its
    owner only; the token itself is never logged.
    """
    path = Path(file).expanduser().resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as error:
        raise DemoTokenFileError(f"cannot read the demo token file {path}: {_reason(error)}") from None
    else:
        token = text.strip()
        if not _USABLE_TOKEN.fullmatch(token):
            raise DemoTokenFileError(
                f"the demo token file {path} must hold one token of at least 8 visible ASCII characters"
            )
        return path, token, False
    token = new_token_secret()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(token + "\n")
    except OSError as error:
        raise DemoTokenFileError(f"cannot write the demo token file {path}: {_reason(error)}") from None
    return path, token, True


def _reason(error: Exception) -> str:
    return error.strerror or str(error) if isinstance(error, OSError) else str(error)


@asynccontextmanager
async def open_components(
    settings: Settings, *, db: Any = None, announce: Callable[[str], None]
) -> AsyncIterator[Components]:
    """Open the store (or use ``db``), build the services, load the tokens; close it all at the end.

    The organizations file is read first: an invalid one stops startup before the store is opened.
    """
    organizations = load_organizations_registry(settings)
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
        store = Store(database, organizations.resource_types)
        tokens = TokenService(TokenRepository(database), cache_seconds=settings.token_cache_seconds)
        audit_store = AuditStore(database)
        audit = AuditTrail(audit_store)
        events = EventFeed(
            audit_store,
            retention_days=settings.event_retention_days,
            gap_grace_seconds=settings.event_gap_grace_seconds,
        )
        deliveries = DeliveryStateStore(database)

        def webhooks(send: Sender, observe: Observer) -> WebhookDispatcher:
            return WebhookDispatcher(
                deliveries,
                events,
                organizations,
                send,
                retry_hours=settings.webhook_retry_hours,
                backoff_seconds=settings.webhook_backoff_seconds,
                timeout_seconds=settings.webhook_timeout_seconds,
                observe=observe,
            )

        # One secret for every worker's cursors: the setting's, or one stored once in the database.
        cursors = Cursors(cursor_secret(settings, functools.partial(shared_secret, database, "cursor")))
        # The services read each organization's configuration per request, so a reload applies.
        types = organizations.resource_types
        users = ResourceService(
            USER_RESOURCE_TYPE,
            store.users,
            store.memberships,
            settings,
            audit=audit,
            organizations=organizations,
            resource_types=types.user,
            cursors=cursors,
        )
        groups = GroupService(
            GROUP_RESOURCE_TYPE,
            store.groups,
            store.memberships,
            settings,
            audit=audit,
            organizations=organizations,
            resource_types=types.group,
            cursors=cursors,
        )
        deleted = DeletedPurge((users, groups), store.organizations, organizations)
        if settings.embedded and db is None:
            announce(
                "scim-server: using the EMBEDDED in-memory store (mongomock-motor). All data is lost when "
                "the process exits. Set SCIM_MONGODB_URI to use MongoDB."
            )
        if settings.bootstrap_tokens:
            orgs = await tokens.bootstrap(settings.bootstrap_tokens)
            logger.info("loaded bootstrap tokens for %d organization(s)", len(set(orgs)))
        elif settings.embedded and db is None:
            if settings.demo_token_file:
                path, secret, made = kept_demo_token(settings.demo_token_file)
                await tokens.create(DEMO_ORG, name="demo", secret=secret)
                how = "written there now" if made else "kept from an earlier start"
                announce(f"scim-server: demo organization {DEMO_ORG!r}, bearer token in {path} ({how})")
            else:
                _, token = await tokens.create(DEMO_ORG, name="demo")
                announce(f"scim-server: demo organization {DEMO_ORG!r}, bearer token (shown once): {token}")
        if settings.demo_token_file and (settings.bootstrap_tokens or not settings.embedded) and db is None:
            announce(
                "scim-server: demo_token_file is not used: it applies only to the embedded store "
                "without bootstrap tokens"
            )

        async def ready() -> None:
            await ping(database)

        # The last flush of tokens' last-used times happens before the store is closed.
        async with tokens.flushing_last_used(settings.token_last_used_flush_seconds):
            yield Components(tokens, users, groups, ready, organizations, events, deleted, webhooks)
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
    warning and the demo token, or the file that keeps it); it defaults to standard error.
    """
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))
    return build_application(settings, lambda: open_components(settings, db=db, announce=say))
