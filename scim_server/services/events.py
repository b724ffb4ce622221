"""Change events: the audit log read as a feed, in commit order, with opaque cursors.

Every recorded write (``services/audit.py``) is one event, written once with the organization's next
sequence number. The wire form (:func:`render_event`) names the resource, its version and the
changed attribute paths, never a value::

    {"id", "type": "User.updated", "time", "organization",
     "resource": {"type", "id", "version"}, "changed": [...], "actor": <token name>}

**Commit order and the cursor.** Sequence numbers are taken from one counter document per
organization with ``$inc`` (atomic, so unique and totally ordered across processes), and the event
is inserted right after. Two writers can finish out of order: number n+1 may be visible while n is
still being inserted. A cursor is "every event up to n has been seen", so the feed returns only a
*contiguous* run of numbers after the cursor and stops at the first missing one. A number can also
stay missing for good (the writer crashed, or the database failed, between the two steps); the
feed gives such a number up once the first event after it is older than ``gap_grace_seconds``
(its ``_id`` timestamp is when its number was taken). So an event is delivered exactly once unless
its own insert lands more than the grace period after its number was taken, which a live database
does not do.

**Retention.** Events older than ``event_retention_days`` are purged, a bounded number per pass, by
:meth:`EventFeed.purge`; the counter keeps the highest purged number, and a cursor below it answers
410 Gone (its consumer has missed events that no longer exist).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scim_server.errors import CursorExpiredError, InvalidValueError
from scim_server.services.clock import Clock, utc_now
from scim_server.services.render import etag, format_datetime
from scim_server.storage.audit import AuditStore

EVENT_TYPES = {
    "create": "created",
    "replace": "updated",
    "patch": "updated",
    "delete": "deleted",
    "restore": "restored",
}
_CURSOR_PREFIX = b"ev1:"
PURGE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One answer of the feed: events in commit order and the cursor to continue from."""

    events: list[dict[str, Any]]
    next: str


def encode_cursor(seq: int) -> str:
    """An opaque cursor meaning "every event up to sequence number ``seq`` has been seen"."""
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + str(seq).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sequence number in a cursor made by :func:`encode_cursor`; 400 invalidValue otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    number = raw[len(_CURSOR_PREFIX) :]
    if not raw.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 18:
        raise InvalidValueError(
            "'after' is not a cursor this server issued (use the 'next' of a feed answer)"
        )
    return int(number)


def render_event(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The wire form of a stored event: names and paths only, never attribute values."""
    version = doc.get("version")
    return {
        "id": str(doc["_id"]),
        "type": f"{doc['resourceType']}.{EVENT_TYPES[doc['operation']]}",
        "time": format_datetime(doc["time"]),
        "organization": doc["org"],
        "resource": {
            "type": doc["resourceType"],
            "id": doc["resourceId"],
            "version": None if version is None else etag(version),
        },
        "changed": list(doc.get("changed", ())),
        "actor": doc.get("tokenName"),
    }


def _taken_at(doc: Mapping[str, Any]) -> datetime:
    """When the event's sequence number was taken: its ObjectId's timestamp."""
    generated: datetime = doc["_id"].generation_time
    return generated


class EventFeed:
    """Reads an organization's events after a cursor, in commit order; purges expired ones."""

    def __init__(
        self,
        store: AuditStore,
        *,
        retention_days: int,
        gap_grace_seconds: float,
        clock: Clock = utc_now,
        wall_clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._retention = timedelta(days=retention_days)
        self._grace = timedelta(seconds=gap_grace_seconds)
        self._clock = clock
        # Gap ages compare with ObjectId timestamps, which are real time whatever ``clock`` says.
        self._wall_clock = wall_clock

    async def page(self, org_id: str, cursor: str | None, limit: int) -> FeedPage:
        """``GET /events``: up to ``limit`` events after ``cursor`` (the oldest retained without one).

        410 when events after the cursor were purged; 400 for a cursor this server did not issue or
        one ahead of every event.
        """
        repository = await self._store.events(org_id)
        state = await repository.sequence()
        if cursor is None:
            after = state.purged
        else:
            after = decode_cursor(cursor)
            if after < state.purged:
                raise CursorExpiredError(
                    f"the cursor is older than the retained events (kept {self._retention.days} days): "
                    "events after it were removed; start again without 'after'"
                )
            if after > state.last:
                raise InvalidValueError("'after' is ahead of every event (a cursor of another organization?)")
        docs = await self.after(org_id, after, limit)
        last = docs[-1]["seq"] if docs else after
        return FeedPage([render_event(doc) for doc in docs], encode_cursor(last))

    async def after(self, org_id: str, seq: int, limit: int) -> list[dict[str, Any]]:
        """The stored events after ``seq`` that are committed in order: a contiguous run of sequence
        numbers, where a number missing for longer than the grace period is given up (module doc)."""
        repository = await self._store.events(org_id)
        docs = await repository.after(seq, limit)
        run: list[dict[str, Any]] = []
        expected = seq + 1
        now = self._wall_clock()
        for doc in docs:
            if doc["seq"] != expected and now - _taken_at(doc) < self._grace:
                break  # n+1 is visible but n is not yet: wait for n
            run.append(doc)
            expected = doc["seq"] + 1
        return run

    async def head(self, org_id: str) -> int:
        """The last sequence number taken in the organization (0 before its first event)."""
        return (await (await self._store.events(org_id)).sequence()).last

    async def purge(self, *, batch: int = PURGE_BATCH) -> int:
        """Remove events older than the retention, at most ``batch`` per organization; how many."""
        before = self._clock() - self._retention
        removed = 0
        for org_id in await self._store.organizations():
            removed += await (await self._store.events(org_id)).purge(before, batch)
        return removed
