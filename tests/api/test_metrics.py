"""Prometheus metrics: the exposition text, bounded labels, and /metrics over HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web

from scim_server.api.keys import RATE_LIMITER
from scim_server.api.metrics import Metrics, escape_label_value
from scim_server.api.ratelimit import RateLimiter
from tests.conftest import TOKEN_B, ClientFactory, auth

BUCKETS = ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")


async def test_an_empty_registry_declares_every_metric() -> None:
    assert Metrics().render() == (
        "# HELP scim_requests_total Requests answered, by route template, method and status.\n"
        "# TYPE scim_requests_total counter\n"
        "# HELP scim_request_duration_seconds Time from receiving a request to its response, by route "
        "template and method.\n"
        "# TYPE scim_request_duration_seconds histogram\n"
        "# HELP scim_requests_by_organization_total Authenticated requests by organization (the first "
        '1000 seen; later ones as "other").\n'
        "# TYPE scim_requests_by_organization_total counter\n"
        "# HELP scim_rate_limited_total Requests refused with 429 by the per-organization rate limit.\n"
        "# TYPE scim_rate_limited_total counter\n"
        "# HELP scim_database_errors_total Requests answered with a database error, by kind (unavailable: "
        "503; others: 500).\n"
        "# TYPE scim_database_errors_total counter\n"
    )


async def test_requests_are_counted_with_a_cumulative_histogram() -> None:
    metrics = Metrics(buckets=(0.01, 0.1))
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
    metrics = Metrics()
    metrics.observe_rate_limited('we"ird\\org\n')

    assert 'scim_rate_limited_total{org="we\\"ird\\\\org\\n"} 1' in metrics.render().splitlines()


async def test_a_duration_on_a_bucket_bound_counts_in_that_bucket() -> None:
    metrics = Metrics(buckets=(0.01, 0.1))
    for seconds in (0.0, 0.01, 0.010001, 0.1, 0.100001, 7.0):
        metrics.observe_request("/r", "GET", 200, seconds, None)
    counts = re.findall(r'_bucket\{route="/r",method="GET",le="([^"]+)"\} (\d+)', metrics.render())

    assert counts == [("0.01", "2"), ("0.1", "4"), ("+Inf", "6")]


async def test_series_are_kept_per_route_method_and_status_without_mixing() -> None:
    metrics = Metrics(buckets=(1.0,), max_orgs=1)
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
    metrics = Metrics(max_orgs=2)
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


async def test_metrics_are_served_in_the_prometheus_text_format(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    app = app_factory(rate_limit_per_second=1, rate_limit_burst=1)
    app[RATE_LIMITER] = RateLimiter(1, 1, clock=lambda: 0.0)
    client = await aiohttp_client(app)
    await client.get("/scim/v2/Users", headers=auth())
    await client.get("/scim/v2/Users/some-id", headers=auth())
    await client.get("/scim/v2/Users", headers=auth(TOKEN_B))
    await client.get("/scim/v2/Users", headers=auth(TOKEN_B))
    await client.get("/scim/v2/Users?filter=userName%20eq%20%22bjensen@example.com%22")
    await client.get("/no/such/path/bjensen@example.com")

    response = await client.get("/metrics")
    text = await response.text()

    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = text.splitlines()
    for line in (
        'scim_requests_total{route="/scim/v2/Users",method="GET",status="200"} 2',
        'scim_requests_total{route="/scim/v2/Users",method="GET",status="401"} 1',
        'scim_requests_total{route="/scim/v2/Users",method="GET",status="429"} 1',
        'scim_requests_total{route="/scim/v2/Users/{id}",method="GET",status="429"} 1',
        'scim_requests_total{route="unmatched",method="GET",status="404"} 1',
        'scim_requests_by_organization_total{org="orga"} 2',
        'scim_requests_by_organization_total{org="orgb"} 2',
        'scim_rate_limited_total{org="orga"} 1',
        'scim_rate_limited_total{org="orgb"} 1',
    ):
        assert line in lines, line
    bounds = re.findall(
        r'scim_request_duration_seconds_bucket\{route="/scim/v2/Users",method="GET",le="([^"]+)"\}', text
    )
    assert tuple(bounds) == BUCKETS
    # Raw paths and query strings (ids, e-mail addresses) never become label values.
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
