"""Schema-driven fuzzing: schemathesis generates requests from our own OpenAPI document.

The app is served on a loopback port (pytest-aiohttp's ``aiohttp_server``, embedded store) and the
schema is loaded from ``/docs/openapi.json`` over HTTP, as a client would. For every documented
operation, schemathesis draws valid (positive) and invalid (negative) requests, with a generated id
and with the id of a stored resource, and sends them with an organization's bearer token. Every
response must be no 5xx, carry a documented status code and content type, and have a body that
follows the documented schema. A failure means the server or its documentation is wrong, and the
fix is to make the documentation true, never to weaken the check.

The budget is bounded and derandomized (the suite's Hypothesis profile) so CI is reproducible: an
eighth of the profile's examples (25 by default) per operation. Run a larger exploration by hand with,
for example, ``SCIM_FUZZ_EXAMPLES=2400 .venv/bin/pytest tests/api/test_openapi_fuzz.py`` (300 each).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scim_server.api.routes import routes
from tests.helpers import TOKEN_A

ServerFactory = Callable[..., Any]

# Each example is an HTTP round trip, for every operation: an eighth of the profile's budget.
EXAMPLES = settings.default.max_examples // 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# A response slower than this is a hang, not a slow answer: every request here touches a tiny store.
TIMEOUT_SECONDS = 10.0
# /Me answers 501 to everything by design (RFC 7644 §3.11; tests/api/test_me.py): nothing to fuzz.
OPERATIONS = [(route.method, route.path) for route in routes() if not route.path.startswith("/scim/v2/Me")]
# The fuzzer sends requests as fast as it can; a rate limit would answer most of them 429 unread.
UNLIMITED = {"rate_limit_per_second": 0}
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@dataclass
class Tally:
    """What one operation's run sent and got back, for the report and for the assertions."""

    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def fuzz(base_url: str, method: str, path: str, seeded_ids: dict[str, str]) -> Tally:
    """Run schemathesis against one operation (synchronously, in a worker thread)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/docs/openapi.json", timeout=TIMEOUT_SECONDS)
    operation = schema[path][method]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in MODES]
    resource = path.split("/")[3] if path.startswith("/scim/v2/") else ""
    if "{id}" in path and resource in seeded_ids:
        # A generated id is nearly always unknown (404); a stored one reaches the service's rules.
        fixed = {"id": seeded_ids[resource]}
        strategies += [operation.as_strategy(generation_mode=mode, path_parameters=fixed) for mode in MODES]
    tally = Tally()
    session = requests.Session()

    # Unlike the profile: no target or explain phase (each sends more requests), and no health check
    # (schemathesis's strategies draw large, heavily filtered requests by design).
    @settings(
        max_examples=EXAMPLES,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        headers = {"Authorization": f"Bearer {TOKEN_A}"}
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=TIMEOUT_SECONDS)
        tally.requests += 1
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        run()
    finally:
        session.close()
    return tally


async def seed(base_url: str) -> dict[str, str]:
    """One user and one group, whose ids the fuzzer uses for half of the {id} requests."""
    headers = {"Authorization": f"Bearer {TOKEN_A}", "Content-Type": "application/scim+json"}

    def post(resource: str, body: dict[str, Any]) -> str:
        response = requests.post(f"{base_url}/scim/v2/{resource}", json=body, headers=headers, timeout=10)
        assert response.status_code == 201, response.text
        created: str = response.json()["id"]
        return created

    user = await asyncio.to_thread(post, "Users", {"userName": "fuzz.seed@example.com"})
    group = await asyncio.to_thread(
        post, "Groups", {"displayName": "fuzz seed", "members": [{"value": user}]}
    )
    return {"Users": user, "Groups": group}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_no_generated_request_gets_a_5xx_or_an_undocumented_response(
    aiohttp_server: ServerFactory, app_factory: Callable[..., web.Application], method: str, path: str
) -> None:
    server: TestServer = await aiohttp_server(app_factory(**UNLIMITED), host="127.0.0.1")
    base_url = str(server.make_url("")).rstrip("/")
    seeded = await seed(base_url)
    # schemathesis is synchronous (requests); the server answers on this loop meanwhile.
    tally = await asyncio.to_thread(fuzz, base_url, method, path, seeded)
    print(f"{method} {path}: {tally.requests} requests, statuses {dict(sorted(tally.statuses.items()))}")
    assert tally.requests >= 1
    assert not any(status >= 500 or status == 429 for status in tally.statuses)


# --- regressions: each one a failure the fuzzer found, replayed exactly ------------------------------


def replay(base_url: str, seeded_ids: dict[str, str]) -> list[tuple[str, int, Any]]:
    """Requests the fuzzer once found answered against the documentation, sent through schemathesis."""
    schema = schemathesis.openapi.from_url(f"{base_url}/docs/openapi.json", timeout=TIMEOUT_SECONDS)
    headers = {"Authorization": f"Bearer {TOKEN_A}"}
    answered = []
    for resource, resource_id in seeded_ids.items():
        operation = schema[f"/scim/v2/{resource}/{{id}}"]["GET"]
        # A projection without userName/displayName: the resource schema used to require them in
        # responses too (found as GET /Users/{id}?attributes=IvC).
        for query in (
            {"attributes": "IvC"},
            {"attributes": "externalId"},
            {"excludedAttributes": "userName"},
        ):
            case = operation.Case(path_parameters={"id": resource_id}, query=query)
            response = case.call(base_url=base_url, headers=headers, timeout=TIMEOUT_SECONDS)
            case.validate_response(response, checks=CHECKS, headers=headers)
            answered.append((resource, response.status_code, response.json()))
    return answered


async def test_fuzzer_findings_stay_fixed(
    aiohttp_server: ServerFactory, app_factory: Callable[..., web.Application]
) -> None:
    server: TestServer = await aiohttp_server(app_factory(**UNLIMITED), host="127.0.0.1")
    base_url = str(server.make_url("")).rstrip("/")
    seeded = await seed(base_url)
    answered = await asyncio.to_thread(replay, base_url, seeded)
    assert [(resource, status) for resource, status, _ in answered] == [
        ("Users", 200),
        ("Users", 200),
        ("Users", 200),
        ("Groups", 200),
        ("Groups", 200),
        ("Groups", 200),
    ]
    # attributes=IvC and attributes=externalId leave only what is always returned.
    projected = [body for index, (_, _, body) in enumerate(answered) if index % 3 != 2]
    assert all(set(body) == {"schemas", "id"} for body in projected)
