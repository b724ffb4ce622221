"""Cursors of cursor paging (RFC 9865 §2): opaque, tamper-evident positions in one query's order.

A cursor names where a page ends (or begins, for the page before it) by the sort key of a resource:
the values of the sort fields and the id (``storage/keyset.py`` turns it into a range read). It reads
``<payload>.<tag>``, both base64url without padding, so only unreserved characters (RFC 3986 §2.3),
as RFC 9865 §2 asks:

* the payload is JSON: the direction, the position and the expiry time (Unix seconds);
* the tag is HMAC-SHA256 over the payload and the query it belongs to: the organization, the
  endpoint, the filter text and the sort (the compiled order, so ``sortBy=userName`` and
  ``sortBy=username`` are one order). A cursor edited by hand, presented by another organization,
  or with another filter or sort fails the tag and is answered 400 ``invalidCursor``; a cursor
  presented after its expiry, 400 ``expiredCursor`` (RFC 9865 §2.1). Nothing is kept per cursor.

The key is derived from the ``cursor_secret`` setting, or, when it is empty, from a secret stored once
in the database (``storage/secrets.py``), so a cursor issued by one worker process is read by every
other, and across restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim_server.errors import ScimError
from scim_server.settings import Settings

# How long a cursor stays valid after it was issued, advertised as pagination.cursorTimeout.
CURSOR_TIMEOUT_SECONDS = 3600
# Longer cursors are not ours: refused before any decoding.
MAX_CURSOR_LENGTH = 4096
_VERSION = 1
_FORWARD, _BACKWARD = "n", "p"

SecretSource = Callable[[], Awaitable[bytes]]
Clock = Callable[[], float]


class InvalidCursorError(ScimError):
    """A cursor this server did not issue for this query (RFC 9865 §2.1 ``invalidCursor``)."""

    status = 400
    scim_type = "invalidCursor"


class ExpiredCursorError(ScimError):
    """A cursor older than ``cursorTimeout`` (RFC 9865 §2.1 ``expiredCursor``)."""

    status = 400
    scim_type = "expiredCursor"


class InvalidCountError(ScimError):
    """A ``count`` cursor paging cannot serve (RFC 9865 §2.1 ``invalidCount``): it must be positive."""

    status = 400
    scim_type = "invalidCount"


INVALID_CURSOR_DETAIL = (
    "the cursor is not one this server issued for this query: send an empty cursor for the first page, "
    "then the nextCursor or previousCursor of a response, with the same filter and sort"
)


@dataclass(frozen=True, slots=True)
class CursorScope:
    """What a cursor is bound to: one organization's query at one endpoint."""

    org_id: str
    endpoint: str
    filter: str
    sort: str


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page starts: after ``key`` (``backwards``: the page that ends before ``key``).

    ``key`` is None for the start of the results. A key is a tuple of scalar values (strings,
    numbers, booleans, None, datetimes), or, for a query over several types, a tuple of such keys.
    """

    key: tuple[Any, ...] | None
    backwards: bool = False


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, tuple | list):
        return {"k": [_encode(v) for v in value]}
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise TypeError(f"a cursor cannot hold a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if isinstance(text := value.get("t"), str):
            return datetime.fromisoformat(text)
        if isinstance(items := value.get("k"), list):
            return tuple(_decode(v) for v in items)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ValueError("not a cursor value")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(secret: bytes) -> bytes:
    """The HMAC key of cursors from a configured or stored secret (never the secret itself)."""
    return hashlib.sha256(b"scim-server cursor key\x00" + secret).digest()


class Cursors:
    """Issues and reads cursors with a key from ``secret`` (read once, on first use)."""

    def __init__(
        self,
        secret: SecretSource,
        *,
        timeout_seconds: int = CURSOR_TIMEOUT_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        self._secret = secret
        self._key: bytes | None = None
        self.timeout_seconds = timeout_seconds
        self._clock = clock

    async def _hmac_key(self) -> bytes:
        if self._key is None:
            self._key = derive_key(await self._secret())
        return self._key

    @staticmethod
    def _message(scope: CursorScope, payload: str) -> bytes:
        bound = json.dumps([_VERSION, scope.org_id, scope.endpoint, scope.filter, scope.sort])
        return f"{bound}\n{payload}".encode()

    async def issue(self, scope: CursorScope, position: Position) -> str:
        """A cursor for ``position`` in the query ``scope``, valid for ``timeout_seconds``."""
        expires = int(self._clock()) + self.timeout_seconds
        direction = _BACKWARD if position.backwards else _FORWARD
        key = None if position.key is None else _encode(position.key)
        payload = _b64(json.dumps([direction, key, expires], separators=(",", ":")).encode())
        tag = hmac.new(await self._hmac_key(), self._message(scope, payload), hashlib.sha256).digest()
        return f"{payload}.{_b64(tag)}"

    async def read(self, scope: CursorScope, text: str) -> Position:
        """The position a cursor names; the empty cursor is the start (RFC 9865 §2: the first page).

        Raises :class:`InvalidCursorError` unless this server issued the cursor for this very scope,
        :class:`ExpiredCursorError` when it did but the cursor is past its expiry.
        """
        if text == "":
            return Position(None)
        payload, dot, tag_text = text.partition(".")
        if len(text) > MAX_CURSOR_LENGTH or not dot or not payload or not tag_text:
            raise InvalidCursorError(INVALID_CURSOR_DETAIL)
        try:
            tag = _unb64(tag_text)
            expected = hmac.new(
                await self._hmac_key(), self._message(scope, payload), hashlib.sha256
            ).digest()
            if not hmac.compare_digest(tag, expected):
                raise InvalidCursorError(INVALID_CURSOR_DETAIL)
            direction, key, expires = json.loads(_unb64(payload))
            if direction not in (_FORWARD, _BACKWARD) or type(expires) is not int:
                raise ValueError("not a cursor payload")
            decoded = None if key is None else _decode(key)
            if decoded is not None and not isinstance(decoded, tuple):
                raise ValueError("not a cursor position")
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise InvalidCursorError(INVALID_CURSOR_DETAIL) from None
        if self._clock() > expires:
            raise ExpiredCursorError(
                f"the cursor has expired: request the next page within {self.timeout_seconds} seconds "
                "of the previous one (pagination.cursorTimeout), or start again with an empty cursor"
            )
        return Position(decoded, backwards=direction == _BACKWARD)


def sort_identity(sort: Sequence[tuple[str, int]]) -> str:
    """The order a cursor is bound to, as compiled: equal spellings of one sortBy give one order."""
    return ",".join(f"{field}:{direction}" for field, direction in sort)


async def neighbour_cursors(
    cursors: Cursors,
    scope: CursorScope,
    position: Position,
    *,
    first: tuple[Any, ...] | None,
    last: tuple[Any, ...] | None,
    more: bool,
) -> tuple[str | None, str | None]:
    """The ``nextCursor`` and ``previousCursor`` of a page read from ``position`` whose first and
    last positions are ``first`` and ``last`` (None: the page is empty), ``more`` telling whether
    more lie beyond it in the direction it was read.

    ``nextCursor`` is left out only on the last page (RFC 9865 §2), ``previousCursor`` on the first;
    a page read backwards that comes out empty has nothing before it, so its next page is the first.
    """
    next_cursor = previous_cursor = None
    if last is not None and first is not None:
        if more or position.backwards:
            next_cursor = await cursors.issue(scope, Position(last))
        if more if position.backwards else position.key is not None:
            previous_cursor = await cursors.issue(scope, Position(first, backwards=True))
    elif position.backwards:
        next_cursor = await cursors.issue(scope, Position(None))
    return next_cursor, previous_cursor


def cursor_secret(settings: Settings, stored: SecretSource | None = None) -> SecretSource:
    """Where the cursor key comes from: the ``cursor_secret`` setting when set; else ``stored`` (the
    application's: a secret kept once in the database for every worker); else, for a service built
    without one (tests, tools), a random secret of this process."""
    if settings.cursor_secret:
        return fixed_secret(settings.cursor_secret.encode())
    if stored is not None:
        return stored
    return fixed_secret(os.urandom(32))


def fixed_secret(secret: bytes) -> SecretSource:
    """A secret source for a secret known in advance (the ``cursor_secret`` setting, tests)."""

    async def source() -> bytes:
        return secret

    return source


__all__ = [
    "CURSOR_TIMEOUT_SECONDS",
    "CursorScope",
    "Cursors",
    "ExpiredCursorError",
    "InvalidCountError",
    "InvalidCursorError",
    "Position",
    "cursor_secret",
    "derive_key",
    "fixed_secret",
    "neighbour_cursors",
    "sort_identity",
]
