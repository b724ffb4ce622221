"""Bulk (RFC 7644 §3.7): bulkIds, order, cycles, failOnErrors, limits, versions, audit, batching."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from scim_server.schema.catalog import BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA
from tests.helpers import ClientFactory, auth

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BASE = "https://scim.test/scim/v2"


def bulk_body(*operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK_REQUEST_SCHEMA], "Operations": list(operations), **extra}


async def send(client: TestClient[Any, Any], body: Any, status: int = 200) -> Any:
    response = await client.post("/scim/v2/Bulk", json=body, headers=auth())
    assert response.status == status, await response.text()
    result = await response.json()
    if status == 200:
        assert result["schemas"] == [BULK_RESPONSE_SCHEMA]
    return result


def create_user(bulk_id: str, name: str) -> dict[str, Any]:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": {"userName": name}}


async def get(client: TestClient[Any, Any], path: str) -> Any:
    response = await client.get("/scim/v2" + path, headers=auth())
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_bulk_creates_a_hundred_users_and_a_group_of_them_through_bulk_ids(
    client: TestClient[Any, Any],
) -> None:
    users = [create_user(f"u{i}", f"user{i:03}") for i in range(100)]
    group = {
        "method": "POST",
        "path": "/Groups",
        "bulkId": "everyone",
        "data": {"displayName": "Everyone", "members": [{"value": f"bulkId:u{i}"} for i in range(100)]},
    }
    # The group comes first: it waits for the users it names (RFC 7644 §3.7.1).
    result = await send(client, bulk_body(group, *users))
    operations = result["Operations"]
    assert len(operations) == 101
    ids = [op["location"].rsplit("/", 1)[1] for op in operations]
    assert operations[0] == {
        "method": "POST",
        "bulkId": "everyone",
        "version": 'W/"1"',
        "location": f"{BASE}/Groups/{ids[0]}",
        "status": "201",
    }
    assert operations[1:] == [
        {
            "method": "POST",
            "bulkId": f"u{i}",
            "version": 'W/"1"',
            "location": f"{BASE}/Users/{ids[i + 1]}",
            "status": "201",
        }
        for i in range(100)
    ]
    members = (await get(client, f"/Groups/{ids[0]}"))["members"]
    assert sorted(m["value"] for m in members) == sorted(ids[1:])
    assert (await get(client, f"/Users/{ids[1]}"))["userName"] == "user000"
    assert (await get(client, "/Users?count=0"))["totalResults"] == 100


async def test_later_operations_use_bulk_ids_in_paths_and_data(client: TestClient[Any, Any]) -> None:
    result = await send(
        client,
        bulk_body(
            create_user("alice", "alice"),
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "G"}},
            {
                "method": "PATCH",
                "path": "/Groups/bulkId:g",
                "data": {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:alice"}]}],
                },
            },
            {
                "method": "PUT",
                "path": "/Users/bulkId:alice",
                "data": {"userName": "alice", "title": "Boss"},
            },
            {
                "method": "PATCH",
                "path": "/Users/bulkId:alice",
                "data": {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "replace", "path": "active", "value": False}],
                },
            },
        ),
    )
    alice, group = (op["location"].rsplit("/", 1)[1] for op in result["Operations"][:2])
    assert [(op["method"], op["status"], op.get("version")) for op in result["Operations"]] == [
        ("POST", "201", 'W/"1"'),
        ("POST", "201", 'W/"1"'),
        # A Group's PATCH answers 204, as alone; a membership change moves the group's and the
        # member's versions twice (before and after the pairs: docs/design.md, Membership).
        ("PATCH", "204", 'W/"3"'),
        ("PUT", "200", 'W/"4"'),
        ("PATCH", "200", 'W/"5"'),
    ]
    assert result["Operations"][3]["location"] == f"{BASE}/Users/{alice}"
    user = await get(client, f"/Users/{alice}")
    assert (user["title"], user["active"], user["groups"][0]["value"]) == ("Boss", False, group)


async def test_groups_that_contain_each_other_are_created_then_completed(
    client: TestClient[Any, Any],
) -> None:
    result = await send(
        client,
        bulk_body(
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "a",
                "data": {"displayName": "A", "members": [{"value": "bulkId:b", "type": "Group"}]},
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "b",
                "data": {"displayName": "B", "members": [{"value": "bulkId:a"}]},
            },
        ),
    )
    a, b = result["Operations"]
    assert (a["status"], b["status"]) == ("201", "201"), a.get("response")
    a_id, b_id = a["location"].rsplit("/", 1)[1], b["location"].rsplit("/", 1)[1]
    assert a["version"] == 'W/"3"'  # created, then completed with its member (two moves)
    assert [m["value"] for m in (await get(client, f"/Groups/{a_id}"))["members"]] == [b_id]
    assert [m["value"] for m in (await get(client, f"/Groups/{b_id}"))["members"]] == [a_id]


async def test_a_cycle_that_cannot_be_split_answers_409_for_each_operation(
    client: TestClient[Any, Any],
) -> None:
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

    def user(bulk_id: str, other: str) -> dict[str, Any]:
        data = {"userName": bulk_id, enterprise: {"manager": {"value": f"bulkId:{other}"}}}
        return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data}

    result = await send(client, bulk_body(user("x", "y"), user("y", "x"), create_user("z", "z")))
    x, y, z = result["Operations"]
    assert (x["status"], y["status"], z["status"]) == ("409", "409", "201")
    assert x["response"] == {
        "schemas": [ERROR],
        "status": "409",
        "detail": "circular bulkId references that cannot be resolved: waits on y",
    }
    assert (await get(client, "/Users?count=0"))["totalResults"] == 1


async def test_references_to_failed_or_unknown_bulk_ids_fail(client: TestClient[Any, Any]) -> None:
    result = await send(
        client,
        bulk_body(
            {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"userName": ""}},
            {"method": "PUT", "path": "/Users/bulkId:bad", "data": {"userName": "x"}},
            {"method": "DELETE", "path": "/Users/bulkId:nobody"},
        ),
    )
    statuses = [(op["status"], op["response"].get("scimType")) for op in result["Operations"]]
    assert statuses == [("400", "invalidValue"), ("409", None), ("400", "invalidValue")]
    assert result["Operations"][1]["response"]["detail"] == "bulkId bad was not created: its operation failed"
    assert result["Operations"][2]["response"]["detail"] == "no operation in this request has bulkId nobody"


async def test_fail_on_errors_stops_after_the_given_count(client: TestClient[Any, Any]) -> None:
    await send(client, bulk_body(create_user("taken", "taken")))
    result = await send(
        client,
        bulk_body(
            create_user("a", "a"),
            create_user("dup1", "taken"),  # 409 uniqueness, inside a batched run of creates
            create_user("b", "b"),
            {"method": "DELETE", "path": "/Users/no-such-id"},  # 404
            create_user("c", "c"),
            create_user("d", "d"),
            failOnErrors=2,
        ),
    )
    assert [(op.get("bulkId"), op["status"]) for op in result["Operations"]] == [
        ("a", "201"),
        ("dup1", "409"),
        ("b", "201"),
        (None, "404"),
    ]
    assert result["Operations"][1]["response"] == {
        "schemas": [ERROR],
        "status": "409",
        "scimType": "uniqueness",
        "detail": "userName is already in use in this organization",
    }
    listed = await get(client, "/Users?attributes=userName")
    assert sorted(u["userName"] for u in listed["Resources"]) == ["a", "b", "taken"]


async def test_fail_on_errors_inside_a_run_of_creates_inserts_nothing_after_the_stop(
    client: TestClient[Any, Any],
) -> None:
    result = await send(
        client,
        bulk_body(
            create_user("a", "a"),
            create_user("a2", "A"),  # a clash with "a" (userName is case-insensitive)
            create_user("bad", ""),
            create_user("b", "b"),
            failOnErrors=1,
        ),
    )
    assert [op["status"] for op in result["Operations"]] == ["201", "409"]
    listed = await get(client, "/Users?attributes=userName")
    assert [u["userName"] for u in listed["Resources"]] == ["a"]


async def test_version_acts_as_if_match_per_operation(client: TestClient[Any, Any]) -> None:
    created = await send(client, bulk_body(create_user("u", "u")))
    location = created["Operations"][0]["location"]
    user_id = location.rsplit("/", 1)[1]
    result = await send(
        client,
        bulk_body(
            {"method": "PUT", "path": f"/Users/{user_id}", "version": 'W/"7"', "data": {"userName": "v"}},
            {"method": "PUT", "path": f"/Users/{user_id}", "version": 'W/"1"', "data": {"userName": "w"}},
            {"method": "DELETE", "path": f"/Users/{user_id}", "version": 'W/"1"'},
        ),
    )
    stale, fresh, delete = result["Operations"]
    assert stale == {
        "method": "PUT",
        "location": location,
        "status": "412",
        "response": {
            "schemas": [ERROR],
            "status": "412",
            "detail": f"User {user_id} is at version 1, not the one named in If-Match",
        },
    }
    assert fresh == {"method": "PUT", "version": 'W/"2"', "location": location, "status": "200"}
    assert delete["status"] == "412"
    assert (await get(client, f"/Users/{user_id}"))["userName"] == "w"


async def test_too_many_operations_is_413_naming_max_operations(
    aiohttp_client: ClientFactory, app_factory: Any
) -> None:
    client = await aiohttp_client(app_factory(bulk_max_operations=2))
    body = bulk_body(*(create_user(f"u{i}", f"u{i}") for i in range(3)))
    assert await send(client, body, status=413) == {
        "schemas": [ERROR],
        "status": "413",
        "detail": "the Bulk request has 3 operations, more than maxOperations (2)",
    }
    assert (await get(client, "/Users?count=0"))["totalResults"] == 0
    config = await get(client, "/ServiceProviderConfig")
    assert config["bulk"] == {"supported": True, "maxOperations": 2, "maxPayloadSize": 1_048_576}


async def test_a_body_over_max_payload_size_is_413_naming_it(
    aiohttp_client: ClientFactory, app_factory: Any
) -> None:
    client = await aiohttp_client(app_factory(bulk_max_payload_bytes=2000, max_body_bytes=100_000))
    body = bulk_body(*(create_user(f"u{i}", f"user-{i}") for i in range(40)))
    assert await send(client, body, status=413) == {
        "schemas": [ERROR],
        "status": "413",
        "detail": "the Bulk request body exceeds maxPayloadSize (2000 bytes)",
    }
    config = await get(client, "/ServiceProviderConfig")
    assert config["bulk"]["maxPayloadSize"] == 2000


async def test_a_bulk_larger_than_a_single_request_may_be_is_accepted(
    aiohttp_client: ClientFactory, app_factory: Any
) -> None:
    client = await aiohttp_client(app_factory(bulk_max_payload_bytes=200_000, max_body_bytes=2000))
    body = bulk_body(*(create_user(f"u{i}", f"user-{i}") for i in range(100)))
    result = await send(client, body)
    assert {op["status"] for op in result["Operations"]} == {"201"}


async def test_malformed_requests_and_operations(client: TestClient[Any, Any]) -> None:
    assert (await send(client, {"Operations": {}}, status=400))["scimType"] == "invalidSyntax"
    assert (await send(client, [], status=400))["scimType"] == "invalidSyntax"
    body = bulk_body(create_user("a", "a"), failOnErrors=0)
    assert (await send(client, body, status=400))["scimType"] == "invalidValue"
    result = await send(
        client,
        bulk_body(
            "not an object",
            {"method": "GET", "path": "/Users"},
            {"method": "POST", "path": "/Users", "data": {"userName": "no-bulk-id"}},
            {"method": "POST", "path": "/Widgets", "bulkId": "w", "data": {}},
            {"method": "PUT", "path": "/Users", "data": {"userName": "x"}},
            {"method": "PATCH", "path": "/Users/x"},
            create_user("same", "one"),
            create_user("same", "two"),
        ),
    )
    assert [op["status"] for op in result["Operations"]] == ["400"] * 6 + ["201", "400"]
    assert result["Operations"][2]["response"]["detail"] == (
        "Operations[2]: a POST needs a bulkId (RFC 7644 §3.7)"
    )


async def test_each_operation_is_audited_as_its_own_request(client: TestClient[Any, Any], db: Any) -> None:
    result = await send(
        client,
        bulk_body(
            create_user("a", "a"),
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g",
                "data": {"displayName": "G", "members": [{"value": "bulkId:a"}]},
            },
            {"method": "DELETE", "path": "/Users/bulkId:a"},
            create_user("b", "a"),  # the name is free again once "a" is deleted
        ),
    )
    assert [op["status"] for op in result["Operations"]] == ["201", "201", "204", "201"]
    user_a, group, _, user_b = (op["location"].rsplit("/", 1)[1] for op in result["Operations"])
    recorded = await db["org_orga_audit"].find({}, {"_id": 0}).sort([("time", 1), ("_id", 1)]).to_list(None)
    assert [
        (e["resourceType"], e["resourceId"], e["operation"], e["tokenName"], e.get("members"))
        for e in recorded
    ] == [
        ("User", user_a, "create", "bootstrap", None),
        ("Group", group, "create", "bootstrap", {"added": 1, "removed": 0}),
        ("User", user_a, "delete", "bootstrap", None),
        ("User", user_b, "create", "bootstrap", None),
    ]


async def test_each_operation_takes_a_rate_limit_token(
    aiohttp_client: ClientFactory, app_factory: Any
) -> None:
    # Five tokens that take a thousand seconds each to come back: more than a Bulk waits for one.
    client = await aiohttp_client(app_factory(rate_limit_per_second=0.001, rate_limit_burst=5))
    result = await send(client, bulk_body(*(create_user(f"u{i}", f"u{i}") for i in range(6))))
    assert [op["status"] for op in result["Operations"]] == ["201"] * 5 + ["429"]
    assert result["Operations"][5]["response"] == {
        "schemas": [ERROR],
        "status": "429",
        "detail": "too many requests for this organization; retry later",
    }
    # The Bulk's own token stood for its first operation; the next four took the rest.
    response = await client.get("/scim/v2/Users", headers=auth())
    assert response.status == 429


async def test_a_read_only_token_cannot_send_a_bulk(client: TestClient[Any, Any]) -> None:
    from scim_server.api.keys import TOKENS

    tokens = client.server.app[TOKENS]  # type: ignore[union-attr]
    _, secret = await tokens.create("orga", name="reader", read_only=True)
    response = await client.post("/scim/v2/Bulk", json=bulk_body(create_user("a", "a")), headers=auth(secret))
    assert response.status == 403
