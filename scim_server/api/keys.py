"""Typed application and request keys: the only way process-wide and per-request objects are shared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from scim_server.api.metrics import Metrics
from scim_server.api.ratelimit import RateLimiter
from scim_server.api.rendered import RenderedCache
from scim_server.services.events import EventFeed
from scim_server.services.organizations import OrganizationsRegistry
from scim_server.services.resources import ResourceService
from scim_server.services.tokens import Principal, TokenService
from scim_server.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
TOKENS = web.AppKey("tokens", TokenService)
USERS = web.AppKey("users", ResourceService)
GROUPS = web.AppKey("groups", ResourceService)
# Pings the store; raises ServiceUnavailableError when it does not answer (/readyz).
READY: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("ready")
METRICS = web.AppKey("metrics", Metrics)
# Absent when rate limiting is off (rate_limit_per_second = 0).
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)

# Every organization's configuration (the organizations file), reloaded on SIGHUP.
ORGANIZATIONS = web.AppKey("organizations", OrganizationsRegistry)
# The change-event feed (GET /scim/v2/events).
EVENTS = web.AppKey("events", EventFeed)

# Serialized resources for reads, keyed by version (api/rendered.py).
RENDERED = web.AppKey("rendered", RenderedCache)

PRINCIPAL = web.RequestKey("principal", Principal)
# The Server-Timing value of a request that reached its handler (api/timing.py).
SERVER_TIMING_VALUE = web.RequestKey("server_timing", str)
