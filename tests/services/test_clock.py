from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scim_server.services import clock
from scim_server.services.clock import utc_now

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999_999))  # to the end of year 9999
def test_the_time_is_the_system_clock_cut_to_milliseconds(ns: int) -> None:
    # What datetime.now(UTC) reads, floored to the microsecond, then cut to the millisecond.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock.time, "time_ns", lambda: ns)
        now = utc_now()
    assert now.tzinfo is UTC
    assert now - EPOCH == timedelta(milliseconds=ns // 1_000_000)
    assert now.microsecond % 1000 == 0


def test_now_is_between_two_readings_of_the_system_clock() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    after = datetime.now(UTC)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= now <= after
