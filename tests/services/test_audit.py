"""The audit trail: one event per successful write, with exact changed paths and never a value."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scim_server.errors import NotFoundError, ServiceUnavailableError
from scim_server.schema.catalog import ENTERPRISE_USER_SCHEMA_ID, GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE
from scim_server.services.audit import (
    Actor,
    AuditEvent,
    AuditTrail,
    MemberChange,
    changed_paths,
    created_paths,
)
from scim_server.services.groups import GroupService
from scim_server.services.resources import ResourceService
from scim_server.settings import Settings
from scim_server.storage.audit import AuditRepository, AuditStore
from scim_server.storage.client import embedded_client
from scim_server.storage.repository import Store

NOW = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)
ACTOR = Actor("acme", "tok_0123456789abcdef", "entra")
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PASSWORD = "Corr3ct-Horse-Battery!"
EMAIL = "alice.liddell@wonderland.example"


class Clock:
    """Advances a millisecond on every reading, so events have distinct, predictable times."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class Services:
    def __init__(self, db: Any, audit_store: AuditStore | None = None) -> None:
        store = Store(db)
        self.clock = Clock()
        self.trail = AuditTrail(audit_store or AuditStore(db))
        settings = Settings()
        self.users = ResourceService(
            USER_RESOURCE_TYPE, store.users, store.memberships, settings, clock=self.clock, audit=self.trail
        )
        self.groups = GroupService(
            GROUP_RESOURCE_TYPE, store.groups, store.memberships, settings, clock=self.clock, audit=self.trail
        )
        self.db = db

    async def events(self, **kwargs: Any) -> list[AuditEvent]:
        return await self.trail.events("acme", **kwargs)

    async def documents(self) -> list[dict[str, Any]]:
        return list(await self.db["org_acme_audit"].find({}, {"_id": 0}).sort("time", 1).to_list(None))


@pytest.fixture
def db() -> Any:
    return embedded_client()["scim"]


@pytest.fixture
def services(db: Any) -> Services:
    return Services(db)


def alice(**extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": "alice",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": EMAIL, "type": "work"}],
        "password": PASSWORD,
        **extra,
    }


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


# -- changed paths (pure) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "paths"),
    [
        (
            {},
            {"userName": "a", "name": {"givenName": "A", "familyName": "B"}},
            ["name.familyName", "name.givenName", "userName"],
        ),
        (
            {"name": {"givenName": "A", "familyName": "B"}},
            {"name": {"givenName": "A", "familyName": "C"}},
            ["name.familyName"],
        ),
        ({"name": {"givenName": "A"}}, {}, ["name.givenName"]),
        ({"emails": [{"value": "x"}]}, {"emails": [{"value": "x"}, {"value": "y"}]}, ["emails"]),
        ({"active": True, "title": "t"}, {"active": False, "title": "t"}, ["active"]),
        ({"userName": "a"}, {"userName": "a"}, []),
        (
            {ENTERPRISE_USER_SCHEMA_ID: {"department": "d", "manager": {"value": "m1"}}},
            {ENTERPRISE_USER_SCHEMA_ID: {"department": "e", "manager": {"value": "m2"}}},
            [f"{ENTERPRISE_USER_SCHEMA_ID}:department", f"{ENTERPRISE_USER_SCHEMA_ID}:manager.value"],
        ),
        (
            {},
            {ENTERPRISE_USER_SCHEMA_ID: {"employeeNumber": "7"}},
            [f"{ENTERPRISE_USER_SCHEMA_ID}:employeeNumber"],
        ),
        ({"password": "hash-1"}, {"password": "hash-2"}, ["password"]),
    ],
)
def test_changed_paths_name_sub_attributes_of_single_complex_values_and_whole_multi_valued_ones(
    before: dict[str, Any], after: dict[str, Any], paths: list[str]
) -> None:
    assert changed_paths(before, after, USER_RESOURCE_TYPE) == paths
    if not before:  # a create: the one-pass form gives the same paths
        assert created_paths(after, USER_RESOURCE_TYPE) == paths


def test_a_created_resource_names_every_attribute_as_a_comparison_with_nothing_would() -> None:
    user = {
        "userName": "u",
        "name": {"givenName": "g", "familyName": "f"},
        "emails": [{"value": "a@x", "primary": True}],
        "active": False,
        "password": "hash",
        ENTERPRISE_USER_SCHEMA_ID: {"department": "d", "manager": {"value": "m1"}},
    }
    assert created_paths(user, USER_RESOURCE_TYPE) == changed_paths({}, user, USER_RESOURCE_TYPE)
    assert created_paths(user, USER_RESOURCE_TYPE) == [
        "active",
        "emails",
        "name.familyName",
        "name.givenName",
        "password",
        f"{ENTERPRISE_USER_SCHEMA_ID}:department",
        f"{ENTERPRISE_USER_SCHEMA_ID}:manager.value",
        "userName",
    ]


# -- an event for every write kind --------------------------------------------------------------------


async def test_a_user_create_records_who_what_and_when(services: Services) -> None:
    stored = await services.users.create("acme", alice(), actor=ACTOR)

    assert await services.events() == [
        AuditEvent(
            time=stored.created,
            org_id="acme",
            token_id="tok_0123456789abcdef",
            token_name="entra",
            resource_type="User",
            resource_id=stored.id,
            operation="create",
            changed=("emails", "name.familyName", "name.givenName", "password", "userName"),
            members=None,
            version=1,
        )
    ]
    assert await services.documents() == [
        {
            "seq": 1,
            "time": stored.created,
            "org": "acme",
            "tokenId": "tok_0123456789abcdef",
            "tokenName": "entra",
            "resourceType": "User",
            "resourceId": stored.id,
            "operation": "create",
            "changed": ["emails", "name.familyName", "name.givenName", "password", "userName"],
            "version": 1,
        }
    ]


async def test_a_user_replace_records_exactly_the_changed_paths(services: Services) -> None:
    stored = await services.users.create("acme", alice(), actor=ACTOR)

    body = alice(name={"givenName": "Alice", "familyName": "Pleasance"}, title="Muse")
    del body["password"]  # an omitted password is kept, so it did not change
    replaced = await services.users.replace("acme", stored.id, body, None, actor=ACTOR)

    [event, _] = await services.events()
    assert (event.operation, event.changed, event.version, event.time) == (
        "replace",
        ("name.familyName", "title"),
        2,
        replaced.last_modified,
    )


async def test_a_user_patch_records_the_changed_paths_including_password_and_extension(
    services: Services,
) -> None:
    stored = await services.users.create("acme", alice(), actor=ACTOR)

    await services.users.patch(
        "acme",
        stored.id,
        patch(
            {"op": "replace", "path": "emails", "value": [{"value": "a@b.example"}]},
            {"op": "replace", "path": "password", "value": "An0ther-Secret!"},
            {"op": "add", "path": f"{ENTERPRISE_USER_SCHEMA_ID}:department", "value": "Looking Glass"},
            {"op": "replace", "path": "active", "value": False},
        ),
        None,
        actor=ACTOR,
    )

    [event, _] = await services.events()
    assert event.operation == "patch"
    assert event.changed == ("active", "emails", "password", f"{ENTERPRISE_USER_SCHEMA_ID}:department")
    assert event.version == 2


async def test_a_patch_that_changes_nothing_is_not_a_write_and_records_nothing(services: Services) -> None:
    stored = await services.users.create("acme", alice(), actor=ACTOR)

    await services.users.patch(
        "acme", stored.id, patch({"op": "replace", "path": "userName", "value": "alice"}), None, actor=ACTOR
    )

    assert [e.operation for e in await services.events()] == ["create"]


async def test_a_delete_records_the_resource_and_no_paths(services: Services) -> None:
    stored = await services.users.create("acme", alice(), actor=ACTOR)

    await services.users.delete("acme", stored.id, None, actor=Actor("acme", "tok_ffff", "cleanup"))

    [event, _] = await services.events()
    assert event == AuditEvent(
        time=event.time,
        org_id="acme",
        token_id="tok_ffff",
        token_name="cleanup",
        resource_type="User",
        resource_id=stored.id,
        operation="delete",
        changed=(),
        members=None,
        version=None,
    )


async def test_a_failed_write_records_nothing(services: Services) -> None:
    with pytest.raises(NotFoundError):
        await services.users.delete("acme", "no-such-id", None, actor=ACTOR)
    with pytest.raises(NotFoundError):
        await services.users.patch(
            "acme", "no-such-id", patch({"op": "replace", "path": "title", "value": "x"}), None, actor=ACTOR
        )

    assert await services.events() == []


async def test_a_write_without_an_actor_is_still_recorded(services: Services) -> None:
    stored = await services.users.create("acme", alice())

    [event] = await services.events()
    assert (event.token_id, event.token_name, event.resource_id) == (None, None, stored.id)


# -- groups and membership -----------------------------------------------------------------------------


async def make_users(services: Services, *names: str) -> list[str]:
    ids = []
    for name in names:
        ids.append((await services.users.create("acme", {"schemas": [USER], "userName": name})).id)
    return ids


async def test_a_group_create_with_members_records_members_and_their_count(services: Services) -> None:
    u1, u2 = await make_users(services, "u1", "u2")

    group = await services.groups.create(
        "acme",
        {"schemas": [GROUP], "displayName": "Readers", "members": [{"value": u1}, {"value": u2}]},
        actor=ACTOR,
    )

    [event, *_] = await services.events()
    assert (event.resource_type, event.resource_id, event.operation) == ("Group", group.id, "create")
    assert (event.changed, event.members) == (("displayName", "members"), MemberChange(added=2, removed=0))


async def test_a_group_create_without_members_has_no_member_counts(services: Services) -> None:
    await services.groups.create("acme", {"schemas": [GROUP], "displayName": "Empty"}, actor=ACTOR)

    [event] = await services.events()
    assert (event.changed, event.members) == (("displayName",), None)


async def test_a_membership_patch_records_members_with_counts_added_and_removed(services: Services) -> None:
    u1, u2, u3 = await make_users(services, "u1", "u2", "u3")
    group = await services.groups.create(
        "acme", {"schemas": [GROUP], "displayName": "G", "members": [{"value": u1}]}, actor=ACTOR
    )

    await services.groups.patch(
        "acme",
        group.id,
        patch(
            {"op": "add", "path": "members", "value": [{"value": u2}, {"value": u3}]},
            {"op": "remove", "path": f'members[value eq "{u1}"]'},
        ),
        None,
        actor=ACTOR,
    )

    [event, *_] = await services.events()
    assert (event.operation, event.changed, event.members, event.version) == (
        "patch",
        ("members",),
        MemberChange(added=2, removed=1),
        3,  # the guarded write, then once more after the pair writes: the version the response names
    )


async def test_a_patch_of_attributes_and_members_records_both(services: Services) -> None:
    [u1] = await make_users(services, "u1")
    group = await services.groups.create("acme", {"schemas": [GROUP], "displayName": "G"}, actor=ACTOR)

    await services.groups.patch(
        "acme",
        group.id,
        patch(
            {"op": "replace", "value": {"displayName": "H", "members": [{"value": u1}]}},
        ),
        None,
        actor=ACTOR,
    )

    [event, *_] = await services.events()
    assert (event.changed, event.members) == (("displayName", "members"), MemberChange(added=1, removed=0))


async def test_replacing_all_members_counts_exactly(services: Services) -> None:
    u1, u2, u3 = await make_users(services, "u1", "u2", "u3")
    group = await services.groups.create(
        "acme", {"schemas": [GROUP], "displayName": "G", "members": [{"value": u1}, {"value": u2}]}
    )

    await services.groups.replace(
        "acme",
        group.id,
        {"schemas": [GROUP], "displayName": "G", "members": [{"value": u2}, {"value": u3}]},
        None,
        actor=ACTOR,
    )
    await services.groups.patch(
        "acme", group.id, patch({"op": "remove", "path": "members"}), None, actor=ACTOR
    )
    await services.groups.replace(
        "acme", group.id, {"schemas": [GROUP], "displayName": "G"}, None, actor=ACTOR
    )

    latest, cleared, replaced, *_ = await services.events()
    assert (replaced.operation, replaced.changed, replaced.members) == (
        "replace",
        ("members",),
        MemberChange(added=1, removed=1),
    )
    assert (cleared.operation, cleared.changed, cleared.members) == (
        "patch",
        ("members",),
        MemberChange(0, 2),
    )
    # The last PUT changed nothing: it is still a write (the version moves once: no pairs changed),
    # with nothing changed. (The two membership changes before it moved it by two each.)
    assert (latest.operation, latest.changed, latest.members, latest.version) == (
        "replace",
        (),
        MemberChange(0, 0),
        6,
    )


async def test_a_group_delete_is_recorded(services: Services) -> None:
    group = await services.groups.create("acme", {"schemas": [GROUP], "displayName": "G"}, actor=ACTOR)

    await services.groups.delete("acme", group.id, None, actor=ACTOR)

    assert [(e.operation, e.resource_type, e.resource_id) for e in await services.events()] == [
        ("delete", "Group", group.id),
        ("create", "Group", group.id),
    ]


# -- no values ------------------------------------------------------------------------------------------


def strings(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in [str(k), *strings(v)]]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return [str(value)]


async def test_no_attribute_value_is_ever_stored(services: Services) -> None:
    stored = await services.users.create(
        "acme", alice(**{ENTERPRISE_USER_SCHEMA_ID: {"employeeNumber": "EMP-424242"}}), actor=ACTOR
    )
    await services.users.patch(
        "acme",
        stored.id,
        patch(
            {"op": "replace", "path": "password", "value": PASSWORD + "2"},
            {"op": "add", "path": "emails", "value": [{"value": "second-" + EMAIL}]},
        ),
        None,
        actor=ACTOR,
    )
    body = alice(password=PASSWORD + "3", displayName="Alice L.")
    await services.users.replace("acme", stored.id, body, None, actor=ACTOR)
    group = await services.groups.create(
        "acme", {"schemas": [GROUP], "displayName": "Wonderland VIPs", "members": [{"value": stored.id}]}
    )
    await services.groups.delete("acme", group.id, None)
    await services.users.delete("acme", stored.id, None, actor=ACTOR)

    docs = await services.documents()
    assert [d["operation"] for d in docs] == ["create", "patch", "replace", "create", "delete", "delete"]
    text = json.dumps(docs, default=str)
    for secret in (PASSWORD, EMAIL, "Liddell", "EMP-424242", "Wonderland VIPs", "Alice L.", "scrypt"):
        assert secret not in text
    assert not any(PASSWORD in s or EMAIL in s for s in strings(docs))
    assert "password" in docs[1]["changed"]


# -- failures and reading ------------------------------------------------------------------------------


class BrokenAuditStore(AuditStore):
    async def events(self, org_id: str) -> AuditRepository:
        repository = await super().events(org_id)

        async def insert(event: Mapping[str, Any]) -> None:
            raise ServiceUnavailableError("the database is unavailable; retry later")

        repository.insert = insert  # type: ignore[method-assign]
        return repository


async def test_a_failed_audit_write_does_not_fail_the_request_and_is_logged(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    services = Services(db, BrokenAuditStore(db))

    with caplog.at_level(logging.ERROR, logger="scim_server"):
        stored = await services.users.create("acme", alice(), actor=ACTOR)
        await services.users.delete("acme", stored.id, None, actor=ACTOR)

    # Both writes took effect and returned normally.
    with pytest.raises(NotFoundError):
        await services.users.get("acme", stored.id)
    assert [r.getMessage() for r in caplog.records] == [
        f"audit event not recorded: create User {stored.id} in organization acme by token "
        "tok_0123456789abcdef: the database is unavailable; retry later",
        f"audit event not recorded: delete User {stored.id} in organization acme by token "
        "tok_0123456789abcdef: the database is unavailable; retry later",
    ]
    assert PASSWORD not in caplog.text and EMAIL not in caplog.text
    assert await db["org_acme_audit"].count_documents({}) == 0


async def test_an_unexpected_audit_failure_is_contained_too(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Exploding(AuditStore):
        async def events(self, org_id: str) -> AuditRepository:
            raise RuntimeError("boom")

    services = Services(db, Exploding(db))

    with caplog.at_level(logging.ERROR, logger="scim_server"):
        stored = await services.users.create("acme", alice(), actor=ACTOR)

    assert (await services.users.get("acme", stored.id)).id == stored.id
    assert caplog.records[0].getMessage().endswith(": RuntimeError")


async def test_events_are_read_newest_first_by_resource_since_a_time_and_limited(services: Services) -> None:
    a = await services.users.create("acme", {"schemas": [USER], "userName": "a"}, actor=ACTOR)
    b = await services.users.create("acme", {"schemas": [USER], "userName": "b"}, actor=ACTOR)
    await services.users.patch(
        "acme", a.id, patch({"op": "add", "path": "title", "value": "x"}), None, actor=ACTOR
    )
    await services.users.delete("acme", b.id, None, actor=ACTOR)

    everything = await services.events()
    assert [(e.operation, e.resource_id) for e in everything] == [
        ("delete", b.id),
        ("patch", a.id),
        ("create", b.id),
        ("create", a.id),
    ]
    assert [e.operation for e in await services.events(resource_id=a.id)] == ["patch", "create"]
    assert await services.events(since=everything[1].time) == everything[:2]
    assert await services.events(limit=1) == everything[:1]
    assert await services.trail.events("other") == []


async def test_the_audit_collection_is_indexed_by_time_and_by_resource(services: Services, db: Any) -> None:
    await services.users.create("acme", alice(), actor=ACTOR)

    indexes = await db["org_acme_audit"].index_information()
    assert {name: info["key"] for name, info in indexes.items() if name != "_id_"} == {
        "time": [("time", -1), ("_id", -1)],
        "resource": [("resourceId", 1), ("time", -1), ("_id", -1)],
        "seq": [("seq", 1)],
    }
