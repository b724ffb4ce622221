"""Thin HTTP handlers for a SCIM resource endpoint (RFC 7644 §3.2 to §3.6).

Handlers translate HTTP to service calls and back: headers (If-Match, If-None-Match, ETag, Location),
query parameters and status codes. SCIM rules live in the service.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from scim_server.api.body import read_json
from scim_server.api.keys import PRINCIPAL, RENDERED, SETTINGS
from scim_server.api.responses import dumps, scim_json_response
from scim_server.errors import NotFoundError
from scim_server.schema.catalog import LIST_RESPONSE_SCHEMA
from scim_server.services.audit import Actor
from scim_server.services.listing import SearchRequest, search_from_body, search_from_query
from scim_server.services.render import (
    ALL,
    Projection,
    derived_renderer,
    etag,
    parse_projection,
    render_resource,
)
from scim_server.services.resources import ResourceService, StoredResource, matches_if_match
from scim_server.services.tokens import Principal
from scim_server.settings import Settings

SCIM_BASE_PATH = "/scim/v2"


def base_url(request: web.Request, settings: Settings | None = None) -> str:
    """The SCIM base URL for meta.location and $ref: the configured one, or the request's own."""
    configured = (request.app[SETTINGS] if settings is None else settings).base_url
    if configured:
        return configured.rstrip("/") + SCIM_BASE_PATH
    return f"{request.scheme}://{request.host}{SCIM_BASE_PATH}"


def actor(principal: Principal) -> Actor:
    """Who is writing, for the audit trail: the authenticated organization and token."""
    return Actor(principal.org_id, principal.token_id, principal.token_name)


def _query_param(request: web.Request, name: str) -> str | None:
    """A query parameter by case-insensitive name (Entra sends ``startindex``, ``excludedattributes``)."""
    low = name.lower()
    for key, value in request.query.items():
        if key.lower() == low:
            return value
    return None


def list_envelope(
    total: int,
    items: int,
    *,
    start_index: int | None,
    next_cursor: str | None = None,
    previous_cursor: str | None = None,
) -> dict[str, Any]:
    """A ListResponse without its resources (RFC 7644 §3.4.2), ending in ``Resources``: ``startIndex``
    for a page by index, ``nextCursor``/``previousCursor`` for a page by cursor (RFC 9865 §2), each
    left out when there is no such page."""
    envelope: dict[str, Any] = {"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": total}
    if start_index is not None:
        envelope["startIndex"] = start_index
    envelope["itemsPerPage"] = items
    if next_cursor is not None:
        envelope["nextCursor"] = next_cursor
    if previous_cursor is not None:
        envelope["previousCursor"] = previous_cursor
    envelope["Resources"] = []
    return envelope


class _Call:
    """What a handler needs of its request's application, looked up once per request: aiohttp
    reaches the application through the match info on every ``request.app``."""

    __slots__ = ("app", "org_id", "principal", "service", "settings")

    def __init__(self, request: web.Request, key: web.AppKey[ResourceService]) -> None:
        app = self.app = request.app
        self.settings = app[SETTINGS]
        self.principal = request[PRINCIPAL]
        self.org_id = self.principal.org_id
        # The service over the organization's resource type (its declared extensions).
        self.service = app[key].for_organization(self.org_id)


class ResourceEndpoints:
    """The handlers of one resource type, bound to its service by an application key."""

    def __init__(self, service_key: web.AppKey[ResourceService], *, patch_no_content: bool = False) -> None:
        self._key = service_key
        self._patch_no_content = patch_no_content

    @staticmethod
    def _projection(request: web.Request, call: _Call, search: SearchRequest | None = None) -> Projection:
        if search is not None:
            attributes, excluded = search.attributes, search.excluded_attributes
        elif not request.query:
            return ALL  # no parameters at all: the usual request
        else:
            attributes = _query_param(request, "attributes")
            excluded = _query_param(request, "excludedAttributes")
        return parse_projection(
            attributes,
            excluded,
            call.service.resource_type,
            max_items=call.settings.max_attributes,
        )

    @staticmethod
    async def _bodies(
        call: _Call,
        stored: list[StoredResource],
        projection: Projection,
        *,
        base: str,
        created: bool = False,
        cacheable: bool = False,
    ) -> list[bytes]:
        """Serialized resources, with what membership derives filled in (one lookup for them all).

        ``cacheable``: a read or a create, whose resources' bodies may come from, and go to, the
        per-process cache of serialized versions (``api/rendered.py``); membership is added to them per
        request. Not other writes: a read gives a replaced or patched resource's attributes in the
        store's order, which can differ from the write's (a PUT reordering them).
        """
        service = call.service
        org_id = call.org_id
        derived = await service.derived(org_id, stored, projection, created=created)
        resource_type = service.resource_type
        cache = call.app[RENDERED]
        cached = cacheable and cache.enabled
        # The resource type itself, not its name: a reload that changes the organization's declared
        # extensions makes a new one, whose bodies must not come from the old one's.
        scope = cache.scope((org_id, resource_type, projection, base)) if cached else 0
        now = cache.now() if cached else 0.0
        if cached:
            found = cache.get_many(scope, [(resource.id, resource.version) for resource in stored], now)
        else:
            found = [None] * len(stored)
        # The derived attribute's renderer and its name's JSON, made once for the page; and its JSON
        # per set of entries, made once for the page too (a page's users share groups).
        renderer = derived_renderer(resource_type, projection, base) if derived else None
        name = b"" if renderer is None else b",%s:" % dumps(renderer[0])
        parts: dict[tuple[tuple[Any, Any, Any], ...], bytes] = {}
        bodies = []
        for resource, body in zip(stored, found, strict=True):
            if body is None:
                body = dumps(render_resource(resource, resource_type, base, projection))
                if cached:
                    cache.put(scope, resource.id, resource.version, body, now)
            if renderer is not None:
                entries = derived.get(resource.id)
                if entries:
                    # What an entry renders from: its value, display and type.
                    key = tuple((e["value"], e["display"], e["type"]) for e in entries)
                    part = parts.get(key)
                    if part is None:
                        rendered = renderer[1](entries)
                        part = parts[key] = b"%s%s" % (name, dumps(rendered)) if rendered else b""
                    if part:
                        # The body is a JSON object: the attribute goes in before its closing brace.
                        body = b"%s%s}" % (body[:-1], part)
            bodies.append(body)
        return bodies

    async def _resource_response(
        self,
        request: web.Request,
        call: _Call,
        stored: StoredResource,
        projection: Projection,
        *,
        status: int = 200,
        cacheable: bool = False,
    ) -> web.Response:
        headers = {"ETag": etag(stored.version)}
        base = base_url(request, call.settings)
        if status == 201:
            headers["Location"] = f"{base}{call.service.resource_type.endpoint}/{stored.id}"
        [body] = await self._bodies(
            call, [stored], projection, base=base, created=status == 201, cacheable=cacheable
        )
        return scim_json_response(body, status=status, headers=headers)

    async def _search(self, request: web.Request, call: _Call, search: SearchRequest) -> web.Response:
        # Parse the projection before touching the store, so a bad parameter costs no query.
        projection = self._projection(request, call, search)
        result = await call.service.search(call.org_id, search)
        bodies = await self._bodies(
            call, result.resources, projection, base=base_url(request, call.settings), cacheable=True
        )
        envelope = dumps(
            list_envelope(
                result.total,
                len(bodies),
                start_index=result.start_index,
                next_cursor=result.next_cursor,
                previous_cursor=result.previous_cursor,
            )
        )
        # The envelope ends in "[]}": the serialized resources go between the brackets.
        return scim_json_response(b"%s%s]}" % (envelope[:-2], b",".join(bodies)))

    @staticmethod
    def _id(request: web.Request) -> str:
        resource_id = request.match_info["id"]
        if not resource_id or len(resource_id) > 256:
            raise NotFoundError(f"resource {resource_id[:64]} not found")
        return resource_id

    # -- handlers ------------------------------------------------------------------------------

    async def list(self, request: web.Request) -> web.StreamResponse:
        return await self._search(request, _Call(request, self._key), search_from_query(request.query))

    async def search(self, request: web.Request) -> web.StreamResponse:
        call = _Call(request, self._key)
        body = await read_json(request, call.settings.max_body_bytes)
        return await self._search(request, call, search_from_body(body))

    async def create(self, request: web.Request) -> web.StreamResponse:
        call = _Call(request, self._key)
        body = await read_json(request, call.settings.max_body_bytes)
        projection = self._projection(request, call)
        stored = await call.service.create(call.org_id, body, actor=actor(call.principal))
        # A created resource is rendered as a read of it would be: its body is kept for those reads.
        return await self._resource_response(request, call, stored, projection, status=201, cacheable=True)

    async def get(self, request: web.Request) -> web.StreamResponse:
        call = _Call(request, self._key)
        projection = self._projection(request, call)
        stored = await call.service.get(call.org_id, self._id(request), response_only=True)
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and matches_if_match(if_none_match, stored.version):
            return web.Response(status=304, headers={"ETag": etag(stored.version)})
        return await self._resource_response(request, call, stored, projection, cacheable=True)

    async def replace(self, request: web.Request) -> web.StreamResponse:
        call = _Call(request, self._key)
        body = await read_json(request, call.settings.max_body_bytes)
        projection = self._projection(request, call)
        stored = await call.service.replace(
            call.org_id,
            self._id(request),
            body,
            request.headers.get("If-Match"),
            actor=actor(call.principal),
        )
        return await self._resource_response(request, call, stored, projection)

    async def patch(self, request: web.Request) -> web.StreamResponse:
        call = _Call(request, self._key)
        body = await read_json(request, call.settings.max_body_bytes)
        projection = self._projection(request, call)
        stored = await call.service.patch(
            call.org_id,
            self._id(request),
            body,
            request.headers.get("If-Match"),
            actor=actor(call.principal),
        )
        if self._patch_no_content and not self._asks_for_attributes(request):
            # RFC 7644 §3.5.2 allows 204; Entra asks for it on groups, whose full body would list
            # every member. With attributes/excludedAttributes the RFC requires 200 and a body.
            return web.Response(status=204, headers={"ETag": etag(stored.version)})
        return await self._resource_response(request, call, stored, projection)

    @staticmethod
    def _asks_for_attributes(request: web.Request) -> bool:
        return any(key.lower() in ("attributes", "excludedattributes") for key in request.query)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        call = _Call(request, self._key)
        await call.service.delete(
            call.org_id,
            self._id(request),
            request.headers.get("If-Match"),
            actor=actor(call.principal),
        )
        return web.Response(status=204)

    def handlers(self) -> dict[str, Handler]:
        return {
            "list": self.list,
            "search": self.search,
            "create": self.create,
            "get": self.get,
            "replace": self.replace,
            "patch": self.patch,
            "delete": self.delete,
        }
