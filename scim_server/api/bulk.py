"""The Bulk endpoint (RFC 7644 §3.7): ``POST /scim/v2/Bulk``.

The handler reads the body under its own limit, ``bulk_max_payload_bytes`` (413 naming
``maxPayloadSize`` above it, §3.7.4; a single resource's request keeps ``max_body_bytes``), and runs
the operations through :class:`~scim_server.services.bulk.BulkService`.

Rate limit: each operation takes one token of the organization's bucket, as its own request would;
the Bulk request's own token (taken by the middleware) stands for its first operation. An operation
finding the bucket empty waits for a token rather than failing, so a Bulk runs at the organization's
rate; after :data:`MAX_WAIT_SECONDS` of waiting in one Bulk, the remaining operations answer 429 each.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from scim_server.api.body import ACCEPTED_MEDIA_TYPES, parse_json
from scim_server.api.keys import GROUPS, PRINCIPAL, RATE_LIMITER, SETTINGS, USERS
from scim_server.api.resources import actor, base_url
from scim_server.api.responses import scim_response
from scim_server.errors import (
    InvalidSyntaxError,
    PayloadTooLargeError,
    TooManyRequestsError,
    UnsupportedMediaTypeError,
)
from scim_server.schema.catalog import BULK_RESPONSE_SCHEMA
from scim_server.services.bulk import BulkService, parse_bulk_request

MAX_WAIT_SECONDS = 30.0
_CHUNK = 65536


async def read_bulk_body(request: web.Request, max_bytes: int) -> bytes:
    """The raw body, refused with a 413 naming maxPayloadSize as soon as it is known to exceed it."""
    if request.content_type not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/scim+json or application/json, not {request.content_type!r}"
        )
    too_large = PayloadTooLargeError(f"the Bulk request body exceeds maxPayloadSize ({max_bytes} bytes)")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    raw = bytearray()
    while chunk := await request.content.read(_CHUNK):
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large
    if not raw.strip():
        raise InvalidSyntaxError("the request body is empty")
    return bytes(raw)


async def post_bulk(request: web.Request) -> web.StreamResponse:
    """Run a Bulk request; 200 with one result per attempted operation (RFC 7644 §3.7.3)."""
    app = request.app
    settings = app[SETTINGS]
    principal = request[PRINCIPAL]
    body = parse_json(await read_bulk_body(request, settings.bulk_max_payload_bytes))
    bulk = parse_bulk_request(body, max_operations=settings.bulk_max_operations)
    limiter = app.get(RATE_LIMITER)
    first = True
    waited = 0.0

    async def admit() -> None:
        nonlocal first, waited
        if first:
            first = False  # the Bulk request's own token
            return
        if limiter is None:
            return
        while (retry_after := limiter.acquire(principal.org_id)) is not None:
            if waited + retry_after > MAX_WAIT_SECONDS:
                raise TooManyRequestsError(
                    "too many requests for this organization; retry later", retry_after=retry_after
                )
            waited += retry_after
            await asyncio.sleep(retry_after)

    org_id = principal.org_id
    service = BulkService([app[USERS].for_organization(org_id), app[GROUPS].for_organization(org_id)])
    results = await service.run(
        principal.org_id,
        bulk,
        actor=actor(principal),
        base_url=base_url(request, settings),
        admit=admit,
    )
    return scim_response(
        {"schemas": [BULK_RESPONSE_SCHEMA], "Operations": [result.to_body() for result in results]}
    )
