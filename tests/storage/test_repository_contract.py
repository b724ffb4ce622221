"""The storage contract: every store the server runs on (mongomock, MongoDB) must pass these tests.

``RepositoryContract`` holds the tests; each concrete class below provides a ``db`` fixture. The
MongoDB class runs only when ``SCIM_TEST_MONGODB_URI`` names a server it may create databases on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scim_server.errors import UniquenessError
from scim_server.schema.catalog import USER_RESOURCE_TYPE
from scim_server.storage.documents import StoredResource
from scim_server.storage.repository import ResourceRepository, Store, collection_name
from tests.helpers import on_mongodb

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ENTERPRISE_KEY = "urn:ietf:params:scim:schemas:extension:enterprise:2_0:User"
T0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


def when(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stored(
    resource_id: str, resource: dict[str, Any], *, minute: int = 0, version: int = 1
) -> StoredResource:
    return StoredResource(
        id=resource_id, resource=resource, created=when(minute), last_modified=when(minute), version=version
    )


class RepositoryContract:
    """Behaviour every store must show through ``Store(db).users(org)``."""

    async def users(self, db: Any, org_id: str = "acme") -> ResourceRepository:
        return await Store(db).users(org_id)

    async def test_an_inserted_user_is_read_back_whole(self, db: Any) -> None:
        repo = await self.users(db)
        resource = {
            "userName": "BJensen",
            "externalId": "E-1",
            "name": {"givenName": "Barbara"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
            ENTERPRISE: {"department": "Tours", "manager": {"value": "m-1", "$ref": "https://x/Users/m-1"}},
        }

        await repo.insert(stored("u-1", resource))

        assert await repo.get("u-1") == stored("u-1", resource)
        assert await repo.get("u-2") is None

    async def test_a_username_differing_only_in_case_is_a_uniqueness_error(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "BJensen"}))

        with pytest.raises(UniquenessError) as caught:
            await repo.insert(stored("u-2", {"userName": "bjensen"}))

        assert (caught.value.status, caught.value.scim_type, caught.value.detail) == (
            409,
            "uniqueness",
            "userName is already in use in this organization",
        )
        assert await repo.get("u-2") is None

    async def test_an_update_stores_the_next_version_writing_only_the_changed_attributes(
        self, db: Any
    ) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a", "title": "Guide", "displayName": "A"}))
        current = await repo.get("u-1")
        assert current is not None
        collection = db[collection_name("acme", USER_RESOURCE_TYPE)]
        # Written after the read without a new version: the update writes only the fields of the
        # attributes it changes (and the shadows of those that fold case), so this one stays.
        await collection.update_one({"_id": "u-1"}, {"$set": {"active": True}})

        updated = await repo.update(
            current, {"userName": "a", "title": "Chief"}, ["title", "displayName"], last_modified=when(5)
        )

        expected = StoredResource(
            id="u-1",
            resource={"userName": "a", "title": "Chief"},
            created=when(0),
            last_modified=when(5),
            version=2,
        )
        assert updated == expected
        assert await repo.get("u-1") == StoredResource(
            id="u-1",
            resource={"userName": "a", "title": "Chief", "active": True},
            created=when(0),
            last_modified=when(5),
            version=2,
        )
        raw = await collection.find_one({"_id": "u-1"})
        assert raw["_lc"] == {"userName": "a", "title": "chief"}

    async def test_an_update_answers_the_resource_after_it_which_the_next_update_can_follow(
        self, db: Any
    ) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a", "title": "Guide"}))
        current = await repo.get("u-1")
        assert current is not None

        first = await repo.update(
            current, {"userName": "a", "title": "Chief"}, ["title"], last_modified=when(5)
        )
        assert first is not None
        second = await repo.update(
            first, {"userName": "b", "title": "Chief"}, ["userName"], last_modified=when(6)
        )

        assert second == StoredResource(
            id="u-1",
            resource={"userName": "b", "title": "Chief"},
            created=when(0),
            last_modified=when(6),
            version=3,
        )
        assert await repo.get("u-1") == second
        assert await repo.count({"_lc.userName": "b"}) == 1

    async def test_an_update_changing_nothing_still_moves_the_version(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a"}, version=4))
        current = await repo.get("u-1")
        assert current is not None

        updated = await repo.update(current, current.resource, [], last_modified=when(5))

        expected = stored("u-1", {"userName": "a"}, version=5)
        expected.last_modified = when(5)
        assert updated == expected
        assert await repo.get("u-1") == expected

    async def test_an_update_needs_the_resource_read_whole(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a"}))
        for_response = await repo.get("u-1", response_only=True)
        assert for_response is not None

        with pytest.raises(ValueError, match="read whole"):
            await repo.update(for_response, {"userName": "b"}, ["userName"], last_modified=when(5))
        with pytest.raises(ValueError, match="read whole"):
            await repo.update(
                stored("u-1", {"userName": "a"}), {"userName": "b"}, ["userName"], last_modified=when(5)
            )

        assert await repo.get("u-1") == stored("u-1", {"userName": "a"})

    async def test_an_assignment_writes_once_where_a_value_differs_and_answers_the_user_after_it(
        self, db: Any
    ) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a", "title": "Guide", "active": True}, version=4))
        values = {"title": "Chief", "active": True, "nickName": "Al"}

        assigned = await repo.assign("u-1", values, last_modified=when(5))

        assert assigned is not None
        after, changed = assigned
        expected = stored(
            "u-1", {"userName": "a", "title": "Chief", "active": True, "nickName": "Al"}, version=5
        )
        expected.last_modified = when(5)
        assert changed == ["nickName", "title"]
        assert (after.id, after.version, after.last_modified) == ("u-1", 5, when(5))
        assert await repo.get("u-1") == expected
        raw = await db[collection_name("acme", USER_RESOURCE_TYPE)].find_one({"_id": "u-1"})
        assert raw["_lc"] == {"userName": "a", "title": "chief", "nickName": "al"}
        # Read for a response: no shadows, the user's attributes as stored.
        assert after.document is not None and "_lc" not in after.document
        assert {k: after.document[k] for k in ("userName", "title", "active", "nickName")} == {
            "userName": "a",
            "title": "Chief",
            "active": True,
            "nickName": "Al",
        }
        # The same values again: nothing is written, and the version stays.
        assert await repo.assign("u-1", values, last_modified=when(6)) is None
        assert await repo.get("u-1") == expected
        # No such user: nothing either.
        assert await repo.assign("nobody", values, last_modified=when(6)) is None
        assert await repo.count({}) == 1

    async def test_an_assignment_of_a_taken_username_is_a_uniqueness_error(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "alice"}))
        await repo.insert(stored("u-2", {"userName": "bob"}))

        with pytest.raises(UniquenessError, match="userName is already in use"):
            await repo.assign("u-2", {"userName": "ALICE"}, last_modified=when(5))

        assert await repo.get("u-2") == stored("u-2", {"userName": "bob"})

    async def test_an_update_from_a_stale_version_changes_nothing(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a", "title": "Guide"}, version=3))
        current = await repo.get("u-1")
        assert current is not None
        won = await repo.update(
            current, {"userName": "a", "title": "Chief"}, ["title"], last_modified=when(5)
        )
        assert won is not None

        lost = await repo.update(current, {"userName": "a"}, ["title"], last_modified=when(6))

        assert lost is None
        assert await repo.get("u-1") == won

    async def test_an_update_of_a_deleted_resource_matches_nothing(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a"}))
        current = await repo.get("u-1")
        assert current is not None
        assert await repo.delete("u-1") is True

        assert (
            await repo.update(current, {"userName": "a", "title": "x"}, ["title"], last_modified=when(5))
            is None
        )
        assert await repo.count({}) == 0

    async def test_an_update_to_a_taken_username_is_a_uniqueness_error(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "alice"}))
        await repo.insert(stored("u-2", {"userName": "bob"}))
        current = await repo.get("u-2")
        assert current is not None

        with pytest.raises(UniquenessError, match="userName is already in use"):
            await repo.update(current, {"userName": "ALICE"}, ["userName"], last_modified=when(5))

        assert await repo.get("u-2") == stored("u-2", {"userName": "bob"})

    async def test_an_update_can_set_a_complex_value_holding_a_reference(self, db: Any) -> None:
        # "$ref" is a SCIM sub-attribute name that MongoDB also reads as a DBRef key.
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a"}))
        current = await repo.get("u-1")
        assert current is not None
        manager = {"value": "m-1", "$ref": "https://scim.test/scim/v2/Users/m-1"}
        resource = {"userName": "a", ENTERPRISE: {"manager": manager}}

        updated = await repo.update(current, resource, [ENTERPRISE], last_modified=when(0))

        assert updated == stored("u-1", resource, version=2)
        assert await repo.get("u-1") == stored("u-1", resource, version=2)
        raw = await db[collection_name("acme", USER_RESOURCE_TYPE)].find_one({"_id": "u-1"})
        assert raw[ENTERPRISE_KEY] == {"manager": {"value": "m-1", "ref": manager["$ref"]}}

    async def test_delete_without_a_version_removes_the_user_once(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a"}))

        assert await repo.delete("u-1") is True
        assert await repo.delete("u-1") is False
        assert await repo.get("u-1") is None

    async def test_delete_with_a_version_removes_only_that_version(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "a"}, version=2))

        assert await repo.delete("u-1", expected_version=1) is False
        assert await repo.get("u-1") == stored("u-1", {"userName": "a"}, version=2)
        assert await repo.delete("u-1", expected_version=2) is True
        assert await repo.get("u-1") is None

    async def test_find_applies_query_sort_skip_and_limit_and_count_counts(self, db: Any) -> None:
        repo = await self.users(db)
        names = ["delta", "Alpha", "echo", "Charlie", "bravo"]
        for minute, name in enumerate(names):
            await repo.insert(stored(f"u-{minute}", {"userName": name, "active": minute != 2}, minute=minute))

        page = await repo.find({"active": True}, [("_lc.userName", 1)], 1, 2)

        assert page == [
            stored("u-4", {"userName": "bravo", "active": True}, minute=4),
            stored("u-3", {"userName": "Charlie", "active": True}, minute=3),
        ]
        by_created = await repo.find({}, [("meta.created", -1), ("_id", 1)], 0, 10)
        assert [s.id for s in by_created] == ["u-4", "u-3", "u-2", "u-1", "u-0"]
        assert await repo.find({"active": True}, [("_lc.userName", 1)], 4, 10) == []
        assert await repo.count({"active": True}) == 4
        assert await repo.count({}) == 5
        assert await repo.count({"_lc.userName": "alpha"}) == 1

    async def test_two_organizations_never_see_each_other(self, db: Any) -> None:
        store = Store(db)
        a, b = await store.users("orga"), await store.users("orgb")
        await a.insert(stored("u-1", {"userName": "alice"}))

        assert collection_name("orga", USER_RESOURCE_TYPE) == "org_orga_users"
        assert collection_name("orgb", USER_RESOURCE_TYPE) == "org_orgb_users"
        assert await b.get("u-1") is None
        assert await b.find({}, [("_id", 1)], 0, 10) == []
        assert await b.count({}) == 0
        assert await b.delete("u-1") is False
        from_a = await a.get("u-1")
        assert from_a is not None
        assert (
            await b.update(from_a, {"userName": "alice", "title": "x"}, ["title"], last_modified=when(1))
            is None
        )
        # The same id and userName are free in the other organization.
        await b.insert(stored("u-1", {"userName": "ALICE"}))
        assert await a.get("u-1") == stored("u-1", {"userName": "alice"})
        assert await b.get("u-1") == stored("u-1", {"userName": "ALICE"})

    async def test_indexes_exist_after_first_use(self, db: Any) -> None:
        await Store(db).users("org_x")

        info = await db["org_org_x_users"].index_information()

        assert info["userName"]["key"] == [("_lc.userName", 1)]
        assert info["userName"]["unique"] is True
        assert {
            "_id_",
            "userName",
            "externalId_id",
            "created",
            "lastModified_id",
            "emails_value_type",
            "deleted",
        } <= set(info)
        assert not info["externalId_id"].get("unique", False)
        assert info["deleted"]["key"] == [("_deleted", 1)]
        assert info["deleted"]["sparse"] is True

    async def test_a_soft_deleted_user_is_found_by_no_query_of_live_users(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "alice", "title": "Boss"}))
        await repo.insert(stored("u-2", {"userName": "bob"}, minute=1))
        current = await repo.get("u-1")
        assert current is not None

        assert await repo.soft_delete("u-1", 2, deleted_at=when(5)) is False  # not at that version
        assert await repo.soft_delete("u-1", 1, deleted_at=when(5)) is True

        assert await repo.get("u-1") is None
        assert [r.id for r in await repo.find({}, [("meta.created", 1)], 0, 10)] == ["u-2"]
        by_key = [("meta.created", 1), ("_id", 1)]
        assert [r.id for r, _ in await repo.find_after({}, by_key, None, 10)] == ["u-2"]
        assert [r.id for r, _ in await repo.find_after({}, by_key, (when(0), ""), 10)] == ["u-2"]
        assert [r.id for r, _ in await repo.find_after({}, by_key, (when(9), ""), 10, backwards=True)] == [
            "u-2"
        ]
        assert await repo.find({"_lc.userName": "alice"}, [("_id", 1)], 0, 10) == []
        assert await repo.count({}) == 1
        assert await repo.update(current, {"userName": "alice"}, ["title"], last_modified=when(6)) is None
        assert await repo.assign("u-1", {"title": "x"}, last_modified=when(6)) is None
        assert await repo.delete("u-1") is False
        assert await repo.soft_delete("u-1", deleted_at=when(6)) is False
        with pytest.raises(UniquenessError):  # it keeps its name
            await repo.insert(stored("u-3", {"userName": "ALICE"}))
        raw = await db[collection_name("acme", USER_RESOURCE_TYPE)].find_one({"_id": "u-1"})
        assert raw["_deleted"].replace(tzinfo=UTC) == when(5)
        assert raw["title"] == "Boss"

    async def test_a_restore_makes_the_holder_of_a_name_live_with_new_attributes(self, db: Any) -> None:
        repo = await self.users(db)
        await repo.insert(stored("u-1", {"userName": "alice", "title": "Boss"}))
        await repo.insert(stored("u-2", {"userName": "bob"}))
        await repo.soft_delete("u-1", deleted_at=when(5))

        held = await repo.holder({"userName": "ALICE"})
        assert held is not None
        deleted, is_deleted = held
        assert (deleted, is_deleted) == (stored("u-1", {"userName": "alice", "title": "Boss"}), True)
        assert await repo.holder({"userName": "bob"}) == (stored("u-2", {"userName": "bob"}), False)
        assert await repo.holder({"userName": "carol"}) is None

        restored = await repo.restore(
            deleted, {"userName": "ALICE", "displayName": "A"}, last_modified=when(9)
        )

        expected = StoredResource("u-1", {"userName": "ALICE", "displayName": "A"}, when(0), when(9), 2)
        assert restored == expected
        assert await repo.get("u-1") == expected
        raw = await db[collection_name("acme", USER_RESOURCE_TYPE)].find_one({"_id": "u-1"})
        assert "_deleted" not in raw and "title" not in raw
        # Another writer's restore of the same deleted resource finds it live: nothing is written.
        assert await repo.restore(deleted, {"userName": "x"}, last_modified=when(10)) is None
        assert await repo.get("u-1") == expected

    async def test_the_purge_removes_a_bounded_number_deleted_before_a_time(self, db: Any) -> None:
        repo = await self.users(db)
        for n in range(5):
            await repo.insert(stored(f"u-{n}", {"userName": f"user{n}"}))
        for n in range(4):
            await repo.soft_delete(f"u-{n}", deleted_at=when(n))

        first = await repo.purge_deleted(when(3), 2)
        second = await repo.purge_deleted(when(3), 2)

        assert sorted(first + second) == ["u-0", "u-1", "u-2"]
        assert len(first) == 2
        assert await repo.purge_deleted(when(3), 2) == []
        collection = db[collection_name("acme", USER_RESOURCE_TYPE)]
        assert sorted(d["_id"] for d in await collection.find({}).to_list(None)) == ["u-3", "u-4"]

    async def test_the_store_lists_the_organizations_with_resources(self, db: Any) -> None:
        store = Store(db)
        await store.users("acme")
        await store.groups("a_users")
        await store.memberships("zeta")

        assert await store.organizations() == ["a_users", "acme", "zeta"]

    async def test_a_second_store_on_the_same_database_ensures_indexes_again(self, db: Any) -> None:
        await Store(db).users("acme")
        repo = await Store(db).users("acme")
        await repo.insert(stored("u-1", {"userName": "a"}))

        with pytest.raises(UniquenessError):
            await repo.insert(stored("u-2", {"userName": "A"}))

    @pytest.mark.parametrize("org_id", ["../x", "a.b", "$x", "", "a" * 65, "-x", "a b", "a/b", "ä"])
    async def test_an_invalid_organization_id_is_refused(self, db: Any, org_id: str) -> None:
        with pytest.raises(ValueError, match="invalid organization id"):
            collection_name(org_id, USER_RESOURCE_TYPE)
        with pytest.raises(ValueError, match="invalid organization id"):
            await Store(db).users(org_id)

        assert await db.list_collection_names() == []


class TestRepositoryOnMongomock(RepositoryContract):
    @pytest.fixture
    def db(self, mongomock_database: Any) -> Any:
        return mongomock_database


class TestRepositoryOnMongoDB(RepositoryContract):
    pytestmark = on_mongodb

    @pytest.fixture
    def db(self, mongodb_database: Any) -> Any:
        return mongodb_database

    async def test_concurrent_inserts_of_one_username_leave_exactly_one(self, db: Any) -> None:
        repo = await self.users(db)
        spellings = ["Race@Example.com", "race@example.com", "RACE@EXAMPLE.COM", "race@Example.com"]

        results = await asyncio.gather(
            *(repo.insert(stored(f"u-{i}", {"userName": spellings[i % 4]})) for i in range(40)),
            return_exceptions=True,
        )

        assert sum(result is None for result in results) == 1
        assert all(isinstance(r, UniquenessError) for r in results if r is not None)
        assert await repo.count({"_lc.userName": "race@example.com"}) == 1
