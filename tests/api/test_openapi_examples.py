"""The OpenAPI document's examples work when run from the Swagger page, and say what the server says.

The walk reads the served document as Swagger UI does and sends, for every operation, what "Try it
out" sends: the request body's example, each parameter's example (or its default), and the bearer
token where the operation is secured. The only values a reader supplies are the ids of resources,
which come from running the create examples first; so a PUT or PATCH example on /Users/{id} runs
against the User made from the POST /Users example. Every operation must answer its documented
success status.

Every error response's example must carry that response's status, and the ones the tests can
provoke must be exactly the body the server sends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.api.keys import RATE_LIMITER
from scim_server.api.ratelimit import RateLimiter
from scim_server.api.routes import routes
from scim_server.errors import ERROR_SCHEMA
from tests.helpers import SCIM, TOKEN_A, ClientFactory, auth

SPEC_URL = "/docs/openapi.json"
RESOURCE_PATHS = {"/scim/v2/Users/": "Users", "/scim/v2/Groups/": "Groups"}
# Operations documenting more than one success status, and the one their examples lead to: no
# example sets attributes or excludedAttributes, so a Group PATCH answers 204.
SEVERAL_SUCCESSES = {"patch_group": 204}
SCIM_TYPES_BY_STATUS = {"400", "409"}

Operation = tuple[str, str, dict[str, Any]]


async def served_document(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get(SPEC_URL)
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


def operations(document: dict[str, Any]) -> list[Operation]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def success_status(op: dict[str, Any]) -> int:
    successes = sorted(int(code) for code in op["responses"] if code.startswith("2"))
    if not successes:
        # /Me (RFC 7644 §3.11) documents no success: its answer from the page is the 501 it documents.
        assert op["operationId"].startswith("me_"), op["operationId"]
        assert "501" in op["responses"]
        return 501
    if len(successes) == 1:
        return successes[0]
    assert op["operationId"] in SEVERAL_SUCCESSES, (op["operationId"], successes)
    expected = SEVERAL_SUCCESSES[op["operationId"]]
    assert expected in successes
    return expected


def walk_order(operation: Operation) -> int:
    """Creates first (their ids are what the others need), deletes last."""
    path, method, _ = operation
    if method == "post" and not path.endswith("/.search") and path.endswith(("/Users", "/Groups")):
        return 0
    return 2 if method == "delete" else 1


def request_of(path: str, op: dict[str, Any], created: dict[str, str]) -> tuple[str, dict[str, str], Any]:
    """The URL, headers and JSON body "Try it out" sends for ``op``, as prefilled by its examples."""
    url = path
    query: list[str] = []
    headers: dict[str, str] = {"Accept": SCIM}
    for parameter in op.get("parameters", []):
        value = parameter.get("example", parameter["schema"].get("default"))
        if parameter["in"] == "path":
            if value is None:
                resource = next(name for prefix, name in RESOURCE_PATHS.items() if path.startswith(prefix))
                value = created[resource]  # the id the create example answered
            url = url.replace("{" + parameter["name"] + "}", quote(str(value), safe=""))
        elif value is None:
            assert not parameter["required"], (op["operationId"], parameter["name"])
        elif parameter["in"] == "query":
            query.append(f"{parameter['name']}={quote(str(value), safe='')}")
        else:
            headers[parameter["name"]] = str(value)
    if query:
        url += "?" + "&".join(query)
    if op.get("security"):
        headers["Authorization"] = f"Bearer {TOKEN_A}"
    body = None
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        assert "example" in content[SCIM], f"{op['operationId']} has no request body example"
        body = content[SCIM]["example"]
        headers["Content-Type"] = SCIM
    return url, headers, body


async def test_every_operation_succeeds_with_the_examples_swagger_ui_sends(
    client: TestClient[Any, Any],
) -> None:
    document = await served_document(client)
    created: dict[str, str] = {}
    answered: dict[str, int] = {}
    expected: dict[str, int] = {}
    bodies: dict[str, Any] = {}

    for path, method, op in sorted(operations(document), key=walk_order):
        url, headers, body = request_of(path, op, created)
        data = None if body is None else json.dumps(body)
        response = await client.request(method.upper(), url, data=data, headers=headers)
        name = op["operationId"]
        answered[name] = response.status
        expected[name] = success_status(op)
        if response.status not in (204, 304) and response.content_type.endswith("json"):
            bodies[name] = await response.json(content_type=None)
        if name in ("create_user", "create_group") and response.status == 201:
            created["Users" if name == "create_user" else "Groups"] = bodies[name]["id"]

    assert answered == expected
    assert len(answered) == len(routes())
    examples = {
        op["operationId"]: op.get("requestBody", {}).get("content", {}).get(SCIM, {}).get("example")
        for _, _, op in operations(document)
    }
    # The resources are the examples' own: what was created, found, patched and replaced.
    assert bodies["create_user"]["userName"] == examples["create_user"]["userName"]
    assert bodies["list_user"]["totalResults"] == bodies["search_user"]["totalResults"] == 1
    assert bodies["list_group"]["totalResults"] == bodies["search_group"]["totalResults"] == 1
    assert bodies["patch_user"]["id"] == bodies["replace_user"]["id"] == created["Users"]
    assert bodies["replace_user"]["displayName"] == examples["replace_user"]["displayName"]
    assert bodies["replace_group"]["displayName"] == examples["replace_group"]["displayName"]
    # And the deletes removed them.
    for resource, resource_id in created.items():
        gone = await client.get(f"/scim/v2/{resource}/{resource_id}", headers=auth())
        assert gone.status == 404


async def test_the_request_examples_name_no_id_a_reader_cannot_have(client: TestClient[Any, Any]) -> None:
    document = await served_document(client)
    for path, _, op in operations(document):
        for media in op.get("requestBody", {}).get("content", {}).values():
            text = json.dumps(media["example"])
            # A member is an existing resource's id, unless a Bulk names one its own POST creates.
            members = re.sub(r'"members": \[(\{"value": "bulkId:[^"]+"\}(, )?)+\]', "", text)
            assert '"id"' not in text and '"members"' not in members, op["operationId"]
            assert '"string"' not in text, op["operationId"]  # Swagger UI's placeholder
        if path.startswith(tuple(RESOURCE_PATHS)) and "{id}" in path:
            # A fixed resource id would be unknown on every other server: the reader pastes one.
            path_ids = [p for p in op["parameters"] if p["in"] == "path"]
            assert [p["name"] for p in path_ids] == ["id"] and "example" not in path_ids[0]


async def test_every_error_example_carries_its_own_status(client: TestClient[Any, Any]) -> None:
    document = await served_document(client)
    seen: set[str] = set()
    for _, _, op in operations(document):
        for code, response in op["responses"].items():
            if int(code) < 400:
                continue
            content = response.get("content", {})
            assert list(content) == [SCIM], (op["operationId"], code)
            example = content[SCIM]["example"]
            assert example["schemas"] == [ERROR_SCHEMA], (op["operationId"], code)
            assert example["status"] == code, (op["operationId"], code)
            assert set(example) <= {"schemas", "status", "scimType", "detail"}
            assert example["detail"]
            assert ("scimType" in example) == (code in SCIM_TYPES_BY_STATUS), (op["operationId"], code)
            seen.add(code)
    assert seen == {"400", "401", "403", "404", "409", "410", "412", "413", "415", "429", "501", "503"}


def error_example(document: dict[str, Any], operation_id: str, status: int) -> Any:
    op = next(op for _, _, op in operations(document) if op["operationId"] == operation_id)
    return op["responses"][str(status)]["content"][SCIM]["example"]


USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen@example.com"}
BAD_CERTIFICATE = {**USER, "userName": "other@example.com", "x509Certificates": [{"value": "string"}]}


@pytest.mark.parametrize(
    ("operation_id", "status", "method", "url", "headers", "body"),
    [
        ("list_user", 401, "GET", "/scim/v2/Users", {}, None),
        ("list_user", 400, "GET", "/scim/v2/Users?filter=usrName%20eq%20%22x%22", auth(), None),
        ("create_user", 400, "POST", "/scim/v2/Users", auth(), BAD_CERTIFICATE),
        ("create_user", 409, "POST", "/scim/v2/Users", auth(), USER),
        ("create_group", 409, "POST", "/scim/v2/Groups", auth(), {"displayName": "Tour Guides"}),
        (
            "get_user",
            404,
            "GET",
            "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
            auth(),
            None,
        ),
        ("create_user", 415, "POST", "/scim/v2/Users", {**auth(), "Content-Type": "text/plain"}, USER),
    ],
)
async def test_the_error_examples_are_the_bodies_the_server_sends(
    client: TestClient[Any, Any],
    operation_id: str,
    status: int,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
) -> None:
    document = await served_document(client)
    assert (await client.post("/scim/v2/Users", json=USER, headers=auth())).status == 201
    group = {"displayName": "Tour Guides"}
    assert (await client.post("/scim/v2/Groups", json=group, headers=auth())).status == 201

    data = None if body is None else json.dumps(body)
    response = await client.request(method, url, data=data, headers=headers)

    assert response.status == status
    assert await response.json(content_type=None) == error_example(document, operation_id, status)


async def test_the_429_and_metrics_401_examples_are_the_bodies_the_server_sends(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    app = app_factory(rate_limit_per_second=1, rate_limit_burst=1, metrics_token="metrics-secret-1")
    app[RATE_LIMITER] = RateLimiter(1, 1, clock=lambda: 0.0)
    client = await aiohttp_client(app)
    document = await served_document(client)

    await client.get("/scim/v2/Users", headers=auth())
    limited = await client.get("/scim/v2/Users", headers=auth())
    metrics = await client.get("/metrics")

    assert limited.status == 429
    assert await limited.json(content_type=None) == error_example(document, "list_user", 429)
    assert metrics.status == 401
    assert await metrics.json(content_type=None) == error_example(document, "metrics", 401)
