"""Serialized resources kept for reads: a resource version is rendered and serialized once per process.

A GET or a list page renders each resource from its stored document and serializes it to JSON; for a
resource read again at the same version, with the same projection and base URL, in the same
organization, the bytes are the same. They are kept here, keyed by exactly those, so a repeated read
(Entra's cycles re-read the same users, list pages are re-read) costs a dictionary lookup per resource.

* Never stale through the server: every write bumps ``meta.version``, so a changed resource has a new key.
  An entry is used for at most ``render_cache_seconds``, the bound on how long a change made to the
  database outside the server goes unseen.
* Bounded: at most ``render_cache_entries`` entries, oldest first out; at most 256 scopes
  (organization, resource type, projection, base URL) are named, and naming more clears the cache.
* What membership derives (a user's ``groups``, a group's ``members``) moves a resource's version too
  (``MembershipRepository.change``), but it is never kept: it is looked up per request and added to
  the kept bytes, so a change made outside the server shows there at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable

_MAX_SCOPES = 256


class RenderedCache:
    """Serialized resource bodies by (scope, id, version); see the module documentation."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._scopes: dict[Hashable, int] = {}
        self._entries: OrderedDict[tuple[int, str, int], tuple[float, bytes]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._max_entries > 0 and self._ttl > 0

    def __len__(self) -> int:
        return len(self._entries)

    def scope(self, key: Hashable) -> int:
        """A small number naming ``key`` (organization, resource type, projection, base URL)."""
        number = self._scopes.get(key)
        if number is None:
            if len(self._scopes) >= _MAX_SCOPES:
                self._scopes.clear()
                self._entries.clear()
            number = self._scopes[key] = len(self._scopes)
        return number

    def get(self, scope: int, resource_id: str, version: int, now: float) -> bytes | None:
        """The body of one resource version, if kept and not expired."""
        return self.get_many(scope, [(resource_id, version)], now)[0]

    def get_many(self, scope: int, keys: list[tuple[str, int]], now: float) -> list[bytes | None]:
        """The bodies of (resource id, version) pairs, in order (None where none is kept or it has
        expired): a page's bodies in one call."""
        entries = self._entries
        found: list[bytes | None] = []
        for resource_id, version in keys:
            entry = entries.get((scope, resource_id, version))
            found.append(None if entry is None or entry[0] <= now else entry[1])
        return found

    def put(self, scope: int, resource_id: str, version: int, body: bytes, now: float) -> None:
        key = (scope, resource_id, version)
        self._entries[key] = (now + self._ttl, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    @staticmethod
    def now() -> float:
        return time.monotonic()
