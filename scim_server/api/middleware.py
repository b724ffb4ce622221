"""The server's one middleware: timing, request id and access log, errors, authentication.

Every request passes through ``request_middleware``, which does, from the outside in:

1. **Timing** (:mod:`scim_server.api.timing`): the ``Server-Timing`` figures cover all that follows.
2. **Request id and access log** (:mod:`scim_server.api.observability`): the request's id is set for
   the logs and echoed in ``X-Request-Id``; one access line and the metrics are written at the end.
3. **Errors**: every error the server answers, its own or aiohttp's (unknown route, wrong method,
   oversized body), leaves as an RFC 7644 §3.12 body. Unexpected exceptions are logged with their
   traceback and answered with a generic 500: internals never reach the client.
4. **Authentication** of every request under /scim/v2, then the per-organization rate limit once the
   organization is known (unauthenticated requests are never counted against an organization), then
   the read-only check.

These are one coroutine, not four middlewares, because aiohttp calls each middleware through a
partial and a coroutine of its own on every request.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from scim_server.api.keys import METRICS, PRINCIPAL, RATE_LIMITER, SERVER_TIMING_VALUE, TOKENS
from scim_server.api.observability import CLIENT_CLOSED, REQUEST_ID_HEADER, log_request, request_id_from
from scim_server.api.responses import scim_response
from scim_server.api.timing import server_timing
from scim_server.errors import (
    ForbiddenError,
    InternalServerError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ScimError,
    TooManyRequestsError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from scim_server.logs import current_request_id
from scim_server.services.tokens import Principal
from scim_server.timing import measure

logger = logging.getLogger("scim_server")

SCIM_PREFIX = "/scim/v2"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _from_http(exc: web.HTTPException) -> ScimError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFoundError("no such endpoint or resource")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowedError(f"method {exc.method} is not allowed on this endpoint")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLargeError("the request body is too large")
    if isinstance(exc, web.HTTPUnsupportedMediaType):
        return UnsupportedMediaTypeError("unsupported media type")
    return ScimError(exc.reason or "request failed", status=exc.status)


def render_error(error: ScimError) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(error, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="scim"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return scim_response(error.to_body(), status=error.status, headers=headers)


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    """The SCIM error answering what authentication or a handler raised (HTTP errors included)."""
    if isinstance(exc, ScimError):
        if exc.database_error is not None and (metrics := request.app.get(METRICS)) is not None:
            metrics.observe_database_error(exc.database_error)
        return render_error(exc)
    if isinstance(exc, web.HTTPException):
        response = render_error(_from_http(exc))
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    # The route template, not the path: paths carry ids and, from some clients, e-mail addresses.
    resource = request.match_info.route.resource
    route = "unmatched" if resource is None else resource.canonical
    logger.error("unhandled error on %s %s", request.method, route, exc_info=exc)
    return render_error(InternalServerError())


def _admit(request: web.Request, app: web.Application, principal: Principal) -> None:
    """An authenticated request: its organization's rate limit, then the read-only check."""
    request[PRINCIPAL] = principal
    limiter = app.get(RATE_LIMITER)
    if limiter is not None:
        retry_after = limiter.acquire(principal.org_id)
        if retry_after is not None:
            metrics = app.get(METRICS)
            if metrics is not None:
                metrics.observe_rate_limited(principal.org_id)
            raise TooManyRequestsError(
                "too many requests for this organization; retry later", retry_after=retry_after
            )
    if principal.read_only and request.method not in _SAFE_METHODS and not request.path.endswith("/.search"):
        raise ForbiddenError("this token is read-only")


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    start = time.perf_counter()
    with measure() as storage:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        context = current_request_id.set(request_id)
        app = request.app
        principal: Principal | None = None
        status = 500
        try:
            try:
                path = request.path
                if path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/"):
                    principal = await app[TOKENS].authenticate(request.headers.get("Authorization"))
                    _admit(request, app, principal)
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise  # a redirect: aiohttp sends it
                response = _error_response(request, exc)
            except Exception as exc:
                response = _error_response(request, exc)
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID_HEADER] = request_id
            return response
        except web.HTTPException as exc:  # a redirect
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            log_request(request, app.get(METRICS), principal, request_id, status, time.perf_counter() - start)
            current_request_id.reset(context)
            request[SERVER_TIMING_VALUE] = server_timing(time.perf_counter() - start, storage.seconds)
