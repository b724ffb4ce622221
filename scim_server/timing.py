"""Time the storage calls of one request.

A leaf module, like ``errors``: the storage package records into it and the web layer reads it, without
either depending on the other.

Every driver call of the storage package runs inside :func:`~scim_server.storage.repository.driver_errors`,
which reports its duration here. :func:`measure` opens an accumulator for the current task (a request),
held in a context variable, so concurrent requests never mix their figures; tasks and threads started
by the request copy the context and so add to the same accumulator. Outside :func:`measure` nothing is
recorded (the startup work, the CLI).

The accumulated time is wall time spent awaiting the driver. On MongoDB that is mostly the round trip;
on the embedded store it is mongomock's own work, done in the event loop.
"""

from __future__ import annotations

from contextvars import ContextVar


class StorageTiming:
    """Storage time (seconds) so far in one request; also the context manager :func:`measure` returns,
    which makes it the current record inside its block (a plain class: one object per request)."""

    __slots__ = ("_token", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> StorageTiming:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _CURRENT.reset(self._token)


_CURRENT: ContextVar[StorageTiming | None] = ContextVar("scim_storage_timing", default=None)


def measure() -> StorageTiming:
    """Accumulate the storage calls made inside the block (and in tasks it starts) into a fresh record."""
    return StorageTiming()


def record(seconds: float) -> None:
    """Add one driver call of ``seconds`` to the current request's record, if one is open."""
    timing = _CURRENT.get()
    if timing is not None:
        timing.seconds += seconds


__all__ = ["StorageTiming", "measure", "record"]
