"""Connecting to the document store, and what the store's failures mean.

Production talks to MongoDB (or a MongoDB-compatible engine) through pymongo's own asyncio API,
``AsyncMongoClient``; motor, which wrapped pymongo's threads, reached its end of life. The embedded
store is mongomock behind mongomock-motor's asyncio interface, with the lookups of ``embedded.py``;
:func:`bridge_mongomock` adapts what of mongomock breaks with the current pymongo. This package is the
only one that imports the driver.

A driver error means one of two things here (:func:`classify`):

- the database cannot be reached or is failing over (no server selectable, a connection lost, a
  network timeout, a primary stepping down or shutting down): the request may succeed later, so it is
  answered 503 with ``Retry-After``, and :data:`REACHABILITY` logs one WARNING when the database
  becomes unreachable and one INFO when it answers again;
- anything else (a refused query or update, a document too large, a write error other than a
  duplicate key) is a bug or bad data that a retry will not cure: a 500 with a generic body, logged at
  ERROR with the traceback and the operation, but never the driver's message, which may quote values
  from the query or the document.
"""

from __future__ import annotations

import inspect
import logging
import time
from types import TracebackType
from typing import Any

from bson.errors import BSONError
from mongomock.collection import BulkOperationBuilder
from mongomock_motor import AsyncMongoMockClient
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from scim_server.errors import DatabaseFailureError, DatabaseUnavailableError, ServiceUnavailableError
from scim_server.storage import embedded

logger = logging.getLogger("scim_server.storage")

DEFAULT_SERVER_SELECTION_TIMEOUT_SECONDS = 5.0
# The largest skip a query can carry (BSON's int64); no collection holds more documents.
LARGEST_SKIP = 2**63 - 1
# What a 503 for an unreachable database advises a client to wait: about one server selection.
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_DETAIL = "the database is unavailable; retry later"

# Server error codes that mean "not the primary, or going away" (the SDAM specification's "not
# primary" and "node is recovering" codes, shutdown included) and the network failures a server
# reports (the retryable-writes specification's list): the same request may succeed on the next
# primary or once the network recovers.
UNAVAILABLE_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        134,  # ReadConcernMajorityNotAvailableYet
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10058,  # LegacyNotPrimary
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)

# The kinds of database error, as /metrics counts them.
UNAVAILABLE = "unavailable"  # cannot be reached, or failing over: 503
REFUSED = "refused"  # the server refused the command (a query, an update, a write): 500
INVALID_DOCUMENT = "invalid_document"  # a document the driver cannot encode (too large, say): 500
DRIVER = "driver"  # any other driver error (configuration, a closed client): 500


def classify(error: BaseException) -> str | None:
    """The kind of a driver error (one of the constants above), None for anything else.

    A duplicate key is not classified: it is a uniqueness conflict the caller translates.
    """
    if isinstance(error, ConnectionFailure):
        # AutoReconnect (NetworkTimeout, NotPrimaryError), ServerSelectionTimeoutError, pool timeouts.
        return UNAVAILABLE
    if isinstance(error, OperationFailure):
        return UNAVAILABLE if error.code in UNAVAILABLE_CODES else REFUSED
    if isinstance(error, BSONError):  # DocumentTooLarge is one
        return INVALID_DOCUMENT
    if isinstance(error, PyMongoError):
        return DRIVER
    return None


def describe(error: BaseException) -> str:
    """The error's class and, for a server error, its code and code name: never its message."""
    text = type(error).__name__
    if isinstance(error, OperationFailure):
        text += f" code {error.code}"
        name = (error.details or {}).get("codeName")
        if isinstance(name, str) and name.isidentifier():  # a name, never a message
            text += f" ({name})"
    return text


class DriverError(Exception):
    """A driver error as the log shows it: its description (:func:`describe`) and the operation,
    over the driver's own traceback."""


class Reachability:
    """Whether the database answered this process's last call: logs each change once.

    Every storage call reports here (:func:`translate` a failure, :meth:`answered` a success), so the
    server logs one WARNING when the database becomes unreachable and one INFO when it answers again,
    whatever the number of requests in between. Until it first answers, a failure is the caller's
    to report (a server that cannot start says so), and is not logged here.
    """

    __slots__ = ("answered_once", "down_since", "pending")

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Back to a new process's state: nothing known yet."""
        self.answered_once = False
        self.down_since: float | None = None
        # Whether :meth:`answered` has anything to do: a success costs a storage call one test.
        self.pending = True

    def failed(self, error: BaseException) -> None:
        if self.down_since is None and self.answered_once:
            self.down_since = time.monotonic()
            self.pending = True
            logger.warning(
                "the database cannot be reached (%s); requests are answered 503 until it answers again",
                describe(error),
            )

    def answered(self) -> None:
        self.pending = False
        self.answered_once = True
        if self.down_since is not None:
            seconds = time.monotonic() - self.down_since
            self.down_since = None
            logger.info("the database answers again, after %.1f s unreachable", seconds)


REACHABILITY = Reachability()


def translate(
    error: BaseException, traceback: TracebackType | None
) -> DatabaseUnavailableError | DatabaseFailureError | None:
    """The SCIM error for a driver error raised in a storage call (None: not a driver error).

    ``traceback`` starts at the frame of the storage call, whose function names the operation
    (``ResourceRepository.find``). An unreachable database is reported to :data:`REACHABILITY`; any
    other driver error is logged at ERROR here, with the operation and the driver's traceback, as the
    request's id is added to every record.
    """
    kind = classify(error)
    if kind is None:
        return None
    if kind == UNAVAILABLE:
        REACHABILITY.failed(error)
        return DatabaseUnavailableError(UNAVAILABLE_DETAIL, kind=UNAVAILABLE, retry_after=RETRY_AFTER_SECONDS)
    REACHABILITY.answered()  # it answered, with a refusal
    operation = "unknown" if traceback is None else traceback.tb_frame.f_code.co_qualname
    summary = describe(error)
    logged = DriverError(f"{summary} in {operation}")
    logger.error(
        "database error in %s: %s (answered 500)",
        operation,
        summary,
        exc_info=(DriverError, logged, traceback),
        stack_info=True,  # the callers of the storage call: the service and handler behind it
    )
    return DatabaseFailureError(kind)


def connect(
    mongodb_uri: str,
    database: str,
    *,
    server_selection_timeout_seconds: float = DEFAULT_SERVER_SELECTION_TIMEOUT_SECONDS,
) -> tuple[Any, Any]:
    """Return ``(client, database)``; an empty URI selects the embedded in-memory store.

    ``server_selection_timeout_seconds`` bounds how long an operation waits for a server before it
    fails (and is answered 503); a ``serverSelectionTimeoutMS`` in the URI wins over it. Datetimes come
    back timezone-aware (UTC) from both stores.
    """
    client: Any
    if mongodb_uri:
        # pymongo logs every command at DEBUG, and a token lookup's filter is the token's hash: keep
        # that log quiet however the process configures logging (logs.py does it for `serve`).
        command_log = logging.getLogger("pymongo.command")
        if command_log.level < logging.INFO:
            command_log.setLevel(logging.INFO)
        options: dict[str, Any] = {"tz_aware": True, "appname": "scim-server"}
        # A keyword argument would override the same option given in the URI: only supply a default.
        if "serverselectiontimeoutms=" not in mongodb_uri.lower():
            options["serverSelectionTimeoutMS"] = round(server_selection_timeout_seconds * 1000)
        try:
            client = AsyncMongoClient(mongodb_uri, **options)
        except (PyMongoError, ValueError):
            # The driver's message may quote parts of the URI, password included: keep it out.
            raise ServiceUnavailableError(
                "the MongoDB connection string is invalid (it must start with mongodb:// or "
                "mongodb+srv://, and a user name or password must be percent-escaped)"
            ) from None
    else:
        client = embedded_client()
    return client, client[database]


def _add_update(builder: Any, *args: Any, sort: Any = None, **options: Any) -> None:
    if sort is not None:
        raise NotImplementedError("the embedded store cannot sort inside a bulk update")
    _mongomock_add_update(builder, *args, **options)


def _add_replace(builder: Any, *args: Any, sort: Any = None, **options: Any) -> None:
    if sort is not None:
        raise NotImplementedError("the embedded store cannot sort inside a bulk replacement")
    _mongomock_add_replace(builder, *args, **options)


_mongomock_add_update: Any = BulkOperationBuilder.add_update
_mongomock_add_replace: Any = BulkOperationBuilder.add_replace


def bridge_mongomock() -> None:
    """Let mongomock's ``bulk_write`` take pymongo's current ``UpdateOne``/``ReplaceOne`` (idempotent).

    Since pymongo 4.11 these pass a ``sort`` option (None unless asked for) that mongomock 4.3 does not
    accept (mongomock issue #912). The server never sorts inside a bulk write; one that asked would
    be refused, as mongomock refuses what it cannot do.
    """
    BulkOperationBuilder.add_update = _add_update  # type: ignore[method-assign, assignment]
    BulkOperationBuilder.add_replace = _add_replace  # type: ignore[method-assign, assignment]


def embedded_client() -> Any:
    """A client of the embedded in-memory store (mongomock-motor over ``storage/embedded.py``'s
    mongomock client, with its lookups, bridged to the current pymongo); datetimes come back
    timezone-aware (UTC)."""
    bridge_mongomock()
    return AsyncMongoMockClient(mock_mongo_client=embedded.mongo_client(tz_aware=True))


async def ping(db: Any) -> None:
    """Check that the store answers; raise :class:`DatabaseUnavailableError` when it does not.

    A ping refused (an authentication failure, say) is logged at ERROR and answered as unavailable
    too: the server cannot serve either way.
    """
    try:
        await db.command("ping")
    except PyMongoError as error:
        if classify(error) == UNAVAILABLE:
            REACHABILITY.failed(error)
            raise DatabaseUnavailableError(
                "the database cannot be reached", kind=UNAVAILABLE, retry_after=RETRY_AFTER_SECONDS
            ) from None
        kind = classify(error) or DRIVER
        logger.error("the database refused a ping: %s", describe(error))
        raise DatabaseUnavailableError("the database refused the connection check", kind=kind) from None
    REACHABILITY.answered()


async def close(client: Any) -> None:
    """Close a client of either store (pymongo's asynchronous close, mongomock-motor's synchronous one)."""
    closing = client.close()
    if inspect.isawaitable(closing):
        await closing
