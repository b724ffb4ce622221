"""Database errors answered honestly: 503 with Retry-After only when the database cannot be reached,
a logged 500 for anything else, one WARNING/INFO pair per outage, and /metrics counting them by kind.

The driver's failures are injected into the collection class the store hands out (mongomock-motor's,
or pymongo's over the wire), so every layer above the driver runs as it does in production.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from bson.errors import InvalidDocument
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DocumentTooLarge,
    InvalidOperation,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteConcernError,
    WriteError,
)

from scim_server.errors import ERROR_SCHEMA
from scim_server.logs import JsonFormatter, RequestIdFilter
from tests.helpers import auth

USERS = "/scim/v2/Users"
SECRET = "alice-secret@example.com"  # a value that must never reach a log or a response
GENERIC_500 = {
    "schemas": [ERROR_SCHEMA],
    "status": "500",
    "detail": "the server failed to handle the request; it has been logged",
}
UNAVAILABLE_503 = {
    "schemas": [ERROR_SCHEMA],
    "status": "503",
    "detail": "the database is unavailable; retry later",
}


def refusal(code: int, name: str, error: type[OperationFailure] = OperationFailure) -> OperationFailure:
    """A server's refusal whose message quotes a value, as MongoDB's messages may."""
    message = f'cannot apply to {{userName: "{SECRET}"}}'
    return error(message, code, {"ok": 0, "code": code, "codeName": name, "errmsg": message})


UNAVAILABLE_ERRORS: list[PyMongoError] = [
    AutoReconnect(f"db:27017: connection closed ({SECRET})"),
    NetworkTimeout("db:27017: timed out"),
    ServerSelectionTimeoutError("db:27017: [Errno 111] Connection refused"),
    NotPrimaryError("not primary", {"code": 10107, "codeName": "NotWritablePrimary"}),
    WaitQueueTimeoutError("timed out waiting for a connection"),
    refusal(91, "ShutdownInProgress"),
    refusal(11600, "InterruptedAtShutdown"),
    refusal(189, "PrimarySteppedDown"),
    refusal(11602, "InterruptedDueToReplStateChange"),
    refusal(91, "ShutdownInProgress", WriteConcernError),
]
# (error, kind in /metrics, what the ERROR record says of it)
FAILURE_ERRORS: list[tuple[BaseException, str, str]] = [
    (refusal(2, "BadValue"), "refused", "OperationFailure code 2 (BadValue)"),
    (
        refusal(121, "DocumentValidationFailure", WriteError),
        "refused",
        "WriteError code 121 (DocumentValidationFailure)",
    ),
    (
        BulkWriteError({"writeErrors": [{"code": 2, "errmsg": SECRET}], "nInserted": 0}),
        "refused",
        "BulkWriteError code 65",
    ),
    (refusal(50, "MaxTimeMSExpired"), "refused", "OperationFailure code 50 (MaxTimeMSExpired)"),
    (DocumentTooLarge(f"BSON document too large ({SECRET})"), "invalid_document", "DocumentTooLarge"),
    (InvalidDocument(f"cannot encode object: {SECRET}"), "invalid_document", "InvalidDocument"),
    (InvalidOperation(f"cannot use a closed client ({SECRET})"), "driver", "InvalidOperation"),
]


@pytest.fixture
def failing(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``failing(error)``: from then on, every ``find`` and ``count_documents`` of the store's collections
    raises ``error`` (a listing makes both); ``failing(None)`` ends it."""
    collection_class = type(db["any"])
    originals = {name: getattr(collection_class, name) for name in ("find", "count_documents")}

    def fail(error: BaseException | None) -> None:
        for name, original in originals.items():
            if error is None:
                monkeypatch.setattr(collection_class, name, original)
            else:

                def raising(*args: Any, _error: BaseException = error, **kwargs: Any) -> Any:
                    raise _error

                monkeypatch.setattr(collection_class, name, raising)

    yield fail
    fail(None)


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Log capture with the request id stamped on each record, as the server's handler does."""
    caplog.set_level(logging.INFO, logger="scim_server")
    stamp = RequestIdFilter()
    caplog.handler.addFilter(stamp)
    yield caplog
    caplog.handler.removeFilter(stamp)


def storage_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "scim_server.storage"]


async def database_error_samples(client: TestClient[Any, Any]) -> list[str]:
    text = await (await client.get("/metrics")).text()
    return [line for line in text.splitlines() if line.startswith("scim_database_errors_total{")]


async def ensure_the_token_is_cached(client: TestClient[Any, Any]) -> None:
    # The failures are injected into find, which a token lookup does not use; one good listing
    # first, so that the database has answered (before it ever has, an outage is not logged).
    assert (await client.get(USERS, headers=auth())).status == 200


@pytest.mark.parametrize(
    "error", UNAVAILABLE_ERRORS, ids=lambda e: f"{type(e).__name__}-{getattr(e, 'code', '')}"
)
async def test_a_database_that_cannot_be_reached_answers_503_with_retry_after(
    client: TestClient[Any, Any], failing: Any, records: pytest.LogCaptureFixture, error: PyMongoError
) -> None:
    await ensure_the_token_is_cached(client)
    failing(error)

    responses = [await client.get(USERS, headers=auth()) for _ in range(3)]
    failing(None)
    after = await client.get(USERS, headers=auth())

    for response in responses:
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert await response.json(content_type=None) == UNAVAILABLE_503
    assert after.status == 200
    logged = storage_records(records)
    assert [level for level, _ in logged] == [logging.WARNING, logging.INFO]
    assert logged[0][1] == (
        f"the database cannot be reached ({type(error).__name__}"
        + (f" code {error.code} ({error.details['codeName']})" if isinstance(error, OperationFailure) else "")
        + "); requests are answered 503 until it answers again"
    )
    assert logged[1][1].startswith("the database answers again, after ")
    assert not [r for r in records.records if r.levelno >= logging.ERROR]
    assert SECRET not in records.text
    assert await database_error_samples(client) == ['scim_database_errors_total{kind="unavailable"} 3']


@pytest.mark.parametrize(
    ("error", "kind", "summary"), FAILURE_ERRORS, ids=[summary for _, _, summary in FAILURE_ERRORS]
)
async def test_any_other_database_error_answers_500_and_logs_an_error_without_values(
    client: TestClient[Any, Any],
    failing: Any,
    records: pytest.LogCaptureFixture,
    error: BaseException,
    kind: str,
    summary: str,
) -> None:
    await ensure_the_token_is_cached(client)
    failing(error)

    response = await client.get(USERS, headers=auth() | {"X-Request-Id": "req-refused-1"})

    assert response.status == 500
    assert "Retry-After" not in response.headers
    assert await response.json(content_type=None) == GENERIC_500
    errors = [r for r in records.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    [record] = errors
    assert record.name == "scim_server.storage"
    assert record.getMessage() == f"database error in ResourceRepository.find: {summary} (answered 500)"
    assert getattr(record, "request_id", None) == "req-refused-1"
    line = JsonFormatter().format(record)
    # The traceback reaches into the driver call, and the stack shows who made it.
    assert f"DriverError: {summary} in ResourceRepository.find" in line
    assert "in search" in line  # the service's frame, from the stack
    assert SECRET not in line
    assert SECRET not in records.text
    # The database answered (with a refusal): no outage is reported.
    assert not [r for r in records.records if r.levelno == logging.WARNING]
    assert await database_error_samples(client) == [f'scim_database_errors_total{{kind="{kind}"}} 1']


async def test_readyz_during_an_outage_answers_503_with_retry_after_and_counts_it(
    client: TestClient[Any, Any], db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError("db:27017: [Errno 111] Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(type(db), "command", unreachable)
        down = await client.get("/readyz")
    up = await client.get("/readyz")

    assert down.status == 503
    assert down.headers["Retry-After"] == "5"
    assert await down.json(content_type=None) == {
        "schemas": [ERROR_SCHEMA],
        "status": "503",
        "detail": "the database cannot be reached",
    }
    assert up.status == 200
    assert await database_error_samples(client) == ['scim_database_errors_total{kind="unavailable"} 1']
