"""OpenAPI document and Swagger UI (aiohttp-apigami, the maintained continuation of aiohttp-apispec).

The document is served at ``/docs/openapi.json`` (OpenAPI 3) and the Swagger UI at ``/docs``; neither
needs a token, since authentication guards only ``/scim/v2``. ``/docs#/scim`` opens the SCIM endpoints.
Its examples (:mod:`scim_server.api.examples`) all succeed when run from the page with "Try it out".

The apigami decorators are used for documentation only: apigami's ``validation_middleware`` is
deliberately NOT installed. The server parses bodies itself (strict JSON, case-insensitive attribute
names, RFC 7644 §3.12 errors), and webargs would drop body keys the wire schemas do not declare,
such as extension URNs and attributes an identity provider adds.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_apigami import OpenApiVersion, docs, request_schema, setup_aiohttp_apispec
from aiohttp_apigami.constants import SWAGGER_DICT
from marshmallow import Schema

from scim_server.api import examples, schemas
from scim_server.errors import UnauthorizedError
from scim_server.schema.catalog import USER_SCHEMA_ID
from scim_server.settings import package_version

TITLE = "scim-server"
SPEC_PATH = "/docs/openapi.json"
UI_PATH = "/docs"
STATIC_PATH = "/docs/static"
SCIM_TAG = "scim"
OPERATIONS_TAG = "operations"
SCIM_MEDIA_TYPE = "application/scim+json"
JSON_MEDIA_TYPE = "application/json"
BEARER = "bearerAuth"

Parameter = dict[str, Any]
Response = dict[str, Any]


def _query(
    name: str, description: str, schema: Mapping[str, Any] | None = None, example: Any = None
) -> Parameter:
    parameter: Parameter = {
        "in": "query",
        "name": name,
        "required": False,
        "description": description,
        "schema": dict(schema or {"type": "string"}),
    }
    if example is not None:
        parameter["example"] = example  # Swagger UI fills it in for "Try it out"
    return parameter


def _header(name: str, description: str) -> Parameter:
    return {
        "in": "header",
        "name": name,
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _path(name: str, description: str, example: str | None = None) -> Parameter:
    parameter: Parameter = {
        "in": "path",
        "name": name,
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }
    if example is not None:
        parameter["example"] = example
    return parameter


ATTRIBUTES = _query(
    "attributes",
    "Comma-separated attribute paths to return, besides those always returned (RFC 7644 §3.4.2.5).",
)
EXCLUDED_ATTRIBUTES = _query(
    "excludedAttributes",
    "Comma-separated attribute paths not to return (RFC 7644 §3.4.2.5).",
)


def _list_parameters(resource: str) -> tuple[Parameter, ...]:
    """The query parameters of a list (RFC 7644 §3.4.2), with examples that match ``resource``."""
    filter_example, sort_example = examples.LIST_EXAMPLES[resource]
    return (
        _query(
            "filter",
            f"A filter expression (RFC 7644 §3.4.2.2), for example {filter_example}.",
            example=filter_example,
        ),
        _query(
            "startIndex",
            "Index paging, the default: the 1-based index of the first result (RFC 7644 §3.4.2.4); "
            "1 when absent, and values below 1 mean 1. Not together with cursor.",
            {"type": "integer", "minimum": 1},
        ),
        _query(
            "cursor",
            "Cursor paging (RFC 9865): empty for the first page, then the nextCursor (or "
            "previousCursor) of the previous response, with the same filter and sort. Cursors are "
            "opaque, bound to the organization, endpoint, filter and sort, and valid for "
            "pagination.cursorTimeout seconds (ServiceProviderConfig); a walk by nextCursor lists "
            "every resource that exists throughout it exactly once. Errors: 400 invalidCursor, "
            "expiredCursor, invalidCount (count below 1). Not together with startIndex.",
            {"type": "string"},
            example=examples.CURSOR_EXAMPLE,
        ),
        _query(
            "count",
            "The maximum number of results on the page (RFC 7644 §3.4.2.4), capped at the server's "
            "maximum (ServiceProviderConfig filter.maxResults and pagination.maxPageSize); 0 returns "
            "only totalResults (index paging only).",
            {"type": "integer", "minimum": 0},
            example=examples.COUNT_EXAMPLE,
        ),
        _query("sortBy", "The attribute path to sort by (RFC 7644 §3.4.2.3).", example=sort_example),
        _query(
            "sortOrder",
            "The sort direction (RFC 7644 §3.4.2.3).",
            {"type": "string", "enum": ["ascending", "descending"], "default": "ascending"},
        ),
        ATTRIBUTES,
        EXCLUDED_ATTRIBUTES,
    )


IF_MATCH = _header(
    "If-Match",
    "The ETag (meta.version) the change is based on; 412 when the resource has changed since "
    "(RFC 7644 §3.14).",
)
IF_NONE_MATCH = _header(
    "If-None-Match",
    "An ETag (meta.version) the client holds; 304 without a body when it is still current (RFC 7644 §3.14).",
)
ETAG_HEADER = {
    "ETag": {"description": "The resource version, as in meta.version.", "schema": {"type": "string"}}
}
LOCATION_HEADER = {"Location": {"description": "The new resource's URI.", "schema": {"type": "string"}}}

_ERRORS: dict[int, str] = {
    400: "Invalid request: scimType says why (invalidFilter, invalidSyntax, invalidValue, invalidPath, "
    "mutability, noTarget, tooMany, invalidCursor, expiredCursor, invalidCount, ...).",
    401: "Missing or invalid bearer token.",
    403: "The token is read-only.",
    404: "No such resource in the token's organization.",
    409: "A unique attribute value is already in use (scimType uniqueness).",
    410: "The cursor is older than the retained events; start again without 'after'.",
    412: "If-Match names a version other than the current one.",
    413: "The request body is larger than the server accepts (bulk.maxPayloadSize).",
    415: "The request body is not application/scim+json or application/json.",
    429: "The organization sent more requests than its rate limit allows (only when the operator "
    "turned the limit on: it is off by default); Retry-After gives the seconds to wait.",
    503: "The database cannot be reached.",
}


def _errors(*codes: int) -> dict[int, Response]:
    return {code: {"schema": schemas.ErrorSchema, "description": _ERRORS[code]} for code in codes}


def _ok(schema: type[Schema], description: str, headers: Mapping[str, Any] | None = None) -> Response:
    response: Response = {"schema": schema, "description": description}
    if headers:
        response["headers"] = dict(headers)
    return response


@dataclass(frozen=True, slots=True)
class _Operation:
    """The documentation of one route: ``example`` is its request body's example, ``resource`` the
    resource type its error examples name, ``error_examples`` the ones that differ from the usual."""

    summary: str
    description: str
    responses: dict[int, Response]
    parameters: tuple[Parameter, ...] = ()
    body: type[Schema] | None = None
    tag: str = SCIM_TAG
    secured: bool = True
    example: examples.Example | None = None
    resource: str | None = None
    error_examples: Mapping[int, examples.Example] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Resource:
    """A resource type as the documentation names it, with its request examples."""

    name: str
    plural: str
    schema: type[Schema]
    response_schema: type[Schema]
    list_schema: type[Schema]
    create_example: examples.Example
    replace_example: examples.Example
    patch_example: examples.Example
    search_example: examples.Example


_RESOURCES = {
    "user": _Resource(
        "User",
        "Users",
        schemas.UserSchema,
        schemas.UserResponseSchema,
        schemas.UserListResponseSchema,
        examples.CREATE_USER,
        examples.REPLACE_USER,
        examples.PATCH_USER,
        examples.SEARCH_USERS,
    ),
    "group": _Resource(
        "Group",
        "Groups",
        schemas.GroupSchema,
        schemas.GroupResponseSchema,
        schemas.GroupListResponseSchema,
        examples.CREATE_GROUP,
        examples.REPLACE_GROUP,
        examples.PATCH_GROUP,
        examples.SEARCH_GROUPS,
    ),
}


def _resource_operations(resource: _Resource) -> dict[str, _Operation]:
    """The seven operations of a resource endpoint (RFC 7644 §3.2 to §3.6)."""
    one, many, schema = resource.name, resource.plural, resource.schema
    resource_id = _path("id", f"The {one}'s id, as the create (or a list) answered it.")
    with_etag = _ok(resource.response_schema, f"The {one}.", ETAG_HEADER)
    return {
        "list": _Operation(
            f"List or filter {many}",
            f"A page of {many} matching the filter (RFC 7644 §3.4.2). Parameter names are matched "
            "case-insensitively.",
            {200: _ok(resource.list_schema, f"A page of {many}."), **_errors(400, 401)},
            _list_parameters(one),
            resource=one,
        ),
        "create": _Operation(
            f"Create a {one}",
            f"Creates a {one} (RFC 7644 §3.3). readOnly attributes in the body are ignored.",
            {
                201: _ok(resource.response_schema, f"The created {one}.", {**ETAG_HEADER, **LOCATION_HEADER}),
                **_errors(400, 401, 403, 409, 413, 415),
            },
            (ATTRIBUTES, EXCLUDED_ATTRIBUTES),
            schema,
            example=resource.create_example,
            resource=one,
        ),
        "search": _Operation(
            f"Search {many}",
            f"Like GET {many} with the parameters in the body, so that filters stay out of URLs and logs "
            "(RFC 7644 §3.4.3). Allowed for read-only tokens.",
            {200: _ok(resource.list_schema, f"A page of {many}."), **_errors(400, 401, 413, 415)},
            body=schemas.SearchRequestSchema,
            example=resource.search_example,
            resource=one,
        ),
        "get": _Operation(
            f"Get a {one}",
            f"The {one} with this id (RFC 7644 §3.4.1).",
            {
                200: with_etag,
                304: {"description": "Not modified: If-None-Match names the current version."},
                **_errors(400, 401, 404),
            },
            (resource_id, ATTRIBUTES, EXCLUDED_ATTRIBUTES, IF_NONE_MATCH),
            resource=one,
        ),
        "replace": _Operation(
            f"Replace a {one}",
            f"Replaces the {one}'s attributes (RFC 7644 §3.5.1): omitted readWrite attributes are cleared, "
            "immutable ones must not change.",
            {200: with_etag, **_errors(400, 401, 403, 404, 409, 412, 413, 415)},
            (resource_id, ATTRIBUTES, EXCLUDED_ATTRIBUTES, IF_MATCH),
            schema,
            example=resource.replace_example,
            resource=one,
        ),
        "patch": _Operation(
            f"Modify a {one}",
            f"Applies PATCH operations to the {one} (RFC 7644 §3.5.2), atomically."
            + (
                " Answers 204 with the new ETag unless attributes or excludedAttributes is given "
                "(a Group's full body would list every member)."
                if one == "Group"
                else ""
            ),
            {
                200: with_etag,
                **({204: {"description": "Modified.", "headers": ETAG_HEADER}} if one == "Group" else {}),
                **_errors(400, 401, 403, 404, 409, 412, 413, 415),
            },
            (resource_id, ATTRIBUTES, EXCLUDED_ATTRIBUTES, IF_MATCH),
            schemas.PatchOpSchema,
            example=resource.patch_example,
            resource=one,
        ),
        "delete": _Operation(
            f"Delete a {one}",
            f"Deletes the {one} (RFC 7644 §3.6).",
            {204: {"description": "Deleted."}, **_errors(401, 403, 404, 412)},
            (resource_id, IF_MATCH),
            resource=one,
        ),
    }


_DISCOVERY: dict[str, _Operation] = {
    "get_service_provider_config": _Operation(
        "Get the service provider configuration",
        "What this server supports: PATCH, filter, sort, ETags, limits (RFC 7644 §4, RFC 7643 §5).",
        {200: _ok(schemas.ServiceProviderConfigSchema, "The configuration."), **_errors(401)},
    ),
    "list_schemas": _Operation(
        "List the schemas",
        "The schemas of every resource type, rendered from the attribute catalog (RFC 7644 §4). "
        "Filtering is refused.",
        {200: _ok(schemas.SchemaListResponseSchema, "Every schema."), **_errors(400, 401)},
    ),
    "get_schema": _Operation(
        "Get a schema",
        "One schema by its URN, matched case-insensitively (RFC 7644 §4).",
        {200: _ok(schemas.SchemaSchema, "The schema."), **_errors(401, 404)},
        (
            _path(
                "id",
                f"The schema URN, for example {USER_SCHEMA_ID}.",
                example=USER_SCHEMA_ID,
            ),
        ),
    ),
    "list_resource_types": _Operation(
        "List the resource types",
        "Every resource type with its endpoint and schemas (RFC 7644 §4). Filtering is refused.",
        {200: _ok(schemas.ResourceTypeListResponseSchema, "Every resource type."), **_errors(400, 401)},
    ),
    "get_resource_type": _Operation(
        "Get a resource type",
        "One resource type by name, matched case-insensitively (RFC 7644 §4).",
        {200: _ok(schemas.ResourceTypeSchema, "The resource type."), **_errors(401, 404)},
        (_path("name", "The resource type's name, for example User.", example="User"),),
    ),
    "list_events": _Operation(
        "Read the change events",
        "The organization's change events after the 'after' cursor, in commit order, and the cursor "
        "to continue from; read-only tokens may read it (docs/organizations.md).",
        {200: _ok(schemas.EventPageSchema, "Events and the next cursor."), **_errors(400, 401, 410)},
        (
            _query("after", "The 'next' cursor of the previous answer; omitted: the oldest retained event."),
            _query("limit", "At most this many events (default: default_page_size).", {"type": "integer"}),
        ),
    ),
    "healthz": _Operation(
        "Liveness probe",
        "Answers 200 while the process serves requests; needs no token.",
        {200: _ok(schemas.HealthSchema, "The process is up.")},
        tag=OPERATIONS_TAG,
        secured=False,
    ),
    "readyz": _Operation(
        "Readiness probe",
        "Answers 200 when the database answers a ping within 2 seconds, else 503; it pings on every "
        "call, so it reflects reconnection. Needs no token.",
        {200: _ok(schemas.HealthSchema, 'The database answers: {"status": "ready"}.'), **_errors(503)},
        tag=OPERATIONS_TAG,
        secured=False,
    ),
    "metrics": _Operation(
        "Prometheus metrics",
        "Request counts, a latency histogram and rate-limited requests of this process, in the "
        "Prometheus text format (text/plain; version=0.0.4). Without the metrics_token setting it "
        "needs no token and serves these aggregate series only. With metrics_token it needs "
        "Authorization: Bearer <metrics_token>, and also serves requests and rate-limited requests "
        "by organization (organization ids are kept from anyone without that token).",
        {
            200: {"description": "The metrics, as text."},
            401: {"schema": schemas.ErrorSchema, "description": "The metrics token is missing or wrong."},
        },
        tag=OPERATIONS_TAG,
        secured=False,
        error_examples={
            401: UnauthorizedError("/metrics needs the metrics bearer token").to_body(),
        },
    ),
}


# -- the server root: queries over every type, Bulk and /Me (RFC 7644 §3.4.2.1, §3.7, §3.11) --------

_ROOT_QUERY = _Operation(
    "Query Users and Groups together",
    "A page of Users and Groups matching the filter (RFC 7644 §3.4.2.1). An attribute that one type "
    "does not define has no value there: a comparison or presence test on it is false for that type. "
    "The combined order is meta.created (or sortBy's value), then the resource type, then id. Without "
    "any query parameter this path answers 404.",
    {200: _ok(schemas.RootListResponseSchema, "A page of Users and Groups."), **_errors(400, 401, 404)},
    _list_parameters("Root"),
)
_ME = _Operation(
    "/Me is not implemented",
    "Always 501 (RFC 7644 §3.11): tokens belong to organizations, not to users.",
    {501: {"schema": schemas.ErrorSchema, "description": "Not implemented."}, **_errors(401)},
)
_ME_BELOW = dataclasses.replace(
    _ME, parameters=(_path("rest", "Any path below /Me; every one answers 501.", example="Groups"),)
)
_SERVER_ROOT: dict[str, _Operation] = {
    "query_root": _ROOT_QUERY,
    "query_root_bare": _ROOT_QUERY,
    "search_root": _Operation(
        "Search Users and Groups together",
        "Like GET /scim/v2/ with the parameters in the body (RFC 7644 §3.4.3). Allowed for read-only tokens.",
        {
            200: _ok(schemas.RootListResponseSchema, "A page of Users and Groups."),
            **_errors(400, 401, 413, 415),
        },
        body=schemas.SearchRequestSchema,
        example=examples.SEARCH_ROOT,
    ),
    "post_bulk": _Operation(
        "Run a Bulk request",
        "Runs POST, PUT, PATCH and DELETE operations on Users and Groups (RFC 7644 §3.7), each exactly as "
        "its own request would run (validated, atomic, audited, rate-limited). bulkId:<bulkId> refers to "
        "a resource a POST of the same request creates; failOnErrors stops after that many failures. "
        "The body may hold bulk.maxOperations operations and bulk.maxPayloadSize bytes "
        "(ServiceProviderConfig); above either, 413.",
        {
            200: _ok(schemas.BulkResponseSchema, "One result per operation attempted."),
            **_errors(400, 401, 403, 413, 415),
        },
        body=schemas.BulkRequestSchema,
        example=examples.BULK,
    ),
    **{f"me_{method}": _ME for method in ("get", "post", "put", "patch", "delete")},
    **{f"me_{method}_below": _ME_BELOW for method in ("get", "post", "put", "patch", "delete")},
}


def _operation(name: str) -> _Operation:
    if name in _DISCOVERY:
        return _DISCOVERY[name]
    if name in _SERVER_ROOT:
        return _SERVER_ROOT[name]
    verb, _, resource = name.partition("_")
    if resource in _RESOURCES:
        operations = _resource_operations(_RESOURCES[resource])
        if verb in operations:
            return operations[verb]
    # A route added without documentation still appears in the document, marked as such.
    return _Operation(name.replace("_", " ").capitalize(), "Not yet documented.", _errors(401))


def _with_rate_limit(operation: _Operation) -> dict[int, Response]:
    """Every authenticated operation may answer 429: the rate limit applies after authentication."""
    if not operation.secured:
        return operation.responses
    return {**operation.responses, **_errors(429)}


def document(name: str, handler: Handler) -> Handler:
    """Attach the OpenAPI description of route ``name`` to a new callable calling ``handler``.

    The callable is new for every route: apigami stores the description as attributes of it, and the
    resource handlers are bound methods shared by every resource type. It is a ``functools.partial``
    (which takes attributes, and which aiohttp and ``inspect`` see through to the coroutine function),
    not a wrapper coroutine: a request runs no extra frame or coroutine for it.
    """
    operation = _operation(name)
    endpoint = functools.partial(handler)
    # A partial takes attributes (it has a __dict__); its own __doc__ is its class's.
    endpoint.__name__ = endpoint.__qualname__ = name  # type: ignore[attr-defined]
    endpoint.__doc__ = operation.summary
    documented: Handler = docs(
        tags=[operation.tag],
        summary=operation.summary,
        description=operation.description,
        operation_id=name,
        parameters=[dict(p) for p in operation.parameters],
        responses={code: dict(response) for code, response in _with_rate_limit(operation).items()},
        security=[{BEARER: []}] if operation.secured else None,
    )(endpoint)
    if operation.body is not None:
        documented = request_schema(operation.body, required=True)(documented)
    return documented


def _use_scim_media_types(spec: dict[str, Any]) -> None:
    """Describe bodies as ``application/scim+json``, which the server sends and prefers (RFC 7644 §3.1).

    apigami always writes ``application/json`` and the Swagger 2 ``produces`` key; the server also
    accepts ``application/json`` request bodies, so request bodies list both, SCIM's first. Every
    error is a SCIM error body, the operations endpoints' included.
    """
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            operation.pop("produces", None)
            scim = SCIM_TAG in operation.get("tags", ())
            body = operation.get("requestBody", {}).get("content")
            if scim and body and JSON_MEDIA_TYPE in body:
                media = body.pop(JSON_MEDIA_TYPE)
                body[SCIM_MEDIA_TYPE] = media
                body[JSON_MEDIA_TYPE] = media
            for code, response in operation.get("responses", {}).items():
                content = response.get("content")
                if (scim or int(code) >= 400) and content and JSON_MEDIA_TYPE in content:
                    content[SCIM_MEDIA_TYPE] = content.pop(JSON_MEDIA_TYPE)


def _add_examples(spec: dict[str, Any]) -> None:
    """Give every request body its example, which Swagger UI sends from "Try it out", and every error
    response the body the server sends for that status (see :mod:`scim_server.api.examples`).

    Media type examples, not schema ones: a schema is shared by operations, and OpenAPI 3.0 ignores
    keys beside a ``$ref``.
    """
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            documented = _operation(operation["operationId"])
            body = operation.get("requestBody", {}).get("content", {})
            if documented.example is not None:
                for media in body.values():
                    media["example"] = documented.example
            for code, response in operation.get("responses", {}).items():
                if int(code) < 400:
                    continue
                example = documented.error_examples.get(int(code)) or examples.error_example(
                    int(code), documented.resource, has_body=documented.body is not None
                )
                for media in response.get("content", {}).values():
                    media["example"] = example


def setup_openapi(app: web.Application) -> None:
    """Serve the OpenAPI document at /docs/openapi.json and the Swagger UI at /docs.

    Call after every route is added: the document is built from the router right away.
    """
    # apigami 0.9 stores its document under the plain string key "swagger_dict" (kept for
    # aiohttp-apispec compatibility), for which aiohttp emits NotAppKeyWarning; warnings are errors in
    # the tests. in_place=True keeps that assignment inside this block instead of at startup.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        setup_aiohttp_apispec(
            app,
            title=TITLE,
            version=package_version(),
            url=SPEC_PATH,
            swagger_path=UI_PATH,
            static_path=STATIC_PATH,
            in_place=True,
            openapi_version=OpenApiVersion.V303,
            # APISpec deep-merges these top-level keys into the generated document.
            info={
                "description": "A SCIM 2.0 service provider (RFC 7643, RFC 7644) for Users and Groups. "
                "Every /scim/v2 request needs an organization's bearer token."
            },
            tags=[
                {"name": SCIM_TAG, "description": "SCIM 2.0 protocol endpoints (RFC 7644)."},
                {"name": OPERATIONS_TAG, "description": "Endpoints for operating the service."},
            ],
            components={
                "securitySchemes": {
                    BEARER: {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An organization-scoped bearer token (RFC 6750).",
                    }
                }
            },
        )
    _use_scim_media_types(app[SWAGGER_DICT])
    _add_examples(app[SWAGGER_DICT])
