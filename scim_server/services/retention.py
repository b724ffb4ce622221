"""Purging soft-deleted resources once their organization's retention has passed.

A soft-deleted User or Group (``delete = "soft"`` in the organizations file) keeps its document,
marked with the time of its deletion, for ``soft_delete_retention_days``; then the server removes it
for good. Each pass removes at most a batch per organization and resource type, so a pass's cost is
bounded however many deletions are due; what is left waits for the next pass. The retention is the
organization's as configured now (an organization no longer in the file has the default), so a
reload that shortens it takes effect at the next pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from scim_server.services.clock import Clock, utc_now
from scim_server.services.organizations import OrganizationsRegistry
from scim_server.services.resources import ResourceService

PURGE_BATCH = 1000


class DeletedPurge:
    """Removes resources soft-deleted longer ago than their organization's retention."""

    def __init__(
        self,
        services: Sequence[ResourceService],
        organizations: Callable[[], Awaitable[list[str]]],
        registry: OrganizationsRegistry,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._services = services
        self._organizations = organizations
        self._registry = registry
        self._clock = clock

    async def purge(self, *, batch: int = PURGE_BATCH) -> int:
        """One pass over every organization with resources: at most ``batch`` of each resource type
        removed per organization; how many in all."""
        now = self._clock()
        removed = 0
        for org_id in await self._organizations():
            retention = timedelta(days=self._registry.get(org_id).soft_delete_retention_days)
            for service in self._services:
                removed += await service.purge_deleted(org_id, now - retention, batch)
        return removed
