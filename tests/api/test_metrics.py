"""Prometheus metrics: the exposition text, bounded labels, and /metrics over HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from scim_server.api.keys import RATE_LIMITER
from scim_server.api.metrics import Metrics, escape_label_value
from scim_server.api.ratelimit import RateLimiter
from tests.helpers import TOKEN_B, ClientFactory, auth

BUCKETS = ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")


async def test_an_empty_registry_declares_the_aggregate_metrics() -> None:
    assert Metrics().render() == (
        "# HELP scim_requests_total Requests answered, by route template, method and status.\n"
        "# TYPE scim_requests_total counter\n"
        "# HELP scim_request_duration_seconds Time from receiving a request to its response, by route "
        "template and method.\n"
        "# TYPE scim_request_duration_seconds histogram\n"
        "# HELP scim_rate_limited_total Requests refused with 429 by the per-organization rate limit.\n"
        "# TYPE scim_rate_limited_total counter\n"
        "scim_rate_limited_total 0\n"
        "# HELP scim_webhook_deliveries_total Webhook delivery attempts by outcome (delivered, failed, "
        "abandoned).\n"
        "# TYPE scim_webhook_deliveries_total counter\n"
        "# HELP scim_database_errors_total Requests answered with a database error, by kind (unavailable: "
        "503; others: 500).\n"
        "# TYPE scim_database_errors_total counter\n"
    )


async def test_an_empty_registry_by_organization_declares_the_organization_series() -> None:
    assert Metrics(per_organization=True).render() == (
        "# HELP scim_requests_total Requests answered, by route template, method and status.\n"
        "# TYPE scim_requests_total counter\n"
        "# HELP scim_request_duration_seconds Time from receiving a request to its response, by route "
        "template and method.\n"
        "# TYPE scim_request_duration_seconds histogram\n"
        "# HELP scim_requests_by_organization_total Authenticated requests by organization (the first "
        '1000 seen; later ones as "other").\n'
        "# TYPE scim_requests_by_organization_total counter\n"
        "# HELP scim_rate_limited_total Requests refused with 429 by the per-organization rate limit, by "
        "organization.\n"
        "# TYPE scim_rate_limited_total counter\n"
        "# HELP scim_webhook_deliveries_total Webhook delivery attempts by organization and outcome "
        "(delivered, failed, abandoned).\n"
        "# TYPE scim_webhook_deliveries_total counter\n"
        "# HELP scim_database_errors_total Requests answered with a database error, by kind (unavailable: "
        "503; others: 500).\n"
        "# TYPE scim_database_errors_total counter\n"
    )


async def test_without_organization_series_no_organization_id_is_kept_or_rendered() -> None:
    metrics = Metrics()
    metrics.observe_request("/scim/v2/Users", "GET", 200, 0.004, "acme")
    metrics.observe_request("/scim/v2/Users", "GET", 200, 0.004, "beta")
    metrics.observe_rate_limited("acme")
    metrics.observe_rate_limited("beta")

    text = metrics.render()

    assert 'scim_requests_total{route="/scim/v2/Users",method="GET",status="200"} 2' in text.splitlines()
    assert "scim_rate_limited_total 2" in text.splitlines()
    assert "acme" not in text and "beta" not in text and "org=" not in text
    assert metrics._orgs == set() and metrics._org_keys == {}


async def test_requests_are_counted_with_a_cumulative_histogram() -> None:
    metrics = Metrics(per_organization=True, buckets=(0.01, 0.1))
    metrics.observe_request("/scim/v2/Users/{id}", "GET", 200, 0.004, "acme")
    metrics.observe_request("/scim/v2/Users/{id}", "GET", 200, 0.05, "acme")
    metrics.observe_request("/scim/v2/Users/{id}", "GET", 404, 0.5, "beta")
    metrics.observe_request(None, "BREW", 404, 0.001, None)
    metrics.observe_rate_limited("acme")

    samples = [line for line in metrics.render().splitlines() if not line.startswith("#")]

    assert samples == [
        'scim_requests_total{route="/scim/v2/Users/{id}",method="GET",status="200"} 2',
        'scim_requests_total{route="/scim/v2/Users/{id}",method="GET",status="404"} 1',
        'scim_requests_total{route="unmatched",method="OTHER",status="404"} 1',
        'scim_request_duration_seconds_bucket{route="/scim/v2/Users/{id}",method="GET",le="0.01"} 1',
        'scim_request_duration_seconds_bucket{route="/scim/v2/Users/{id}",method="GET",le="0.1"} 2',
        'scim_request_duration_seconds_bucket{route="/scim/v2/Users/{id}",method="GET",le="+Inf"} 3',
        'scim_request_duration_seconds_sum{route="/scim/v2/Users/{id}",method="GET"} 0.554',
        'scim_request_duration_seconds_count{route="/scim/v2/Users/{id}",method="GET"} 3',
        'scim_request_duration_seconds_bucket{route="unmatched",method="OTHER",le="0.01"} 1',
        'scim_request_duration_seconds_bucket{route="unmatched",method="OTHER",le="0.1"} 1',
        'scim_request_duration_seconds_bucket{route="unmatched",method="OTHER",le="+Inf"} 1',
        'scim_request_duration_seconds_sum{route="unmatched",method="OTHER"} 0.001',
        'scim_request_duration_seconds_count{route="unmatched",method="OTHER"} 1',
        'scim_requests_by_organization_total{org="acme"} 2',
        'scim_requests_by_organization_total{org="beta"} 1',
        'scim_rate_limited_total{org="acme"} 1',
    ]


async def test_label_values_are_escaped() -> None:
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    metrics = Metrics(per_organization=True)
    metrics.observe_rate_limited('we"ird\\org\n')

    assert 'scim_rate_limited_total{org="we\\"ird\\\\org\\n"} 1' in metrics.render().splitlines()


async def test_a_duration_on_a_bucket_bound_counts_in_that_bucket() -> None:
    metrics = Metrics(buckets=(0.01, 0.1))
    for seconds in (0.0, 0.01, 0.010001, 0.1, 0.100001, 7.0):
        metrics.observe_request("/r", "GET", 200, seconds, None)
    counts = re.findall(r'_bucket\{route="/r",method="GET",le="([^"]+)"\} (\d+)', metrics.render())

    assert counts == [("0.01", "2"), ("0.1", "4"), ("+Inf", "6")]


async def test_series_are_kept_per_route_method_and_status_without_mixing() -> None:
    metrics = Metrics(per_organization=True, buckets=(1.0,), max_orgs=1)
    for status in (200, 201, 200):
        metrics.observe_request("/r", "POST", status, 0.5, "acme")
    metrics.observe_request("/r", "BREW", 200, 0.5, "beta")
    metrics.observe_request("/r", "TEA", 200, 0.5, "gamma")
    text = metrics.render()

    assert 'scim_requests_total{route="/r",method="POST",status="200"} 2' in text
    assert 'scim_requests_total{route="/r",method="POST",status="201"} 1' in text
    assert 'scim_requests_total{route="/r",method="OTHER",status="200"} 2' in text
    assert 'scim_request_duration_seconds_count{route="/r",method="POST"} 3' in text
    assert 'scim_requests_by_organization_total{org="acme"} 3' in text
    assert 'scim_requests_by_organization_total{org="other"} 2' in text
    assert len(metrics._org_keys) == 1  # only tracked organizations keep a key


async def test_organizations_beyond_the_cap_are_counted_as_other() -> None:
    metrics = Metrics(per_organization=True, max_orgs=2)
    for org in ("a", "b", "c", "d", "a"):
        metrics.observe_request("/scim/v2/Users", "GET", 200, 0.01, org)
    metrics.observe_rate_limited("e")
    metrics.observe_rate_limited("b")

    lines = metrics.render().splitlines()

    assert [
        line for line in lines if line.startswith(("scim_requests_by_org", "scim_rate_limited_total{"))
    ] == [
        'scim_requests_by_organization_total{org="a"} 2',
        'scim_requests_by_organization_total{org="b"} 1',
        'scim_requests_by_organization_total{org="other"} 2',
        'scim_rate_limited_total{org="b"} 1',
        'scim_rate_limited_total{org="other"} 1',
    ]


async def traffic(client: TestClient[Any, Any], metrics_headers: dict[str, str]) -> tuple[int, str, str]:
    """Requests from two organizations (each rate-limited once) and anonymous ones; then /metrics."""
    await client.get("/scim/v2/Users", headers=auth())
    await client.get("/scim/v2/Users/some-id", headers=auth())
    await client.get("/scim/v2/Users", headers=auth(TOKEN_B))
    await client.get("/scim/v2/Users", headers=auth(TOKEN_B))
    await client.get("/scim/v2/Users?filter=userName%20eq%20%22bjensen@example.com%22")
    await client.get("/no/such/path/bjensen@example.com")
    response = await client.get("/metrics", headers=metrics_headers)
    return response.status, response.headers["Content-Type"], await response.text()


def limited(app: web.Application) -> web.Application:
    app[RATE_LIMITER] = RateLimiter(1, 1, clock=lambda: 0.0)
    return app


AGGREGATE_LINES = (
    'scim_requests_total{route="/scim/v2/Users",method="GET",status="200"} 2',
    'scim_requests_total{route="/scim/v2/Users",method="GET",status="401"} 1',
    'scim_requests_total{route="/scim/v2/Users",method="GET",status="429"} 1',
    'scim_requests_total{route="/scim/v2/Users/{id}",method="GET",status="429"} 1',
    'scim_requests_total{route="unmatched",method="GET",status="404"} 1',
)


async def test_without_a_metrics_token_metrics_are_public_and_aggregate_only(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    client = await aiohttp_client(limited(app_factory(rate_limit_per_second=1, rate_limit_burst=1)))

    status, content_type, text = await traffic(client, {})

    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    lines = text.splitlines()
    for line in (*AGGREGATE_LINES, "scim_rate_limited_total 2"):
        assert line in lines, line
    bounds = re.findall(
        r'scim_request_duration_seconds_bucket\{route="/scim/v2/Users",method="GET",le="([^"]+)"\}', text
    )
    assert tuple(bounds) == BUCKETS
    # No organization id (the customer list), and never a raw path or query (ids, e-mail addresses).
    assert '"orga"' not in text and '"orgb"' not in text and "org=" not in text
    assert "scim_requests_by_organization_total" not in text
    assert "bjensen" not in text and "some-id" not in text


async def test_with_a_metrics_token_its_holder_also_gets_the_series_by_organization(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    app = app_factory(rate_limit_per_second=1, rate_limit_burst=1, metrics_token="metrics-secret-1")
    client = await aiohttp_client(limited(app))

    status, _, text = await traffic(client, {"Authorization": "Bearer metrics-secret-1"})

    assert status == 200
    lines = text.splitlines()
    for line in (
        *AGGREGATE_LINES,
        'scim_requests_by_organization_total{org="orga"} 2',
        'scim_requests_by_organization_total{org="orgb"} 2',
        'scim_rate_limited_total{org="orga"} 1',
        'scim_rate_limited_total{org="orgb"} 1',
    ):
        assert line in lines, line
    assert "bjensen" not in text and "some-id" not in text


async def test_a_metrics_token_protects_metrics(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    client = await aiohttp_client(app_factory(metrics_token="metrics-secret-1"))

    anonymous = await client.get("/metrics")
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer metrics-secret-2"})
    scim_token = await client.get("/metrics", headers=auth())
    right = await client.get("/metrics", headers={"Authorization": "Bearer metrics-secret-1"})

    assert [anonymous.status, wrong.status, scim_token.status] == [401, 401, 401]
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="scim"'
    assert (await anonymous.json(content_type=None))["detail"] == "/metrics needs the metrics bearer token"
    assert right.status == 200
    assert "# TYPE scim_requests_total counter" in await right.text()
