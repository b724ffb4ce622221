"""Parsing dateTime values (RFC 7643 §2.3.5), shared by validation and the filter compiler.

Pure: no clock, no locale. The store keeps datetimes at millisecond precision (BSON), so every parsed
value is truncated to milliseconds; otherwise ``eq`` against a 7-digit Entra timestamp could never match.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# xsd:dateTime / RFC 3339, leniently: 'T', 't' or a space between date and time, optional seconds,
# any number of fraction digits (Entra sends 7), 'Z' or a +hh:mm / +hhmm / +hh offset; a missing
# offset, or a bare date, means UTC.
_DATETIME = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:
        [Tt\x20]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
        (?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    )?
    """,
    re.VERBOSE | re.ASCII,
)


def parse_datetime(value: Any) -> datetime:
    """An RFC 3339 / xsd:dateTime string (or a datetime) as an aware UTC datetime, truncated to ms.

    RFC 7643 §2.3.5 sets no limit on fraction digits; the store keeps milliseconds, so more are
    truncated. Raises :class:`ValueError` for anything else.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if not isinstance(value, str):
        raise ValueError("not a dateTime string")
    match = _DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError("not an RFC 3339 dateTime")
    fraction = match["fraction"] or ""
    micro = int(fraction[:3].ljust(3, "0")) * 1000
    zone = match["zone"]
    tz = UTC
    if zone is not None and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError("invalid UTC offset")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            micro,
            tzinfo=tz,
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError("not a valid dateTime") from exc
