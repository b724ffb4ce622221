"""The two middlewares: the single error renderer, and bearer-token authentication.

Every error the server answers, its own or aiohttp's (unknown route, wrong method, oversized body),
leaves through ``error_middleware`` as an RFC 7644 §3.12 body. Unexpected exceptions are logged with
their traceback and answered with a generic 500: internals never reach the client.

``auth_middleware`` also applies the per-organization rate limit, once the organization is known:
unauthenticated requests are never counted against an organization.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from scim_server.api.keys import METRICS, PRINCIPAL, RATE_LIMITER, TOKENS
from scim_server.api.responses import scim_response
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

logger = logging.getLogger("scim_server")

SCIM_PREFIX = "/scim/v2"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_GENERIC_500 = "the server failed to handle the request; it has been logged"


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
    if isinstance(error, TooManyRequestsError) and error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return scim_response(error.to_body(), status=error.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ScimError as error:
        return render_error(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = render_error(_from_http(exc))
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except Exception:
        # The route template, not the path: paths carry ids and, from some clients, e-mail addresses.
        resource = request.match_info.route.resource
        route = "unmatched" if resource is None else resource.canonical
        logger.exception("unhandled error on %s %s", request.method, route)
        return render_error(InternalServerError(_GENERIC_500))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate every request under /scim/v2, then rate-limit it; read-only tokens may not write."""
    path = request.path
    if path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/"):
        principal = await request.app[TOKENS].authenticate(request.headers.get("Authorization"))
        request[PRINCIPAL] = principal
        limiter = request.app.get(RATE_LIMITER)
        if limiter is not None:
            retry_after = limiter.acquire(principal.org_id)
            if retry_after is not None:
                metrics = request.app.get(METRICS)
                if metrics is not None:
                    metrics.observe_rate_limited(principal.org_id)
                raise TooManyRequestsError(
                    "too many requests for this organization; retry later", retry_after=retry_after
                )
        if principal.read_only and request.method not in _SAFE_METHODS and not path.endswith("/.search"):
            raise ForbiddenError("this token is read-only")
    return await handler(request)
