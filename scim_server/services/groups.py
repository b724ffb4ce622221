"""Groups (RFC 7643 §4.2) with membership kept as pair documents.

A group document holds only the group's own attributes; who belongs to it is a set of (group, member)
pair documents. So a group of 100,000 members is a small document, adding or removing k members costs
O(k) whatever the group's size, reading a group without ``members`` never touches its members, and
concurrent membership changes (independent inserts and deletes of pairs) never lose each other.

A pair shows in the group's ``members`` and in a member user's ``groups``, so the ETag of each moves
with it: the group's by its guarded write and once more after the pair writes, the users' before and
after them (``MembershipRepository.change``). So no tag survives a change of what its resource shows,
and a change of k members still writes O(k) documents.

Membership operations from PUT and PATCH are first reduced to a :class:`MemberPlan` (the IdPs' shapes:
Entra's ``Add``/``Remove`` with a value list, ``members[value eq "id"]``, Okta's remove-then-add,
``replace`` of all members, a no-path value holding ``members``), every member to be added is checked
to exist in the organization, and only then is anything written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scim_server.compiler.patch import PatchOperation, apply_patch, parse_patch_request
from scim_server.errors import (
    InvalidPathError,
    InvalidSyntaxError,
    InvalidValueError,
    MutabilityError,
    ScimError,
    UniquenessError,
)
from scim_server.filters.ast import Compare, CompareOp, Filter, Or
from scim_server.schema.catalog import GROUP_MEMBERS, ResourceType
from scim_server.services.audit import Actor, MemberChange
from scim_server.services.resources import AfterWrite, ResourceService
from scim_server.storage.documents import StoredResource
from scim_server.storage.repository import Member, Shown

_MEMBER_TYPES = {"user": "User", "group": "Group"}


@dataclass(slots=True)
class MemberPlan:
    """The net effect of a request's membership operations, applied in order.

    ``replace`` is set when the request replaced (or cleared) all members; ``add`` and ``remove`` are
    then folded into it. Otherwise they are disjoint sets of changes to the current members.
    """

    replace: dict[str, str | None] | None = None
    add: dict[str, str | None] = field(default_factory=dict)
    remove: set[str] = field(default_factory=set)

    @property
    def is_empty(self) -> bool:
        return self.replace is None and not self.add and not self.remove

    def added(self, members: Mapping[str, str | None]) -> None:
        for member_id, kind in members.items():
            self.remove.discard(member_id)
            if self.replace is not None:
                self.replace[member_id] = kind
            else:
                self.add[member_id] = kind

    def removed(self, member_ids: Sequence[str]) -> None:
        for member_id in member_ids:
            self.add.pop(member_id, None)
            if self.replace is not None:
                self.replace.pop(member_id, None)
            else:
                self.remove.add(member_id)

    def replaced(self, members: Mapping[str, str | None]) -> None:
        self.replace = dict(members)
        self.add.clear()
        self.remove.clear()

    def wanted(self) -> dict[str, str | None]:
        """Every member the plan adds, with the type the client claimed (or None)."""
        return dict(self.replace if self.replace is not None else self.add)


def _member_value(raw: Any, where: str) -> tuple[str, str | None]:
    """One member as an IdP sends it: ``{"value": id, ...}`` (``display``, ``displayName``, ``$ref``
    ignored: the server renders them) or a bare id string. Returns (id, claimed type or None)."""
    member_id: Any
    kind: str | None = None
    if isinstance(raw, str):
        member_id = raw
    elif isinstance(raw, Mapping):
        fields = {str(k).lower(): v for k, v in raw.items()}
        member_id = fields.get("value")
        claimed = fields.get("type")
        if claimed is not None:
            if not isinstance(claimed, str) or claimed.lower() not in _MEMBER_TYPES:
                raise InvalidValueError(f'{where}: member type must be "User" or "Group"')
            kind = _MEMBER_TYPES[claimed.lower()]
    else:
        raise InvalidValueError(f'{where}: a member must be an object with a "value"')
    if not isinstance(member_id, str) or not member_id.strip():
        raise InvalidValueError(f'{where}: a member needs a non-empty string "value" (the member\'s id)')
    if len(member_id) > 256:
        raise InvalidValueError(f"{where}: a member id is at most 256 characters")
    return member_id, kind


def parse_members(value: Any, where: str) -> dict[str, str | None]:
    """A members value (a list, a single member, or null) as {id: claimed type}, in order, deduplicated."""
    if value is None:
        return {}
    items = value if isinstance(value, list) else [value]
    members: dict[str, str | None] = {}
    for index, raw in enumerate(items):
        member_id, kind = _member_value(raw, f"{where}[{index}]")
        members.setdefault(member_id, kind)
    return members


def _filter_ids(node: Filter, where: str) -> list[str]:
    """The ids of ``members[value eq "a" or value eq "b"]``; other member filters are refused."""
    terms = node.terms if isinstance(node, Or) else (node,)
    ids: list[str] = []
    for term in terms:
        if (
            not isinstance(term, Compare)
            or term.op is not CompareOp.EQ
            or term.path.uri is not None
            or term.path.sub_attr is not None
            or term.path.attr.lower() != "value"
            or not isinstance(term.value, str)
        ):
            raise InvalidPathError(
                f'{where}: members can be selected only by id, as members[value eq "<id>"]'
            )
        ids.append(term.value)
    return ids


def split_operations(
    operations: Sequence[PatchOperation], resource_type: ResourceType
) -> tuple[list[PatchOperation], MemberPlan]:
    """Separate membership operations (reduced to a plan) from those on the group's own attributes."""
    others: list[PatchOperation] = []
    plan = MemberPlan()
    for index, operation in enumerate(operations):
        where = f"Operations[{index}]"
        path = operation.path
        if path is None:
            value = operation.value
            members_key = next((k for k in value if isinstance(k, str) and k.lower() == "members"), None)
            if members_key is not None:
                members = parse_members(value[members_key], f"{where}.value.members")
                if operation.op == "replace":
                    plan.replaced(members)
                else:
                    plan.added(members)
                rest = {k: v for k, v in value.items() if k != members_key}
                if rest:
                    others.append(PatchOperation(operation.op, None, rest))
            else:
                others.append(operation)
            continue
        resolved = resource_type.resolve(path.attr.uri, path.attr.attr, path.attr.sub_attr)
        if resolved is None or resolved.attribute is not GROUP_MEMBERS:
            others.append(operation)
            continue
        if resolved.sub_attribute is not None or path.sub_attr is not None:
            raise MutabilityError(f"{where}: member sub-attributes cannot be changed; add or remove members")
        if path.filter is not None:
            if operation.op != "remove":
                raise InvalidPathError(f"{where}: a members filter can only be used to remove members")
            plan.removed(_filter_ids(path.filter, where))
        elif operation.op == "add":
            plan.added(parse_members(operation.value, f"{where}.value"))
        elif operation.op == "replace":
            plan.replaced(parse_members(operation.value, f"{where}.value"))
        elif operation.value is not None:
            # Entra's {"op":"Remove","path":"members","value":[{"value":"id"}]} removes only those
            # listed; reading it as "remove all" would wipe the group (azure-docs#30826).
            plan.removed(list(parse_members(operation.value, f"{where}.value")))
        else:
            plan.replaced({})
    return others, plan


def _split_body(body: Any) -> tuple[dict[str, Any], dict[str, str | None] | None]:
    """A POST/PUT body without its ``members``, and the members it lists (None when absent)."""
    if not isinstance(body, dict):
        raise InvalidSyntaxError("the request body must be a JSON object")
    key = next((k for k in body if k.lower() == "members"), None)
    if key is None:
        return body, None
    rest = {k: v for k, v in body.items() if k != key}
    return rest, parse_members(body[key], "members")


class GroupService(ResourceService):
    """Groups: the resource service plus membership pairs."""

    async def _resolve_members(
        self, org_id: str, group_id: str | None, wanted: Mapping[str, str | None]
    ) -> list[Member]:
        """Check that every member to add exists in this organization (and is of the type claimed)."""
        if group_id is not None and group_id in wanted:
            raise InvalidValueError(f"group {group_id} cannot be a member of itself")
        if not wanted:
            return []
        memberships = await self._memberships(org_id)
        found = await memberships.find(list(wanted))
        missing = [member_id for member_id in wanted if member_id not in found]
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise InvalidValueError(f"no User or Group with id {shown} exists in this organization")
        for member_id, kind in wanted.items():
            if kind is not None and found[member_id].type != kind:
                raise InvalidValueError(f"member {member_id} is a {found[member_id].type}, not a {kind}")
        return [found[member_id] for member_id in wanted]

    async def create(self, org_id: str, body: Any, *, actor: Actor | None = None) -> StoredResource:
        """POST with members: the pairs are written before the group, so the group's first version
        shows them all; the member users' versions move before the pairs and after the group (their
        ``groups`` show it from then on). When the group cannot be stored (409 ``uniqueness``), its
        pairs are removed again; a crash in between leaves pairs of a group that never exists,
        which no representation shows. A clash on the name may still restore or adopt the group
        that holds it (:meth:`ResourceService._claim`), with the members the body lists."""
        attributes, members = _split_body(body)
        resolved = await self._resolve_members(org_id, None, members or {})
        stored = await self._new(attributes)
        repo = await self._repositories(org_id)
        if not resolved:
            try:
                await repo.insert(stored)
            except UniquenessError as clash:
                return await self._claim(org_id, body, stored, clash, actor=actor)
            await self._record_created(org_id, actor, stored)
            return stored
        memberships = await self._memberships(org_id)
        users = Shown(users=tuple(m.id for m in resolved if m.type == "User"))
        await memberships.touch(users, last_modified=stored.created)
        await memberships.add(stored.id, resolved)
        try:
            await repo.insert(stored)
        except ScimError as error:
            await memberships.remove(stored.id, [m.id for m in resolved])
            if isinstance(error, UniquenessError):
                return await self._claim(org_id, body, stored, error, actor=actor)
            raise
        await memberships.touch(users, last_modified=stored.created)
        await self._record_created(org_id, actor, stored, MemberChange(len(resolved), 0))
        return stored

    async def _restored_members(self, org_id: str, resource_id: str, body: Any) -> AfterWrite | None:
        """A restored group's members are the ones the POST lists (it had none left: its pairs went
        with its deletion), checked as a PUT's are, the group itself included."""
        _, members = _split_body(body)
        if not members:
            return None
        plan = MemberPlan()
        plan.replaced(members)
        write, _ = await self._membership_writer(org_id, resource_id, plan)
        return write

    async def _membership_writer(
        self, org_id: str, group_id: str, plan: MemberPlan, *, always_count: bool = False
    ) -> tuple[AfterWrite, bool]:
        """Check the plan's new members, work out what it really changes, and return the write to run
        after the group's guarded update, with whether it changes any membership.

        The write reports the members added and removed (an add of a present member or a remove of an
        absent one is no change); ``always_count`` reports zeros too. A full replacement reads the
        current member ids, O(n) as the replacement itself is (and again when it writes, under the
        group's lock, to write and report exactly what differs then); other changes look up only
        their pairs. The members' versions move with the pairs (``MembershipRepository.change``).
        """
        resolved = {m.id: m for m in await self._resolve_members(org_id, group_id, plan.wanted())}
        memberships = await self._memberships(org_id)
        if plan.replace is not None and always_count:
            adding, removing = set(), set()  # a PUT: a write whatever it changes, counted when written
        elif plan.replace is not None:
            before = set((await memberships.member_ids([group_id]))[group_id])
            adding, removing = set(plan.replace) - before, before - set(plan.replace)
        elif plan.is_empty:
            adding, removing = set(), set()
        else:
            present = await memberships.present(group_id, sorted({*plan.add, *plan.remove}))
            adding, removing = set(plan.add) - present, plan.remove & present

        async def write() -> MemberChange | None:
            now = self._clock()
            if plan.replace is not None:
                added, removed = await memberships.replace(
                    group_id, [resolved[i] for i in plan.replace], last_modified=now
                )
                count = MemberChange(added=len(added), removed=len(removed))
            else:
                adds = [resolved[i] for i in plan.add if i in adding]
                await memberships.change(group_id, adds, sorted(removing), last_modified=now)
                count = MemberChange(added=len(adding), removed=len(removing))
            if count.added or count.removed or always_count:
                return count
            return None

        return write, bool(adding or removing)

    async def replace(
        self, org_id: str, resource_id: str, body: Any, if_match: str | None, *, actor: Actor | None = None
    ) -> StoredResource:
        """PUT replaces the members too: without ``members`` the group ends up empty (RFC 7644 §3.5.1).

        A PUT is a write even when nothing changes: the version moves and the event is recorded.
        """
        attributes, members = _split_body(body)
        plan = MemberPlan()
        plan.replaced(members or {})
        write_members, _ = await self._membership_writer(org_id, resource_id, plan, always_count=True)
        return await self._replace(
            org_id, resource_id, attributes, if_match, actor=actor, touch=True, after=write_members
        )

    async def patch(
        self, org_id: str, resource_id: str, body: Any, if_match: str | None, *, actor: Actor | None = None
    ) -> StoredResource:
        """PATCH: attribute operations through the guarded write, membership as pair writes after it.

        Adding a present member or removing an absent one changes nothing, so it neither moves the
        version nor counts in the audit event.
        """
        operations = parse_patch_request(
            body, self.resource_type, max_operations=self._settings.max_patch_operations
        )
        others, plan = split_operations(operations, self.resource_type)
        write_members, membership_changes = await self._membership_writer(org_id, resource_id, plan)

        def change(current: StoredResource) -> dict[str, Any]:
            if not others:
                return current.resource
            return apply_patch(current.resource, others, self.resource_type)

        return await self._write(
            org_id,
            resource_id,
            if_match,
            change,
            actor=actor,
            operation="patch",
            touch=membership_changes,
            after=write_members,
        )
