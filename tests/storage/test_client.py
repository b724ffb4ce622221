"""The driver's connection options, the embedded store's bridge to the current pymongo, and the
process's record of whether the database answers."""

from __future__ import annotations

import logging

import pytest
from pymongo import ReplaceOne, UpdateOne
from pymongo.errors import AutoReconnect

from scim_server.storage.client import REACHABILITY, close, connect, embedded_client


@pytest.mark.parametrize(
    ("uri", "seconds"),
    [
        ("mongodb://127.0.0.1:1/", 2.5),  # the setting
        ("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", 0.3),  # the URI wins
    ],
)
async def test_the_server_selection_timeout_comes_from_the_setting_unless_the_uri_names_one(
    uri: str, seconds: float
) -> None:
    client, database = connect(uri, "scim", server_selection_timeout_seconds=2.5)
    try:
        assert type(client).__name__ == "AsyncMongoClient"
        assert client.options.server_selection_timeout == seconds
        assert client.codec_options.tz_aware is True
        assert database.name == "scim"
    finally:
        await close(client)


async def test_the_embedded_store_takes_pymongos_bulk_updates_and_replacements() -> None:
    collection = embedded_client()["scim"]["bulk"]
    await collection.insert_many([{"_id": "a", "n": 1}, {"_id": "b", "n": 5}])

    result = await collection.bulk_write(
        [UpdateOne({"_id": "a"}, {"$max": {"n": 3}}), ReplaceOne({"_id": "b"}, {"n": 7})], ordered=False
    )

    assert (result.matched_count, result.modified_count) == (2, 2)
    assert await collection.find({}, sort=[("_id", 1)]).to_list(None) == [
        {"_id": "a", "n": 3},
        {"_id": "b", "n": 7},
    ]


async def test_the_embedded_store_refuses_a_sort_inside_a_bulk_update() -> None:
    collection = embedded_client()["scim"]["bulk"]

    with pytest.raises(NotImplementedError, match="cannot sort inside a bulk update"):
        await collection.bulk_write([UpdateOne({}, {"$set": {"n": 1}}, sort={"n": 1})])


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scim_server.storage")

    REACHABILITY.failed(AutoReconnect("before the database ever answered"))  # the caller reports it
    REACHABILITY.answered()
    REACHABILITY.answered()
    for _ in range(3):
        REACHABILITY.failed(AutoReconnect("db:27017: connection closed"))
    REACHABILITY.answered()
    REACHABILITY.answered()

    assert [(r.levelname, r.getMessage().split(",")[0]) for r in caplog.records] == [
        (
            "WARNING",
            "the database cannot be reached (AutoReconnect); requests are answered 503 until it answers "
            "again",
        ),
        ("INFO", "the database answers again"),
    ]
