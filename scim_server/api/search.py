"""The server root's endpoints: queries over every resource type (RFC 7644 §3.4.2.1, §3.4.3) and /Me.

``GET /scim/v2/`` with query parameters and ``POST /scim/v2/.search`` answer one ListResponse of
Users and Groups (:mod:`scim_server.services.search` holds the rules); each resource is rendered as
its own endpoint renders it, with its own ``schemas`` and ``meta.resourceType``, and
``attributes``/``excludedAttributes`` apply to each type as that type reads them (a name one type
does not define selects nothing of it). ``GET /scim/v2/`` without parameters is not a query and
answers 404, as before.

``/Me`` (§3.11) answers 501 for every method: a token here belongs to an organization, not to a user,
so there is no "authenticated subject" resource to alias.
"""

from __future__ import annotations

from aiohttp import web

from scim_server.api.body import read_json
from scim_server.api.keys import GROUPS, SETTINGS, USERS
from scim_server.api.resources import ResourceEndpoints, _Call, base_url, list_envelope
from scim_server.api.responses import dumps, scim_json_response
from scim_server.errors import NotFoundError, NotImplementedScimError
from scim_server.services.listing import SearchRequest, search_from_body, search_from_query
from scim_server.services.render import parse_projection
from scim_server.services.resources import StoredResource
from scim_server.services.search import RootSearch

ME_DETAIL = (
    "/Me is not implemented: bearer tokens on this server belong to organizations, not to users, "
    "so no User resource is the authenticated subject (RFC 7644 §3.11)"
)


async def _answer(request: web.Request, search: SearchRequest) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    calls = {key: _Call(request, key) for key in (USERS, GROUPS)}
    services = {call.service: call for call in calls.values()}
    # Parse the projections before touching the store, so a bad parameter costs no query.
    projections = {
        service: parse_projection(
            search.attributes,
            search.excluded_attributes,
            service.resource_type,
            max_items=settings.max_attributes,
        )
        for service in services
    }
    result = await RootSearch(list(services), settings).search(calls[USERS].org_id, search)
    base = base_url(request, settings)
    # Each type's resources are rendered together (one membership lookup per type), then put back
    # in the combined order.
    positions: dict[object, list[int]] = {}
    stored: dict[object, list[StoredResource]] = {}
    for position, found in enumerate(result.resources):
        positions.setdefault(found.service, []).append(position)
        stored.setdefault(found.service, []).append(found.resource)
    bodies: list[bytes] = [b""] * len(result.resources)
    for service, call in services.items():
        if service not in stored:
            continue
        rendered = await ResourceEndpoints._bodies(
            call, stored[service], projections[service], base=base, cacheable=True
        )
        for position, body in zip(positions[service], rendered, strict=True):
            bodies[position] = body
    envelope = dumps(
        list_envelope(
            result.total, len(bodies), start_index=result.start_index, next_cursor=result.next_cursor
        )
    )
    return scim_json_response(b"%s%s]}" % (envelope[:-2], b",".join(bodies)))


async def query_root(request: web.Request) -> web.StreamResponse:
    """``GET /scim/v2/?filter=...``: a query over Users and Groups; without parameters, 404."""
    if not request.query:
        raise NotFoundError("no such endpoint or resource")
    return await _answer(request, search_from_query(request.query))


async def search_root(request: web.Request) -> web.StreamResponse:
    """``POST /scim/v2/.search``: a SearchRequest over Users and Groups (RFC 7644 §3.4.3)."""
    body = await read_json(request, request.app[SETTINGS].max_body_bytes)
    return await _answer(request, search_from_body(body))


async def me(request: web.Request) -> web.StreamResponse:
    """Every method on ``/Me`` and below it: 501 (RFC 7644 §3.11)."""
    raise NotImplementedScimError(ME_DETAIL)
