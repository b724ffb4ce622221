"""The route table: every endpoint the server answers, as data."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from scim_server.api import bulk, discovery, events, observability, search
from scim_server.api.keys import GROUPS, USERS
from scim_server.api.openapi import document
from scim_server.api.resources import SCIM_BASE_PATH, ResourceEndpoints


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    name: str
    handler: Handler


def resource_routes(endpoint: str, resource: str, endpoints: ResourceEndpoints) -> list[Route]:
    """The seven routes of a resource endpoint (RFC 7644 §3.2, §3.4.3)."""
    h = endpoints.handlers()
    base = SCIM_BASE_PATH + endpoint
    return [
        Route("GET", base, f"list_{resource}", h["list"]),
        Route("POST", base, f"create_{resource}", h["create"]),
        Route("POST", base + "/.search", f"search_{resource}", h["search"]),
        Route("GET", base + "/{id}", f"get_{resource}", h["get"]),
        Route("PUT", base + "/{id}", f"replace_{resource}", h["replace"]),
        Route("PATCH", base + "/{id}", f"patch_{resource}", h["patch"]),
        Route("DELETE", base + "/{id}", f"delete_{resource}", h["delete"]),
    ]


def routes() -> list[Route]:
    scim = SCIM_BASE_PATH
    return [
        *resource_routes("/Users", "user", ResourceEndpoints(USERS)),
        *resource_routes("/Groups", "group", ResourceEndpoints(GROUPS, patch_no_content=True)),
        Route(
            "GET",
            scim + "/ServiceProviderConfig",
            "get_service_provider_config",
            discovery.get_service_provider_config,
        ),
        Route("GET", scim + "/Schemas", "list_schemas", discovery.list_schemas),
        Route("GET", scim + "/Schemas/{id}", "get_schema", discovery.get_schema),
        Route("GET", scim + "/ResourceTypes", "list_resource_types", discovery.list_resource_types),
        Route("GET", scim + "/ResourceTypes/{name}", "get_resource_type", discovery.get_resource_type),
        # The server root (RFC 7644 §3.4.2.1, §3.4.3, §3.7, §3.11).
        Route("GET", scim, "query_root_bare", search.query_root),
        Route("GET", scim + "/", "query_root", search.query_root),
        Route("POST", scim + "/.search", "search_root", search.search_root),
        Route("POST", scim + "/Bulk", "post_bulk", bulk.post_bulk),
        *(
            Route(method, scim + path, f"me_{method.lower()}{suffix}", search.me)
            for path, suffix in (("/Me", ""), ("/Me/{rest:.*}", "_below"))
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        ),
        Route("GET", scim + "/events", "list_events", events.list_events),
        Route("GET", "/healthz", "healthz", discovery.healthz),
        Route("GET", "/readyz", "readyz", observability.readyz),
        Route("GET", "/metrics", "metrics", observability.get_metrics),
    ]


def setup_routes(app: web.Application) -> None:
    for route in routes():
        app.router.add_route(route.method, route.path, document(route.name, route.handler), name=route.name)
