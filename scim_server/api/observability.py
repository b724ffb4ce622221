"""Operating the server: the access log, request ids, ``/readyz`` and ``/metrics``.

For every request, the server's middleware (``api/middleware.py``), through the functions here,

- takes the client's ``X-Request-Id`` when it is a short safe token (``[A-Za-z0-9._-]{1,64}``) or
  makes a new one, and echoes it in the response's ``X-Request-Id``;
- writes one line on the ``scim_server.access`` logger: request id, organization, token name, the
  IdP guessed from the ``User-Agent``, method, route template, status and latency. Never the raw path
  or query string (they carry ids and e-mail addresses), never a token, its hash or the
  ``Authorization`` header. Probe routes (``/healthz``, ``/readyz``, ``/metrics``) log at DEBUG;
- counts the request in the process's :class:`~scim_server.api.metrics.Metrics`.

The access line is written once the error handling has turned every failure into a response.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import re

from aiohttp import web

from scim_server.api.keys import METRICS, READY, SETTINGS
from scim_server.api.metrics import CONTENT_TYPE, UNMATCHED_ROUTE, Metrics
from scim_server.errors import ServiceUnavailableError, UnauthorizedError
from scim_server.logs import FIELDS
from scim_server.services.tokens import Principal

access_logger = logging.getLogger("scim_server.access")

REQUEST_ID_HEADER = "X-Request-Id"
READINESS_TIMEOUT_SECONDS = 2.0
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
CLIENT_CLOSED = 499  # the client went away before the response (nginx's convention)
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# (IdP, lower-case User-Agent fragments), first match wins. Okta sends "Okta SCIM Client 1.0.0";
# Entra ID's provisioning service is recognized by "Microsoft.Identity" or "Azure" (or "Entra").
_IDP_AGENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("okta", ("okta",)),
    ("entra", ("microsoft.identity", "azure", "entra")),
    ("onelogin", ("onelogin",)),
    ("ping", ("pingfederate", "pingone", "ping identity")),
    ("jumpcloud", ("jumpcloud",)),
    ("google", ("google",)),
)


def guess_idp(user_agent: str | None) -> str:
    """The identity provider a ``User-Agent`` belongs to, or ``unknown``."""
    agent = (user_agent or "").lower()
    for idp, fragments in _IDP_AGENTS:
        if any(fragment in agent for fragment in fragments):
            return idp
    return "unknown"


def request_id_from(header: str | None) -> str:
    """The client's request id when it is a short safe token, else a new random one."""
    if header is not None and _SAFE_REQUEST_ID.fullmatch(header):
        return header
    # 128 bits as 32 hex digits, uuid4().hex's shape. An id needs to be unique, not secret: Python's
    # generator (seeded from the OS, and reseeded in a forked worker) costs a request less than a
    # system call for OS randomness; it reveals nothing of other requests, as a counter would.
    return f"{random.getrandbits(128):032x}"


def route_template(request: web.Request) -> str | None:
    """The matched route's template (``/scim/v2/Users/{id}``), None for an unmatched request."""
    resource = request.match_info.route.resource
    return None if resource is None else resource.canonical


def log_request(
    request: web.Request,
    metrics: Metrics | None,
    principal: Principal | None,
    request_id: str,
    status: int,
    seconds: float,
) -> None:
    """The access line and the metrics of one answered request (``metrics``: the application's;
    ``principal``: who authenticated it, if anyone did)."""
    route = route_template(request)
    org_id = None if principal is None else principal.org_id
    if metrics is not None:
        metrics.observe_request(route, request.method, status, seconds, org_id)
    route_text = route or UNMATCHED_ROUTE
    level = logging.DEBUG if route in PROBE_ROUTES else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    fields = {
        "request_id": request_id,
        "org": org_id,
        "token_name": None if principal is None else principal.token_name,
        "idp": guess_idp(request.headers.get("User-Agent")),
        "method": request.method,
        "route": route_text,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    access_logger.log(level, "%s %s %d", request.method, route_text, status, extra={FIELDS: fields})


async def readyz(request: web.Request) -> web.StreamResponse:
    """200 when the database answers a ping within a short timeout, else a 503 SCIM error.

    It pings on every call, so it turns ready again as soon as the driver reconnects.
    """
    try:
        await asyncio.wait_for(request.app[READY](), READINESS_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ServiceUnavailableError("the database did not answer in time") from None
    return web.json_response({"status": "ready"})


async def get_metrics(request: web.Request) -> web.StreamResponse:
    """The Prometheus exposition; with the ``metrics_token`` setting, only for that bearer token."""
    expected = request.app[SETTINGS].metrics_token
    if expected:
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise UnauthorizedError("/metrics needs the metrics bearer token")
    body = request.app[METRICS].render().encode("utf-8")
    # Set whole: web.Response(content_type=...) does not accept the version parameter.
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
