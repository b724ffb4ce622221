"""Discovery endpoints (RFC 7644 §4): ServiceProviderConfig, Schemas, ResourceTypes.

/Schemas and /ResourceTypes answer for the requesting organization: its resource types carry the
extensions it declares in the organizations file (``schema/declared.py``), which no other organization
sees.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scim_server.api.keys import ORGANIZATIONS, PRINCIPAL, SETTINGS, USERS
from scim_server.api.resources import base_url
from scim_server.api.responses import scim_response
from scim_server.errors import InvalidValueError, NotFoundError
from scim_server.schema.catalog import LIST_RESPONSE_SCHEMA, RESOURCE_TYPES, ResourceType
from scim_server.schema.representation import (
    Capabilities,
    all_schemas,
    render_resource_type,
    render_schema,
    render_service_provider_config,
)


def _list_response(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _resource_types(request: web.Request) -> tuple[ResourceType, ...]:
    """The requesting organization's resource types (the built-in ones without a principal or a
    configuration)."""
    registry = request.app.get(ORGANIZATIONS)
    principal = request.get(PRINCIPAL)
    if registry is None or principal is None:
        return RESOURCE_TYPES
    return registry.resource_types.all(principal.org_id)


def _no_filter(request: web.Request) -> None:
    # RFC 7644 §4: "filter" on discovery endpoints is not supported and must be refused, not ignored.
    if any(key.lower() == "filter" for key in request.query):
        raise InvalidValueError("filtering is not supported on discovery endpoints")


async def get_service_provider_config(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    documentation = f"{request.scheme}://{request.host}/docs"
    capabilities = Capabilities(
        settings.max_page_size,
        settings.bulk_max_payload_bytes,
        documentation,
        max_operations=settings.bulk_max_operations,
        default_page_size=settings.default_page_size,
        cursor_timeout=request.app[USERS].cursors.timeout_seconds,
    )
    return scim_response(render_service_provider_config(capabilities, base_url(request)))


async def list_schemas(request: web.Request) -> web.StreamResponse:
    _no_filter(request)
    base = base_url(request)
    schemas = all_schemas(_resource_types(request))
    return scim_response(_list_response([render_schema(s, base) for s in schemas]))


async def get_schema(request: web.Request) -> web.StreamResponse:
    wanted = request.match_info["id"].lower()
    for schema in all_schemas(_resource_types(request)):
        if schema.id.lower() == wanted:
            return scim_response(render_schema(schema, base_url(request)))
    raise NotFoundError(f"schema {request.match_info['id'][:200]} not found")


async def list_resource_types(request: web.Request) -> web.StreamResponse:
    _no_filter(request)
    base = base_url(request)
    resource_types = _resource_types(request)
    return scim_response(_list_response([render_resource_type(rt, base) for rt in resource_types]))


async def get_resource_type(request: web.Request) -> web.StreamResponse:
    wanted = request.match_info["name"].lower()
    for resource_type in _resource_types(request):
        if resource_type.name.lower() == wanted:
            return scim_response(render_resource_type(resource_type, base_url(request)))
    raise NotFoundError(f"resource type {request.match_info['name'][:200]} not found")


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})
