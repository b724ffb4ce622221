"""Time, truncated to what the store keeps (BSON datetimes have millisecond precision)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    """Now in UTC, to the millisecond: ``datetime.now(UTC)`` with its microseconds cut to milliseconds.

    Made from the integer milliseconds since the epoch, which is exact and cheaper than
    ``now().replace(...)``; every write reads it, and every token lookup that goes to the store.
    """
    ms = time.time_ns() // 1_000_000
    return _EPOCH + timedelta(0, ms // 1000, ms % 1000 * 1000)
