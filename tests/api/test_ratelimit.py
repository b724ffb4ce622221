"""Rate limiting per organization: the token bucket with an injected clock, and 429 over HTTP."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from scim_server.api.keys import RATE_LIMITER
from scim_server.api.ratelimit import RateLimiter
from scim_server.errors import ERROR_SCHEMA
from scim_server.settings import Settings
from tests.helpers import TOKEN_A, TOKEN_B, ClientFactory, auth


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_full_bucket_allows_the_burst_then_refuses() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 3, clock=clock)

    assert [limiter.acquire("acme") for _ in range(4)] == [None, None, None, 1]


async def test_tokens_come_back_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 3, clock=clock)
    for _ in range(3):
        limiter.acquire("acme")

    clock.now += 0.25  # half a token
    assert limiter.acquire("acme") == 1
    clock.now += 0.25  # one token
    assert limiter.acquire("acme") is None
    assert limiter.acquire("acme") == 1
    clock.now += 60  # refilled, but never beyond the burst
    assert [limiter.acquire("acme") for _ in range(4)] == [None, None, None, 1]


async def test_retry_after_is_the_whole_seconds_until_a_token_is_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0.25, 1, clock=clock)  # one token every 4 seconds

    assert limiter.acquire("acme") is None
    assert limiter.acquire("acme") == 4
    clock.now += 1.5
    assert limiter.acquire("acme") == 3  # 2.5 s rounded up
    clock.now += 2.5
    assert limiter.acquire("acme") is None


async def test_organizations_have_separate_buckets() -> None:
    limiter = RateLimiter(1, 1, clock=FakeClock())

    assert limiter.acquire("acme") is None
    assert limiter.acquire("acme") == 1
    assert limiter.acquire("beta") is None


async def test_idle_buckets_are_evicted_once_they_would_be_full() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 20, clock=clock)  # a bucket refills completely in 2 s
    for org in ("a", "b", "c"):
        limiter.acquire(org)
    assert len(limiter) == 3

    clock.now += 1.0
    limiter.acquire("c")
    assert len(limiter) == 3
    clock.now += 1.0  # a and b idle for 2 s: full, so the same as no bucket
    limiter.acquire("d")
    assert len(limiter) == 2


class ModelBuckets:
    """The token bucket with no eviction: one bucket per organization, forever."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str, now: float) -> int | None:
        tokens, updated = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - updated) * self.rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return None
        self.buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0, 3.0])),
        max_size=60,
    )
)
def test_dropping_idle_buckets_never_changes_an_answer(requests: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, 2, clock=clock)  # a bucket refills completely in half a second
    model = ModelBuckets(4, 2)
    for org, wait in requests:
        clock.now += wait
        assert limiter.acquire(org) == model.acquire(org, clock.now)


async def test_the_number_of_buckets_is_capped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1, clock=clock, max_buckets=100)

    for n in range(1000):
        limiter.acquire(f"org{n}")

    assert len(limiter) == 100


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
async def test_a_limiter_needs_a_positive_rate_and_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate, burst)


def limited_app(
    app_factory: Callable[..., web.Application], clock: FakeClock, rate: float = 1, burst: int = 2
) -> web.Application:
    app = app_factory(rate_limit_per_second=rate, rate_limit_burst=burst)
    app[RATE_LIMITER] = RateLimiter(rate, burst, clock=clock)
    return app


async def test_over_the_limit_a_request_gets_429_with_retry_after_and_a_scim_body(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    clock = FakeClock()
    client = await aiohttp_client(limited_app(app_factory, clock, rate=0.5, burst=2))

    statuses = [(await client.get("/scim/v2/Users", headers=auth())).status for _ in range(2)]
    refused = await client.get("/scim/v2/Users", headers=auth())

    assert statuses == [200, 200]
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "2"
    assert refused.headers["Content-Type"] == "application/scim+json; charset=utf-8"
    assert await refused.json(content_type=None) == {
        "schemas": [ERROR_SCHEMA],
        "status": "429",
        "detail": "too many requests for this organization; retry later",
    }

    clock.now += 2
    assert (await client.get("/scim/v2/Users", headers=auth())).status == 200


async def test_one_organization_over_its_limit_does_not_limit_another(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    client = await aiohttp_client(limited_app(app_factory, FakeClock(), burst=1))

    first_a = await client.get("/scim/v2/Users", headers=auth(TOKEN_A))
    second_a = await client.get("/scim/v2/Users", headers=auth(TOKEN_A))
    first_b = await client.get("/scim/v2/Users", headers=auth(TOKEN_B))

    assert (first_a.status, second_a.status, first_b.status) == (200, 429, 200)


async def test_unauthenticated_requests_are_not_counted_against_an_organization(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    client = await aiohttp_client(limited_app(app_factory, FakeClock(), burst=1))

    anonymous = [(await client.get("/scim/v2/Users")).status for _ in range(5)]
    wrong = [(await client.get("/scim/v2/Users", headers=auth("not-a-token-123"))).status for _ in range(5)]
    health = [(await client.get("/healthz")).status for _ in range(5)]
    valid = await client.get("/scim/v2/Users", headers=auth())

    assert anonymous == wrong == [401] * 5
    assert health == [200] * 5
    assert valid.status == 200


async def test_writes_and_reads_share_the_bucket_and_the_refusal_changes_nothing(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    clock = FakeClock()
    client = await aiohttp_client(limited_app(app_factory, clock, burst=1))
    body: dict[str, Any] = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@x"}

    created = await client.post("/scim/v2/Users", json=body, headers=auth())
    refused = await client.post("/scim/v2/Users", json={**body, "userName": "b@x"}, headers=auth())
    clock.now += 1
    listing = await client.get("/scim/v2/Users", headers=auth())

    assert (created.status, refused.status) == (201, 429)
    assert [user["userName"] for user in (await listing.json())["Resources"]] == ["a@x"]


async def test_a_rate_of_zero_turns_the_limit_off(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    app = app_factory(rate_limit_per_second=0, rate_limit_burst=1)
    client = await aiohttp_client(app)

    statuses = {(await client.get("/scim/v2/Users", headers=auth())).status for _ in range(20)}

    assert RATE_LIMITER not in app
    assert statuses == {200}


async def test_default_settings_have_no_rate_limit(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    app = app_factory()
    client = await aiohttp_client(app)

    # Far past the burst any limit would allow, as fast as the client sends them.
    statuses = {(await client.get("/scim/v2/Users", headers=auth())).status for _ in range(300)}

    assert Settings().rate_limit_per_second == 0
    assert RATE_LIMITER not in app
    assert statuses == {200}


async def test_a_limit_turned_on_in_the_settings_allows_its_burst_then_answers_429(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    # One token every 1000 s: within the test, only the burst is available.
    client = await aiohttp_client(app_factory(rate_limit_per_second=0.001, rate_limit_burst=5))

    statuses = [(await client.get("/scim/v2/Users", headers=auth())).status for _ in range(7)]
    other = await client.get("/scim/v2/Users", headers=auth(TOKEN_B))

    assert statuses == [200] * 5 + [429] * 2
    assert other.status == 200


async def test_a_limit_of_100_a_second_with_bursts_of_200_is_generous_for_an_idp(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application]
) -> None:
    clock = FakeClock()
    client = await aiohttp_client(limited_app(app_factory, clock, rate=100, burst=200))

    # Entra ID sends up to about 25 requests a second per tenant: 10 seconds at 30 a second all pass.
    statuses = set()
    for _ in range(10):
        for _ in range(30):
            statuses.add((await client.get("/scim/v2/ServiceProviderConfig", headers=auth())).status)
        clock.now += 1
    assert statuses == {200}
