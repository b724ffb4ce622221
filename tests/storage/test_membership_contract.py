"""The membership contract: group membership as (group, member) pair documents, on every store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from scim_server.storage.documents import StoredResource
from scim_server.storage.repository import (
    Member,
    MembershipRepository,
    Shown,
    Store,
    _any_of,
    membership_collection_name,
)
from tests.helpers import on_mongodb

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 3, 2, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime, whichever way the store gives it back."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def seed(db: Any, org: str = "acme") -> tuple[MembershipRepository, dict[str, Member]]:
    """Three users and two groups; returns the membership repository and the members by name."""
    store = Store(db)
    users, groups = await store.users(org), await store.groups(org)
    members: dict[str, Member] = {}
    for name in ("alice", "bob", "carol"):
        await users.insert(StoredResource(f"u-{name}", {"userName": name}, T0, T0, 1))
        members[name] = Member(f"u-{name}", "User", name)
    for name in ("eng", "ops"):
        await groups.insert(StoredResource(f"g-{name}", {"displayName": name.title()}, T0, T0, 1))
        members[name] = Member(f"g-{name}", "Group", name.title())
    return await store.memberships(org), members


class MembershipContract:
    async def test_find_reports_existing_users_and_groups_with_display_names(self, db: Any) -> None:
        repo, m = await seed(db)
        found = await repo.find(["u-alice", "g-ops", "nope"])
        assert found == {"u-alice": m["alice"], "g-ops": m["ops"]}

    async def test_add_is_idempotent_and_members_are_listed_users_first(self, db: Any) -> None:
        repo, m = await seed(db)
        await repo.add("g-eng", [m["bob"], m["ops"], m["alice"]])
        await repo.add("g-eng", [m["alice"], m["carol"]])
        assert await repo.members_of(["g-eng", "g-ops"]) == {
            "g-eng": [m["alice"], m["bob"], m["carol"], m["ops"]],
            "g-ops": [],
        }
        assert await db[membership_collection_name("acme")].count_documents({"g": "g-eng"}) == 4

    async def test_remove_replace_and_back_references(self, db: Any) -> None:
        repo, m = await seed(db)
        await repo.add("g-eng", [m["alice"], m["bob"]])
        await repo.add("g-ops", [m["alice"]])
        assert await repo.groups_of(["u-alice", "u-bob", "u-carol"]) == {
            "u-alice": ["g-eng", "g-ops"],
            "u-bob": ["g-eng"],
            "u-carol": [],
        }
        await repo.remove("g-eng", ["u-alice", "u-nobody"])
        assert await repo.member_ids(["g-eng"]) == {"g-eng": ["u-bob"]}
        assert await repo.replace("g-eng", [m["carol"], m["ops"]], last_modified=T0) == (
            ["u-carol", "g-ops"],
            ["u-bob"],
        )
        assert await repo.member_ids(["g-eng"]) == {"g-eng": ["g-ops", "u-carol"]}
        assert await repo.member_ids(["g-eng"], kind="User") == {"g-eng": ["u-carol"]}
        assert await repo.replace("g-eng", [], last_modified=T0) == ([], ["g-ops", "u-carol"])
        assert await repo.member_ids(["g-eng"]) == {"g-eng": []}

    async def test_forget_drops_a_resource_as_member_and_as_group(self, db: Any) -> None:
        repo, m = await seed(db)
        await repo.add("g-eng", [m["alice"], m["ops"]])
        await repo.add("g-ops", [m["bob"]])
        await repo.forget("g-ops")
        assert await repo.member_ids(["g-eng", "g-ops"]) == {"g-eng": ["u-alice"], "g-ops": []}

    async def test_pairs_of_a_deleted_member_are_skipped_when_listing(self, db: Any) -> None:
        repo, m = await seed(db)
        await repo.add("g-eng", [m["alice"], m["bob"]])
        await (await Store(db).users("acme")).delete("u-bob")
        assert await repo.members_of(["g-eng"]) == {"g-eng": [m["alice"]]}

    async def test_concurrent_adds_to_one_group_all_land(self, db: Any) -> None:
        repo, m = await seed(db)
        people = [m["alice"], m["bob"], m["carol"], m["ops"]]
        await asyncio.gather(*(repo.add("g-eng", [p]) for p in people * 5))
        assert await repo.member_ids(["g-eng"]) == {"g-eng": ["g-ops", "u-alice", "u-bob", "u-carol"]}

    async def test_organizations_have_separate_pairs(self, db: Any) -> None:
        repo_a, m = await seed(db, "acme")
        repo_b, _ = await seed(db, "globex")
        await repo_a.add("g-eng", [m["alice"]])
        assert await repo_b.member_ids(["g-eng"]) == {"g-eng": []}
        assert await repo_b.groups_of(["u-alice"]) == {"u-alice": []}

    async def test_pair_writes_alone_leave_member_documents_as_they_are(self, db: Any) -> None:
        repo, m = await seed(db)
        before = await db["org_acme_users"].find_one({"_id": "u-alice"})
        await repo.add("g-eng", [m["alice"]])
        await repo.remove("g-eng", ["u-alice"])
        assert await db["org_acme_users"].find_one({"_id": "u-alice"}) == before

    async def test_a_change_moves_each_user_it_adds_or_removes_twice_and_nothing_else(self, db: Any) -> None:
        repo, m = await seed(db)
        await repo.add("g-eng", [m["bob"]])
        before = {d["_id"]: d async for d in db["org_acme_users"].find({})}
        groups = {d["_id"]: d async for d in db["org_acme_groups"].find({})}
        await repo.change("g-eng", [m["alice"], m["ops"]], ["u-bob"], last_modified=T1)

        after = {d["_id"]: d async for d in db["org_acme_users"].find({})}
        for uid in ("u-alice", "u-bob"):
            assert after[uid]["meta"]["version"] == before[uid]["meta"]["version"] + 2
            assert as_utc(after[uid]["meta"]["lastModified"]) == T1
            assert {k: v for k, v in after[uid].items() if k != "meta"} == {
                k: v for k, v in before[uid].items() if k != "meta"
            }
        assert after["u-carol"] == before["u-carol"]
        # A member group does not show the groups it is in: no group document moves.
        assert {d["_id"]: d async for d in db["org_acme_groups"].find({})} == groups
        assert await repo.member_ids(["g-eng"]) == {"g-eng": ["g-ops", "u-alice"]}

    async def test_showing_names_who_lists_a_user_or_a_group(self, db: Any) -> None:
        repo, m = await seed(db)
        await repo.add("g-eng", [m["alice"], m["bob"], m["ops"]])
        await repo.add("g-ops", [m["alice"], m["carol"]])
        assert await repo.showing("u-alice") == Shown(groups=("g-eng", "g-ops"))
        # A group's member users list it in their groups; the groups it is in list it in members.
        assert await repo.showing("g-ops") == Shown(users=("u-alice", "u-carol"), groups=("g-eng",))
        assert await repo.showing("u-nobody") == Shown()
        assert not Shown() and Shown(users=("u-alice",))

    async def test_touch_moves_versions_and_last_modified_never_back(self, db: Any) -> None:
        repo, _ = await seed(db)
        await repo.touch(Shown(users=("u-alice", "u-gone"), groups=("g-ops",)), last_modified=T1)
        await repo.touch(Shown(users=("u-alice",)), last_modified=T0)  # an earlier clock
        alice = await db["org_acme_users"].find_one({"_id": "u-alice"})
        ops = await db["org_acme_groups"].find_one({"_id": "g-ops"})
        assert (alice["meta"]["version"], as_utc(alice["meta"]["lastModified"])) == (3, T1)
        assert (ops["meta"]["version"], as_utc(ops["meta"]["lastModified"])) == (2, T1)
        assert await db["org_acme_users"].count_documents({"_id": "u-gone"}) == 0

    async def test_bump_moves_the_version_written_or_else_whatever_it_is(self, db: Any) -> None:
        await seed(db)
        users = await Store(db).users("acme")
        current = await users.get("u-alice")
        assert current is not None
        written = await users.update(
            current, {"userName": "alice", "title": "Boss"}, ["title"], last_modified=T0
        )
        assert written is not None
        bumped = await users.bump(written, last_modified=T1)
        assert (bumped.version, bumped.last_modified, bumped.resource) == (3, T1, written.resource)
        assert await users.get("u-alice") == bumped
        # Another writer moved it on: the version still moves, and the stale one comes back as it was.
        assert await users.bump(written, last_modified=T1) is written
        latest = await users.get("u-alice")
        assert latest is not None and latest.version == 4


class TestMembershipOnMongomock(MembershipContract):
    @pytest.fixture
    def db(self, mongomock_database: Any) -> Any:
        return mongomock_database


class TestMembershipOnMongoDB(MembershipContract):
    pytestmark = on_mongodb

    @pytest.fixture
    def db(self, mongodb_database: Any) -> Any:
        return mongodb_database


def test_one_id_is_matched_by_equality_and_anything_else_stays_a_literal_inside_in() -> None:
    assert _any_of(["u-1"]) == "u-1"
    assert _any_of(["u-1", "u-2"]) == {"$in": ["u-1", "u-2"]}
    assert _any_of([]) == {"$in": []}
    # Never an operator position: a non-string (had one slipped through) is a value to match.
    assert _any_of([{"$ne": None}]) == {"$in": [{"$ne": None}]}  # type: ignore[list-item]
