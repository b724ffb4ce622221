"""The SCIM resource service: create, read, replace, patch, delete and search (RFC 7644 §3).

No HTTP here: handlers pass parsed JSON and header values in and get stored resources back. No Mongo
documents either: the service passes the repository canonical resources with their metadata
(:class:`StoredResource`), compiled queries and sort specs, and the repository stores them. Every write
is one version-guarded store operation: a replace or patch that loses a race re-reads and re-applies
(or answers 412 when the client pinned a version with If-Match), so concurrent writers never lose
each other's changes and a failed request leaves nothing half-written.

The organizations file (``services/organizations.py``) changes two rules per organization, read per
request so that a reload takes effect at once: with ``delete = "soft"`` a DELETE marks the resource
deleted instead of removing it (the repository hides it from every query) and a later POST naming it
(its ``userName``, a group's ``displayName``) restores it; with ``adopt_existing`` a POST naming a
live resource replaces it as a PUT would instead of answering 409 (docs/organizations.md).

Every write that took effect is then recorded in the audit trail (``services/audit.py``) with the
``actor`` the caller names; a write that changed nothing (a PATCH setting values already there) is
not a write and records nothing.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from scim_server.compiler.patch import apply_patch, parse_patch_request, simple_assignments
from scim_server.compiler.query import compile_filter, membership_references, string_comparison
from scim_server.compiler.sort import SortSpec, compile_sort
from scim_server.errors import (
    ConflictError,
    InvalidPathError,
    InvalidSyntaxError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
    ScimError,
    UniquenessError,
)
from scim_server.filters import Compare, Filter, parse_attr_path, parse_filter, split_one_comparison
from scim_server.schema.catalog import GROUP_MEMBERS, USER_GROUPS, ResourceType
from scim_server.schema.mutability import check_immutable
from scim_server.schema.validation import check_resource, coerce_resource
from scim_server.services.audit import (
    Actor,
    AuditEvent,
    AuditTrail,
    MemberChange,
    changed_paths,
    created_paths,
)
from scim_server.services.clock import Clock, utc_now
from scim_server.services.cursors import (
    Cursors,
    CursorScope,
    InvalidCountError,
    Position,
    cursor_secret,
    neighbour_cursors,
    sort_identity,
)
from scim_server.services.ids import new_resource_id
from scim_server.services.listing import SearchRequest
from scim_server.services.organizations import (
    DEFAULT_ORGANIZATION,
    OrganizationConfig,
    OrganizationsRegistry,
)
from scim_server.services.passwords import hash_password
from scim_server.services.render import ALL, Projection
from scim_server.services.writers import Writers
from scim_server.settings import Settings
from scim_server.storage.client import LARGEST_SKIP

# StoredResource is what this service returns; the web layer takes the type from here.
from scim_server.storage.documents import StoredResource as StoredResource
from scim_server.storage.documents import changed_keys
from scim_server.storage.repository import (
    MEMBER_DISPLAY,
    MembershipRepository,
    ResourceRepository,
    Shown,
)

_MAX_WRITE_ATTEMPTS = 50
# Filters are request text: the caches of what is derived from them are bounded.
_FILTER_CACHE_SIZE = 512
_COMPARISON_CACHE_SIZE = 256

RepositoryFactory = Callable[[str], Awaitable[ResourceRepository]]
MembershipFactory = Callable[[str], Awaitable[MembershipRepository]]
# Runs after a guarded write succeeded (a group's membership changes); returns what it changed.
# A change of members moves the version once more after it (``_write``).
AfterWrite = Callable[[], Awaitable[MemberChange | None]]


class FilterLimits(NamedTuple):
    """The configured bounds of a filter's text (``Settings.max_filter_*``)."""

    length: int
    depth: int
    terms: int


class _ParsedFilter(NamedTuple):
    ast: Filter
    # The member ids the filter compares groups.value or members.value with: its compiled query
    # depends on memberships looked up for them, so it is compiled per request.
    references: frozenset[str]
    # The compiled query, when it depends on the text alone.
    compiled: dict[str, Any] | None


@functools.lru_cache(maxsize=_FILTER_CACHE_SIZE)
def _parsed_filter(text: str, resource_type: ResourceType, limits: FilterLimits) -> _ParsedFilter:
    """A filter parsed, and compiled unless it names memberships; cached by text, as IdPs repeat
    their filters. A filter that fails raises every time (exceptions are not cached)."""
    ast = parse_filter(
        text,
        schema_uris=resource_type.schema_uris,
        max_length=limits.length,
        max_depth=limits.depth,
        max_terms=limits.terms,
    )
    references = membership_references(ast, resource_type)
    return _ParsedFilter(ast, references, None if references else compile_filter(ast, resource_type))


# Stands in for the string of a probe when its shape is compiled: any plain string parses alike.
_PROBE_STRING = "x"


@functools.lru_cache(maxsize=_COMPARISON_CACHE_SIZE)
def _string_comparison(
    path: str, op: str, resource_type: ResourceType
) -> Callable[[str], dict[str, Any]] | None:
    """The compiled query of ``<path> <op> "<string>"`` as a function of the string (the path as
    written, the operator in lower case: :func:`split_one_comparison`), or None when that filter is
    not compiled from its string alone (:func:`~scim_server.compiler.query.string_comparison`) or
    does not parse. An IdP's probes are new text each time (``userName eq "<each user>"``) in a few
    shapes, so the shape is cached, not the text. The caller applies the configured limits to the
    text itself: a single comparison within them parses as this one does."""
    text = f'{path} {op} "{_PROBE_STRING}"'
    try:
        ast = parse_filter(text, schema_uris=resource_type.schema_uris, max_length=len(text))
    except ScimError:
        return None  # the filter's own text is parsed, and its error answered, by the general path
    if not isinstance(ast, Compare) or ast.value != _PROBE_STRING:
        return None
    return string_comparison(ast.path, ast.op, resource_type)


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int
    # None for a page read by cursor (RFC 9865), which has no index.
    start_index: int | None
    resources: list[StoredResource]
    next_cursor: str | None = None
    previous_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class KeyedPage:
    """A page read by key: the resources with their positions (sort key values), in order, and
    whether more lie beyond the page in the direction it was read."""

    rows: list[tuple[StoredResource, tuple[Any, ...]]]
    more: bool


def matches_if_match(header: str | None, version: int) -> bool:
    """RFC 7232 §3.1 over weak tags: ``*`` or any listed tag naming the current version."""
    if header is None:
        return True
    current = f'"{version}"'
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == current:
            return True
    return False


class ResourceService:
    """SCIM semantics for one resource type over per-organization repositories.

    ``resource_types`` gives an organization's own resource type (the built-in one with the
    extensions it declares, ``schema/declared.py``); a caller serves an organization through
    :meth:`for_organization`, whose ``resource_type`` is that one.
    """

    def __init__(
        self,
        resource_type: ResourceType,
        repositories: RepositoryFactory,
        memberships: MembershipFactory,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        audit: AuditTrail | None = None,
        resource_types: Callable[[str], ResourceType] | None = None,
        organizations: OrganizationsRegistry | None = None,
        cursors: Cursors | None = None,
    ) -> None:
        self.resource_type = resource_type
        self._resource_types = resource_types
        # Per organization with a resource type of its own: this service bound to it.
        self._bound: dict[str, ResourceService] = {}
        self._organizations = organizations
        # Paging cursors (RFC 9865); the application passes ones keyed by a secret every worker shares.
        self.cursors = cursors or Cursors(cursor_secret(settings))
        self._repositories = repositories
        self._memberships = memberships
        self._settings = settings
        self._clock = clock
        self._audit = audit
        # The attribute other resources' membership entries show as this one's ``display``.
        self._display = MEMBER_DISPLAY.get(resource_type.name)
        # The attribute derived from membership pairs (a user's groups, a group's members), if any.
        self._derived = next(
            (a for a in resource_type.schema.attributes if a is USER_GROUPS or a is GROUP_MEMBERS), None
        )
        self._filter_limits = FilterLimits(
            settings.max_filter_length, settings.max_filter_depth, settings.max_filter_terms
        )
        # Writers to one resource in this process queue up instead of racing and retrying; the
        # version guard still protects against other processes.
        self._writers = Writers()

    def for_organization(self, org_id: str) -> ResourceService:
        """This service as organization ``org_id`` sees it: over its resource type (its declared
        extensions validated, stored, filtered, sorted, patched and rendered). Itself when the
        organization has the built-in one; otherwise a copy sharing everything else (repositories,
        writers' queues, audit), made once per resource type (once per load of the organizations
        file), so that what is cached per resource type stays cached."""
        if self._resource_types is None:
            return self
        resource_type = self._resource_types(org_id)
        if resource_type is self.resource_type:
            return self
        bound = self._bound.get(org_id)
        if bound is None or bound.resource_type is not resource_type:
            bound = copy.copy(self)
            bound.resource_type = resource_type
            bound._bound = {}
            bound._resource_types = None
            self._bound[org_id] = bound
        return bound

    async def _hold(self, org_id: str, resource_id: str) -> tuple[str, str]:
        """Take the resource for one writer; the caller releases the key it returns with
        ``self._writers.leave`` in a ``finally``. (No async context manager: on every write, its
        object and two coroutines cost more than the rest of the lock.)"""
        key = (org_id, resource_id)
        turn = self._writers.enter(key)
        if turn is not None:
            await self._writers.wait(key, turn)
        return key

    def _config(self, org_id: str) -> OrganizationConfig:
        """The organization's configuration now (the organizations file, as last (re)loaded)."""
        return DEFAULT_ORGANIZATION if self._organizations is None else self._organizations.get(org_id)

    def _not_found(self, resource_id: str) -> NotFoundError:
        return NotFoundError(f"{self.resource_type.name} {resource_id} not found")

    async def _existing(
        self, repo: ResourceRepository, resource_id: str, *, response_only: bool = False
    ) -> StoredResource:
        stored = await repo.get(resource_id, response_only=response_only)
        if stored is None:
            raise self._not_found(resource_id)
        return stored

    async def _secure(self, resource: dict[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
        """Hash a new password (writeOnly) so that only its hash is stored."""
        password = resource.get("password")
        if password is not None and (previous is None or password != previous.get("password")):
            resource["password"] = await asyncio.to_thread(hash_password, password)
        return resource

    async def _record(
        self,
        org_id: str,
        actor: Actor | None,
        operation: str,
        resource_id: str,
        *,
        changed: list[str],
        members: MemberChange | None = None,
        version: int | None = None,
        when: datetime | None = None,
    ) -> None:
        """Add a successful write to the audit trail (if there is one); never raises."""
        if self._audit is None:
            return
        if members is not None and (members.added or members.removed):
            changed = sorted({*changed, "members"})
        await self._audit.record(
            AuditEvent(
                time=when or self._clock(),
                org_id=org_id,
                token_id=None if actor is None else actor.token_id,
                token_name=None if actor is None else actor.token_name,
                resource_type=self.resource_type.name,
                resource_id=resource_id,
                operation=operation,
                changed=tuple(changed),
                members=members,
                version=version,
            )
        )

    async def _record_created(
        self,
        org_id: str,
        actor: Actor | None,
        stored: StoredResource,
        members: MemberChange | None = None,
        *,
        operation: str = "create",
    ) -> None:
        """Record a write that set the whole resource (a create, or a restore): every path it holds
        changed, at the resource's last modification."""
        await self._record(
            org_id,
            actor,
            operation,
            stored.id,
            changed=created_paths(stored.resource, self.resource_type),
            members=members,
            version=stored.version,
            when=stored.last_modified,
        )

    # -- create / read -------------------------------------------------------------------------

    async def create(self, org_id: str, body: Any, *, actor: Actor | None = None) -> StoredResource:
        """POST (RFC 7644 §3.3): validate, assign id and meta, insert; 409 uniqueness on a clash,
        unless the name is held by a resource to restore or adopt (:meth:`_claim`)."""
        fresh = await self._new(body)
        try:
            await (await self._repositories(org_id)).insert(fresh)
        except UniquenessError as clash:
            return await self._claim(org_id, body, fresh, clash, actor=actor)
        await self._record_created(org_id, actor, fresh)
        return fresh

    async def _claim(
        self,
        org_id: str,
        body: Any,
        fresh: StoredResource,
        clash: UniquenessError,
        *,
        actor: Actor | None,
    ) -> StoredResource:
        """A POST whose resource ``fresh`` (``body`` validated, not stored) clashed on a unique value.

        When the value that clashed is its name (:data:`~scim_server.storage.repository.UNIQUE_NAME`)
        and the resource holding it is soft-deleted, that resource is restored with ``fresh``'s
        attributes (:meth:`_restore`), whatever the organization's delete setting is now: until it is
        purged, it keeps its name. When the holder is live and the organization adopts existing
        resources, ``body`` replaces it as a PUT would (:meth:`replace`: immutable attributes
        checked, audited as an update). Otherwise the clash stands (409). Both answer the resource
        with its own ``id``; a POST answers it with 201 either way.
        """
        repo = await self._repositories(org_id)
        for _ in range(_MAX_WRITE_ATTEMPTS):
            held = await repo.holder(fresh.resource)
            if held is None:
                raise clash  # another unique value clashed, or the name is free again
            holder, deleted = held
            if deleted:
                restored = await self._restore(org_id, holder, fresh, body, actor=actor)
                if restored is not None:
                    return restored
                continue  # restored or purged by another writer first: look again
            if not self._config(org_id).adopt_existing:
                raise clash
            try:
                return await self.replace(org_id, holder.id, body, None, actor=actor)
            except NotFoundError:
                continue  # deleted meanwhile: look again
        raise ConflictError(f"{self.resource_type.name} is being created and deleted too often; retry")

    async def _restore(
        self,
        org_id: str,
        deleted: StoredResource,
        fresh: StoredResource,
        body: Any,
        *,
        actor: Actor | None,
    ) -> StoredResource | None:
        """Make the soft-deleted ``deleted`` live again with ``fresh``'s attributes (all of them: what
        the POST's body gives, as a new resource; nothing of the deleted one's is kept but its ``id``
        and ``meta.created``), at its next version; audited as a ``restore``. None when another
        writer restored or purged it first. What a restore also writes (a group's members in the
        body) is checked before anything is written (:meth:`_restored_members`)."""
        repo = await self._repositories(org_id)
        key = await self._hold(org_id, deleted.id)
        try:
            after = await self._restored_members(org_id, deleted.id, body)
            restored = await repo.restore(deleted, fresh.resource, last_modified=self._clock())
            if restored is None:
                return None
            members = None if after is None else await after()
            if members is not None and (members.added or members.removed):
                restored = await repo.bump(restored, last_modified=self._clock())
            await self._record_created(org_id, actor, restored, members, operation="restore")
            return restored
        finally:
            self._writers.leave(key)

    async def _restored_members(self, org_id: str, resource_id: str, body: Any) -> AfterWrite | None:
        """What a restore writes besides the resource (a group's members), checked; None for none."""
        return None

    async def _new(self, body: Any) -> StoredResource:
        """A resource to create, validated, with its id and first version; not yet stored."""
        resource = self._coerce(body)
        check_resource(resource, self.resource_type)
        resource = await self._secure(resource, None)
        now = self._clock()
        return StoredResource(new_resource_id(), resource, now, now, 1)

    async def get(self, org_id: str, resource_id: str, *, response_only: bool = False) -> StoredResource:
        """GET (RFC 7644 §3.4.1). ``response_only``: the resource is only to be rendered, so what no
        response shows is left in the store (``StoredResource.response_only``)."""
        repo = await self._repositories(org_id)
        return await self._existing(repo, resource_id, response_only=response_only)

    # -- writes --------------------------------------------------------------------------------

    async def replace(
        self, org_id: str, resource_id: str, body: Any, if_match: str | None, *, actor: Actor | None = None
    ) -> StoredResource:
        """PUT (RFC 7644 §3.5.1): readOnly ignored, immutable checked, an omitted password kept."""
        return await self._replace(org_id, resource_id, body, if_match, actor=actor)

    async def _replace(
        self,
        org_id: str,
        resource_id: str,
        body: Any,
        if_match: str | None,
        *,
        actor: Actor | None,
        touch: bool = False,
        after: AfterWrite | None = None,
    ) -> StoredResource:
        incoming = self._coerce(body)

        def change(current: StoredResource) -> dict[str, Any]:
            resource = dict(incoming)
            check_immutable(current.resource, resource, self.resource_type)
            if "password" not in resource and "password" in current.resource:
                resource["password"] = current.resource["password"]
            check_resource(resource, self.resource_type)
            return resource

        return await self._write(
            org_id, resource_id, if_match, change, actor=actor, operation="replace", touch=touch, after=after
        )

    async def patch(
        self, org_id: str, resource_id: str, body: Any, if_match: str | None, *, actor: Actor | None = None
    ) -> StoredResource:
        """PATCH (RFC 7644 §3.5.2): all operations applied in order, stored in one guarded write.

        A PATCH that only gives simple attributes new values (:func:`simple_assignments`, the usual
        one) is stored as one conditional ``$set`` instead, without reading the resource first. When
        that writes nothing (no such resource, nothing to change), or with If-Match, the PATCH takes
        the general path, which answers as it always does. So does one that assigns what membership
        entries show as this resource's ``display``: a rename moves the versions of the resources
        showing it (:meth:`_write`).
        """
        operations = parse_patch_request(
            body, self.resource_type, max_operations=self._settings.max_patch_operations
        )
        if if_match is None:
            values = simple_assignments(operations, self.resource_type)
            if values is not None and self._display not in values:
                assigned = await self._assign(org_id, resource_id, values, actor=actor)
                if assigned is not None:
                    return assigned
        return await self._write(
            org_id,
            resource_id,
            if_match,
            lambda current: apply_patch(current.resource, operations, self.resource_type),
            actor=actor,
            operation="patch",
        )

    async def _assign(
        self, org_id: str, resource_id: str, values: dict[str, Any], *, actor: Actor | None
    ) -> StoredResource | None:
        """Store a PATCH's simple assignments in one write (``ResourceRepository.assign``), audited as
        the general path audits it; ``None`` when nothing was written."""
        repo = await self._repositories(org_id)
        key = await self._hold(org_id, resource_id)
        try:
            assigned = await repo.assign(resource_id, values, last_modified=self._clock())
            if assigned is None:
                return None
            stored, changed = assigned
            await self._record(
                org_id,
                actor,
                "patch",
                resource_id,
                changed=changed,
                version=stored.version,
                when=stored.last_modified,
            )
            return stored
        finally:
            self._writers.leave(key)

    async def _write(
        self,
        org_id: str,
        resource_id: str,
        if_match: str | None,
        change: Callable[[StoredResource], dict[str, Any]],
        *,
        actor: Actor | None,
        operation: str,
        touch: bool = False,
        after: AfterWrite | None = None,
    ) -> StoredResource:
        """Read, change, and write back under the version guard, retrying when another writer won.

        ``touch`` bumps the version even when the resource itself is unchanged (its membership
        changes); ``after`` runs once the guarded write succeeded, still under the resource's lock,
        and when it reports members added or removed, the version moves once more: a reader that
        read the resource between the guarded write and the pair writes holds a version left behind.
        Then the write is audited, also under the lock, so one resource's events are recorded in
        the order of its writes.

        A change of what membership entries show as this resource's ``display`` (a rename) moves
        the versions of the resources showing it (:meth:`MembershipRepository.showing`) before and
        after the write, as a membership change does: O(their number).
        """
        repo = await self._repositories(org_id)
        key = await self._hold(org_id, resource_id)
        shown: Shown | None = None
        try:
            for _ in range(_MAX_WRITE_ATTEMPTS):
                current = await self._existing(repo, resource_id)
                if not matches_if_match(if_match, current.version):
                    raise PreconditionFailedError(
                        f"{self.resource_type.name} {resource_id} is at version {current.version}, "
                        "not the one named in If-Match"
                    )
                before = current.resource
                resource = await self._secure(change(current), before)
                changed = changed_keys(before, resource)
                if not changed and not touch:
                    return current
                renamed = self._display is not None and self._display in changed
                if renamed and shown is None:
                    shown = await self._show(org_id, resource_id)
                updated = await repo.update(current, resource, changed, last_modified=self._clock())
                if updated is not None:
                    members = None if after is None else await after()
                    if members is not None and (members.added or members.removed):
                        updated = await repo.bump(updated, last_modified=self._clock())
                    if renamed and shown:
                        await (await self._memberships(org_id)).touch(shown, last_modified=self._clock())
                    await self._record(
                        org_id,
                        actor,
                        operation,
                        resource_id,
                        changed=changed_paths(before, resource, self.resource_type, keys=changed),
                        members=members,
                        version=updated.version,
                        when=updated.last_modified,
                    )
                    return updated
                if if_match is not None:
                    raise PreconditionFailedError(
                        f"{self.resource_type.name} {resource_id} was modified concurrently"
                    )
        finally:
            self._writers.leave(key)
        raise ConflictError(f"{self.resource_type.name} {resource_id} is being modified too often; retry")

    async def delete(
        self, org_id: str, resource_id: str, if_match: str | None, *, actor: Actor | None = None
    ) -> None:
        """DELETE (RFC 7644 §3.6); with If-Match, only the named version is deleted.

        With the organization's ``delete = "soft"``, the resource is marked deleted instead of
        removed: from then on no read, filter or membership sees it, and the purge removes it after
        the retention (:meth:`purge_deleted`). Everything else is the same either way.

        Then every membership naming the resource goes too: a deleted user or group leaves every
        group, and a deleted group's members are released. The audit event is recorded in between,
        as soon as the resource is gone. The resources whose representations showed it (the groups
        it was in; a group's member users) move their versions before the delete and after the
        pairs are gone (:meth:`_show`), so none keeps a tag of a representation that listed it:
        O(its memberships and members).
        """
        shown = await self._delete(org_id, resource_id, if_match)
        await self._record(org_id, actor, "delete", resource_id, changed=[])
        memberships = await self._memberships(org_id)
        await memberships.forget(resource_id)
        if shown:
            await memberships.touch(shown, last_modified=self._clock())

    async def _show(self, org_id: str, resource_id: str) -> Shown:
        """The resources whose representations show this one, with their versions moved on once
        already: a change to what they show of it comes next, and they move again after it, so a
        crash between leaves them moved, never with a tag of what they no longer show."""
        memberships = await self._memberships(org_id)
        shown = await memberships.showing(resource_id)
        if shown:
            await memberships.touch(shown, last_modified=self._clock())
        return shown

    async def _delete(self, org_id: str, resource_id: str, if_match: str | None) -> Shown:
        """Delete the resource; the resources showing it, moved once (:meth:`_show`) after the
        If-Match check, so a refused DELETE moves nothing."""
        repo = await self._repositories(org_id)
        soft = self._config(org_id).delete == "soft"

        async def remove(version: int | None) -> bool:
            if soft:
                return await repo.soft_delete(resource_id, version, deleted_at=self._clock())
            return await repo.delete(resource_id, version)

        key = await self._hold(org_id, resource_id)
        try:
            if if_match is None:
                shown = await self._show(org_id, resource_id)
                if not await remove(None):
                    raise self._not_found(resource_id)
                return shown
            current = await self._existing(repo, resource_id)
            if matches_if_match(if_match, current.version):
                shown = await self._show(org_id, resource_id)
                if await remove(current.version):
                    return shown
            raise PreconditionFailedError(
                f"{self.resource_type.name} {resource_id} is not at the version named in If-Match"
            )
        finally:
            self._writers.leave(key)

    async def purge_deleted(self, org_id: str, before: datetime, limit: int) -> int:
        """Remove up to ``limit`` of the organization's resources soft-deleted before ``before``, and
        any membership pair still naming them; how many. Not a SCIM write: nothing is audited (the
        DELETE was)."""
        purged = await (await self._repositories(org_id)).purge_deleted(before, limit)
        if purged:
            await (await self._memberships(org_id)).forget_all(purged)
        return len(purged)

    # -- search --------------------------------------------------------------------------------

    async def search(self, org_id: str, request: SearchRequest) -> SearchResult:
        """List/query (RFC 7644 §3.4.2): filter, sort, 1-based paging with a stable order; or, with a
        ``cursor``, cursor paging (RFC 9865, :meth:`_search_by_cursor`)."""
        query = await self.compile_query(org_id, request.filter)
        sort = self.compile_sort(request.sort_by, request.descending, by_key=request.cursor is not None)
        count = self._settings.default_page_size if request.count is None else request.count
        count = min(count, self._settings.max_page_size)
        if request.cursor is not None:
            return await self._search_by_cursor(org_id, request, query, sort, count)
        repo = await self._repositories(org_id)
        # Nothing lies beyond BSON's largest skip, and the driver cannot send a larger one.
        skip = min(request.start_index - 1, LARGEST_SKIP)
        if count > 0:
            # One more than the page: when it does not come, the page ends the results and the total
            # is known without counting (an eq probe, a short list: one round trip instead of two).
            resources = await repo.find(query, sort, skip, count + 1, response_only=True)
            if len(resources) <= count and (resources or skip == 0):
                return SearchResult(skip + len(resources), request.start_index, resources)
            del resources[count:]
            return SearchResult(await repo.count(query), request.start_index, resources)
        return SearchResult(await repo.count(query), request.start_index, [])

    def compile_sort(self, sort_by: str | None, descending: bool, *, by_key: bool = False) -> SortSpec:
        """``sortBy``/``sortOrder`` compiled (``compiler/sort.py``). ``by_key``: for a page read by key
        (cursor paging), where a multi-valued attribute cannot order: its resources hold several
        values each, so no single position says where a page ends (400 ``invalidValue``)."""
        sort_path = None
        if sort_by:
            try:
                sort_path = parse_attr_path(sort_by, schema_uris=self.resource_type.schema_uris)
            except InvalidPathError as error:
                # A bad sortBy is a bad parameter value, like an unknown one (compiler/sort.py).
                raise InvalidValueError(f"invalid sortBy: {error.detail}") from None
        sort = compile_sort(sort_path, descending, self.resource_type)
        if by_key and sort_path is not None:
            resolved = self.resource_type.resolve(sort_path.uri, sort_path.attr, sort_path.sub_attr)
            if resolved is not None and resolved.attribute.multi_valued:
                raise InvalidValueError(
                    f'Cursor paging cannot sort by the multi-valued attribute "{sort_path}": page by '
                    "index (startIndex) for that order, or sort by a single-valued attribute."
                )
        return sort

    async def page_by_key(
        self,
        org_id: str,
        query: Mapping[str, Any],
        sort: SortSpec,
        position: Position,
        count: int,
    ) -> KeyedPage:
        """Up to ``count`` resources matching ``query`` after (``backwards``: before) ``position`` in
        the order ``sort``: one range read of ``count + 1``, the extra one telling whether more lie
        beyond (``storage/keyset.py``)."""
        repo = await self._repositories(org_id)
        try:
            rows = await repo.find_after(query, sort, position.key, count + 1, backwards=position.backwards)
        except ValueError:
            raise InvalidValueError("a resource holds several values for the sort attribute") from None
        more = len(rows) > count
        if more:
            rows = rows[1:] if position.backwards else rows[:count]
        return KeyedPage(rows, more)

    async def _search_by_cursor(
        self, org_id: str, request: SearchRequest, query: dict[str, Any], sort: SortSpec, count: int
    ) -> SearchResult:
        """Cursor paging (RFC 9865): the page after (or, for a ``previousCursor``, before) the
        cursor's position, with ``nextCursor`` unless it is the last page and ``previousCursor``
        unless it is the first. The cursor is bound to the organization, the endpoint, the filter
        and the sort (``services/cursors.py``). A walk by ``nextCursor`` neither skips nor repeats a
        resource that exists for the whole walk, whatever else is created or deleted meanwhile."""
        if request.count is not None and request.count < 1:
            raise InvalidCountError("count must be a positive integer with cursor paging (RFC 9865)")
        assert request.cursor is not None
        scope = CursorScope(org_id, self.resource_type.endpoint, request.filter or "", sort_identity(sort))
        position = await self.cursors.read(scope, request.cursor)
        page = await self.page_by_key(org_id, query, sort, position, count)
        resources = [stored for stored, _ in page.rows]
        if position.key is None and not position.backwards and not page.more:
            total = len(resources)  # the whole result: no count needed
        else:
            total = await (await self._repositories(org_id)).count(query)
        next_cursor, previous_cursor = await self._neighbours(scope, position, page)
        return SearchResult(total, None, resources, next_cursor, previous_cursor)

    async def _neighbours(
        self, scope: CursorScope, position: Position, page: KeyedPage
    ) -> tuple[str | None, str | None]:
        """The ``nextCursor`` and ``previousCursor`` of a page read from ``position``."""
        return await neighbour_cursors(
            self.cursors,
            scope,
            position,
            first=page.rows[0][1] if page.rows else None,
            last=page.rows[-1][1] if page.rows else None,
            more=page.more,
        )

    async def compile_query(self, org_id: str, text: str | None) -> dict[str, Any]:
        """Parse and compile a filter. Parsing is cached by text; so is compiling, unless the filter
        names ``groups.value`` or ``members.value``, whose meaning depends on memberships looked up here.
        A comparison of a string attribute with a string (``userName eq "…"``) is compiled once per
        path and operator (:func:`_string_comparison`), whatever the string."""
        if text is None:
            return {}
        limits = self._filter_limits
        if len(text) <= limits.length and limits.terms >= 1:
            parts = split_one_comparison(text)
            if parts is not None:
                template = _string_comparison(parts[0], parts[1], self.resource_type)
                if template is not None:
                    return template(parts[2])
        ast, references, compiled = _parsed_filter(text, self.resource_type, limits)
        if compiled is not None:
            return compiled
        memberships = await self._memberships(org_id)
        ids = sorted(references)
        if self._derived is USER_GROUPS:
            related = await memberships.member_ids(ids, kind="User")
        else:
            related = await memberships.groups_of(ids)
        return compile_filter(ast, self.resource_type, related=related)

    # -- derived attributes --------------------------------------------------------------------

    async def derived(
        self,
        org_id: str,
        stored: list[StoredResource],
        projection: Projection = ALL,
        *,
        created: bool = False,
    ) -> dict[str, list[dict[str, Any]]]:
        """The entries of the attribute derived from membership (a user's ``groups``, a group's
        ``members``) by resource id, when the response will show them: a few lookups for the whole
        page, none when excluded. Each entry has ``value``, ``display`` (None when unknown) and ``type``.

        ``created``: the resources were just created (a POST), so a user at its first version is in no
        group yet (its id is new) and its groups are not looked up; a new group's members still are.
        A POST that restored or adopted a user answers it at a later version: its groups are looked up.
        """
        derived = self._derived
        if derived is None or not stored or not projection.wants("", derived):
            return {}
        if created and derived is USER_GROUPS and all(s.version == 1 for s in stored):
            return {}
        memberships = await self._memberships(org_id)
        ids = [s.id for s in stored]
        if derived is USER_GROUPS:
            groups_of = await memberships.groups_of(ids)
            group_ids = sorted({g for gids in groups_of.values() for g in gids})
            if not group_ids:
                return {}
            groups = await memberships.find(group_ids, kinds=("Group",))
            return {
                uid: [
                    {"value": g, "display": groups[g].display, "type": "direct"} for g in gids if g in groups
                ]
                for uid, gids in groups_of.items()
                if gids
            }
        members = await memberships.members_of(ids)
        return {
            gid: [{"value": m.id, "display": m.display, "type": m.type} for m in found]
            for gid, found in members.items()
        }

    # -- helpers -------------------------------------------------------------------------------

    def _coerce(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidSyntaxError("the request body must be a JSON object")
        return coerce_resource(body, self.resource_type)

    # -- Bulk (RFC 7644 §3.7) --------------------------------------------------------------------

    async def create_many(
        self,
        org_id: str,
        bodies: Sequence[Any],
        *,
        actor: Actor | None = None,
        max_errors: int | None = None,
    ) -> list[StoredResource | ScimError]:
        """Create resources in order, each answered and audited as its own POST would be, with the
        inserts of consecutive valid resources batched into one ordered store write.

        The results answer a prefix of ``bodies``: after ``max_errors`` errors the rest is not
        attempted (a Bulk request's ``failOnErrors``, RFC 7644 §3.7.3). A type whose create writes
        more than its document (a group's members) creates one resource at a time.
        """
        results: list[StoredResource | ScimError] = []
        errors = 0

        def failed(error: ScimError) -> bool:
            nonlocal errors
            results.append(error)
            errors += 1
            return max_errors is not None and errors >= max_errors

        if type(self).create is not ResourceService.create:
            for body in bodies:
                try:
                    results.append(await self.create(org_id, body, actor=actor))
                except ScimError as error:
                    if failed(error):
                        break
            return results
        repo = await self._repositories(org_id)
        pending: list[tuple[Any, StoredResource]] = []

        async def flush() -> bool:
            """Insert what is pending; False once ``max_errors`` is reached. A clash is answered as a
            POST's is (:meth:`_claim`: a restore, an adoption, or the 409)."""
            while pending:
                inserted, clash = await repo.insert_many([stored for _, stored in pending])
                for _, stored in pending[:inserted]:
                    await self._record_created(org_id, actor, stored)
                    results.append(stored)
                if clash is None:
                    pending.clear()
                    break
                body, fresh = pending[inserted]
                del pending[: inserted + 1]
                try:
                    results.append(await self._claim(org_id, body, fresh, clash, actor=actor))
                except ScimError as error:
                    if failed(error):
                        pending.clear()
                        return False
            return True

        for body in bodies:
            try:
                pending.append((body, await self._new(body)))
            except ScimError as error:
                if not await flush() or failed(error):
                    return results
                continue
        await flush()
        return results
