"""Parsing of filter comparison values that are not plain JSON scalars (RFC 7643 §2.3.5 dateTime).

Pure: no clock, no locale. The store keeps datetimes at millisecond precision (BSON), so every parsed
value is truncated to milliseconds; otherwise ``eq`` against a 7-digit Entra timestamp could never match.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# xsd:dateTime / RFC 3339, leniently: 'T', 't' or a space between date and time, optional seconds,
# any number of fraction digits (Entra sends 7), 'Z' or a +hh:mm / +hhmm offset; a missing offset or
# a bare date means UTC.
_DATETIME = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:
        [Tt\x20]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?
        (?P<zone>[Zz]|[+-]\d{2}:?\d{2})?
    )?
    """,
    re.VERBOSE | re.ASCII,
)


def parse_datetime(text: str) -> datetime:
    """Parse an RFC 3339 / xsd:dateTime string into an aware UTC datetime truncated to milliseconds.

    RFC 7643 §2.3.5 defines dateTime as xsd:dateTime without fraction-digit limits; Entra sends
    ``2021-09-23T19:35:41.8420572Z``. Raises :class:`ValueError` for anything else.
    """
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 dateTime: {text!r}")
    fraction = match["fraction"] or ""
    micro = int(fraction[:3].ljust(3, "0")) * 1000
    zone = match["zone"]
    tz = UTC
    if zone is not None and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError(f"invalid UTC offset in {text!r}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        value = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            micro,
            tzinfo=tz,
        )
        return value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid dateTime: {text!r}") from exc
