"""Rate limiting per organization: a token bucket for each organization, in each process.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; each authenticated
request takes one. An empty bucket answers 429 with ``Retry-After``: the whole seconds until a token
is back. Buckets live in the process, so with K worker processes an organization can reach K times
the configured rate.

The limiter exists only when ``rate_limit_per_second`` is above 0, which is not the default: an IdP's
first sync, a conformance checker or a benchmark must never meet a 429 at default settings. An
operator who turns it on should leave an IdP room (Entra ID sends up to about 25 requests a second
per tenant); 100 a second with bursts of 200 stops runaway clients and no IdP.

Memory is bounded: a bucket idle long enough to have refilled completely is the same as a new one and
is dropped when a new bucket is made, and at most ``max_buckets`` are kept (the least recently used goes
first, which can only make the limit more lenient for that organization, never stricter).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]

MAX_BUCKETS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by organization id; ``clock`` is monotonic seconds (injected in tests)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        if rate <= 0 or burst < 1 or max_buckets < 1:
            raise ValueError("rate must be positive and burst and max_buckets at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._max_buckets = max_buckets
        # Ordered by last use, oldest first: idle buckets are found at the front.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._refill_seconds = burst / rate

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> int | None:
        """Take a token for ``key``: None when allowed, else the seconds to wait (at least 1)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            # Only a new bucket adds to memory, so idle ones are dropped here; until then an idle one
            # is full, which answers as no bucket would.
            self._evict_idle(now)
            bucket = _Bucket(self._burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))

    def _evict_idle(self, now: float) -> None:
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.updated < self._refill_seconds:
                return
            del self._buckets[key]
