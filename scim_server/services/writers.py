"""One writer at a time per resource, within this process.

Writers to one resource queue up here instead of racing and retrying against the version guard (which
still protects against other processes). An uncontended writer costs a dict lookup and an insert, with
no await; only a writer that must wait makes a future and awaits it. That is why this is not an
``asyncio.Lock`` per resource, which makes a lock and two coroutines on every write.

Writers get the resource in arrival order. A writer cancelled while waiting leaves the queue; one
cancelled just after it was handed the resource hands it on, so a cancellation never leaves a resource
held. A key is forgotten as soon as its last writer leaves: memory is bounded by the writes in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable


class Writers:
    """Mutual exclusion per key, first come first served; ``enter`` then ``leave``."""

    __slots__ = ("_queues",)

    def __init__(self) -> None:
        # Held keys, each with the futures of the writers waiting for it.
        self._queues: dict[Hashable, deque[asyncio.Future[None]]] = {}

    def __len__(self) -> int:
        """How many keys are held."""
        return len(self._queues)

    async def wait(self, key: Hashable, turn: asyncio.Future[None]) -> None:
        """Wait for ``turn`` (from :meth:`enter`); the key is held when this returns."""
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave(key)  # it was handed over just before the cancellation: hand it on
            raise

    def enter(self, key: Hashable) -> asyncio.Future[None] | None:
        """Take ``key``: None when it is now held by the caller, else a turn to pass to :meth:`wait`."""
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = deque()
            return None
        turn = asyncio.get_running_loop().create_future()
        queue.append(turn)
        return turn

    def leave(self, key: Hashable) -> None:
        """Release ``key``: hand it to the first writer still waiting, or forget it."""
        queue = self._queues[key]
        while queue:
            turn = queue.popleft()
            if not turn.done():  # a cancelled writer's turn is done already
                turn.set_result(None)
                return
        del self._queues[key]
