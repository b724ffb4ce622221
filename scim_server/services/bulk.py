"""Bulk requests (RFC 7644 §3.7): many operations on Users and Groups in one request.

Each operation goes through the service call its single request uses (a POST through ``create``, a
PUT through ``replace``, a PATCH through ``patch``, a DELETE through ``delete``), so it is validated,
atomic and audited exactly as that request sent alone; ``admit``, supplied by the caller, applies the
rate limit per operation. What is Bulk's own:

* ``bulkId`` (§3.7.2): a POST names the resource it creates; ``bulkId:<id>`` in a later operation's
  path (``/Groups/bulkId:admins``) or anywhere in its data (a member's ``value``) stands for that
  resource's id.
* Order: operations run in request order, except that one referring to a bulkId whose POST has not
  run yet waits until it has (§3.7.1's example lists a group before the user it contains). When every
  waiting operation waits on another waiting one (a circular reference), a waiting POST of a Group
  whose only unresolved references are member values is created without those members, which are then
  added by a PATCH once they exist, the PATCH counting as part of that POST (§3.7.1's two groups that
  contain each other). Any other cycle answers 409 for each operation in it, as §3.7.1 allows.
* A reference to a bulkId whose POST failed answers 409; one that no operation defines, 400.
* ``failOnErrors`` (§3.7.3): after that many failed operations the rest are not attempted and not
  reported.
* Consecutive POSTs of Users that are ready to run are created by ``ResourceService.create_many``:
  one store write for the run instead of one per user, each user still answered and audited alone.

Each operation's result carries ``status`` (as a string, as in §3.7.3's examples), ``location`` and
``version`` where they exist, and the §3.12 error as ``response`` when it failed. A PATCH answers the
status its single request would: 200 for a User, 204 for a Group.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scim_server.errors import (
    ConflictError,
    InternalServerError,
    InvalidSyntaxError,
    InvalidValueError,
    PayloadTooLargeError,
    ScimError,
)
from scim_server.schema.catalog import BULK_REQUEST_SCHEMA, PATCH_OP_SCHEMA
from scim_server.services.audit import Actor
from scim_server.services.render import etag
from scim_server.services.resources import ResourceService, StoredResource

logger = logging.getLogger("scim_server")

BULK_ID_PREFIX = "bulkId:"
METHODS = ("POST", "PUT", "PATCH", "DELETE")
_MAX_BULK_ID_LENGTH = 256

# Takes one rate-limit token for an operation, waiting for it if need be.
Admit = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class OperationResult:
    """What one operation answered (RFC 7644 §3.7.3)."""

    method: str
    bulk_id: str | None
    status: int
    location: str | None = None
    version: str | None = None
    error: ScimError | None = None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"method": self.method}
        if self.bulk_id is not None:
            body["bulkId"] = self.bulk_id
        if self.version is not None:
            body["version"] = self.version
        if self.location is not None:
            body["location"] = self.location
        body["status"] = str(self.status)
        if self.error is not None:
            body["response"] = self.error.to_body()
        return body


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """A parsed request: its operations as sent (each checked when it runs) and ``failOnErrors``."""

    operations: tuple[Any, ...]
    fail_on_errors: int | None


def parse_bulk_request(body: Any, *, max_operations: int) -> BulkRequest:
    """The envelope of a Bulk request (§3.7); too many operations is a 413 naming the limit (§3.7.4)."""
    if not isinstance(body, dict):
        raise InvalidSyntaxError("the request body must be a JSON object")
    fields_ = {str(k).lower(): v for k, v in body.items()}
    schemas = fields_.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or BULK_REQUEST_SCHEMA not in schemas):
        raise InvalidSyntaxError(f"schemas must contain {BULK_REQUEST_SCHEMA}")
    operations = fields_.get("operations")
    if not isinstance(operations, list):
        raise InvalidSyntaxError('a Bulk request needs "Operations", a list of operations')
    if len(operations) > max_operations:
        raise PayloadTooLargeError(
            f"the Bulk request has {len(operations)} operations, more than maxOperations ({max_operations})"
        )
    fail_on_errors = fields_.get("failonerrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int) or fail_on_errors < 1
    ):
        raise InvalidValueError("failOnErrors must be an integer of at least 1")
    return BulkRequest(tuple(operations), fail_on_errors)


def _strings(value: Any) -> Iterator[str]:
    """Every string value in a JSON value (object keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _references(value: Any) -> set[str]:
    """The bulkIds a JSON value refers to with ``bulkId:<id>`` strings."""
    return {s[len(BULK_ID_PREFIX) :] for s in _strings(value) if s.startswith(BULK_ID_PREFIX)}


def _substitute(value: Any, ids: Mapping[str, str]) -> Any:
    """The value with every ``bulkId:<id>`` string replaced by the created resource's id."""
    if isinstance(value, str):
        if value.startswith(BULK_ID_PREFIX):
            return ids.get(value[len(BULK_ID_PREFIX) :], value)
        return value
    if isinstance(value, dict):
        return {key: _substitute(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, ids) for item in value]
    return value


def _with_detail(error: ScimError, detail: str) -> ScimError:
    """The same error (status, scimType) with another detail."""
    changed = copy.copy(error)
    changed.detail = detail
    return changed


@dataclass(slots=True)
class _Operation:
    """One operation that passed its own checks and waits to run."""

    index: int
    method: str
    endpoint: str
    service: ResourceService
    target: str | None  # the resource id of a PUT, PATCH or DELETE, possibly "bulkId:<id>"
    bulk_id: str | None
    version: str | None
    data: Any
    references: frozenset[str]
    completes: int | None = None  # the POST this PATCH completes (a cycle broken, see the module doc)

    @property
    def batchable(self) -> bool:
        return self.method == "POST" and self.completes is None


@dataclass(slots=True)
class _Run:
    """The state of one Bulk request as it runs."""

    fail_on_errors: int | None
    results: dict[int, OperationResult] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)  # bulkId -> id
    failed: set[str] = field(default_factory=set)  # bulkIds whose POST failed
    defined: set[str] = field(default_factory=set)  # bulkIds some POST of the request names
    errors: int = 0

    @property
    def stopped(self) -> bool:
        return self.fail_on_errors is not None and self.errors >= self.fail_on_errors

    @property
    def errors_left(self) -> int | None:
        return None if self.fail_on_errors is None else self.fail_on_errors - self.errors


class BulkService:
    """Runs Bulk requests over the resource services, keyed by endpoint (``/Users``, ``/Groups``)."""

    def __init__(self, services: Sequence[ResourceService]) -> None:
        self._services = {s.resource_type.endpoint.lower(): s for s in services}

    async def run(
        self,
        org_id: str,
        request: BulkRequest,
        *,
        actor: Actor | None,
        base_url: str,
        admit: Admit,
    ) -> list[OperationResult]:
        """Run the operations and return the results of those attempted, in request order."""
        run = _Run(request.fail_on_errors)
        pending: list[_Operation] = []
        defined = run.defined
        for index, raw in enumerate(request.operations):
            try:
                operation = self._parse(index, raw, defined)
            except ScimError as error:
                method = raw.get("method") if isinstance(raw, dict) else None
                bulk_id = raw.get("bulkId") if isinstance(raw, dict) else None
                run.results[index] = OperationResult(
                    method if isinstance(method, str) else "",
                    bulk_id if isinstance(bulk_id, str) else None,
                    error.status,
                    error=error,
                )
                run.errors += 1
                if run.stopped:
                    return self._ordered(run)
                continue
            pending.append(operation)
        # A POST whose own checks failed never creates its bulkId: references to it fail.
        run.failed.update(defined - {op.bulk_id for op in pending if op.bulk_id is not None})
        while pending and not run.stopped:
            waiting = await self._pass(org_id, pending, run, actor=actor, base_url=base_url, admit=admit)
            if len(waiting) == len(pending) and not run.stopped:
                waiting = self._break_cycle(waiting, run)
            pending = waiting
        return self._ordered(run)

    @staticmethod
    def _ordered(run: _Run) -> list[OperationResult]:
        return [run.results[index] for index in sorted(run.results)]

    # -- parsing ---------------------------------------------------------------------------------

    def _parse(self, index: int, raw: Any, defined: set[str]) -> _Operation:
        where = f"Operations[{index}]"
        if not isinstance(raw, dict):
            raise InvalidSyntaxError(f"{where} must be an object")
        method = raw.get("method")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise InvalidValueError(f"{where}: method must be one of {', '.join(METHODS)}")
        method = method.upper()
        bulk_id = raw.get("bulkId")
        if bulk_id is not None and (
            not isinstance(bulk_id, str) or not bulk_id or len(bulk_id) > _MAX_BULK_ID_LENGTH
        ):
            raise InvalidValueError(f"{where}: bulkId must be a non-empty string of at most 256 characters")
        version = raw.get("version")
        if version is not None and not isinstance(version, str):
            raise InvalidValueError(f"{where}: version must be a string (an ETag)")
        path = raw.get("path")
        if not isinstance(path, str):
            raise InvalidValueError(f"{where}: path must be a string such as /Users or /Users/<id>")
        endpoint, _, target = path.strip().lstrip("/").partition("/")
        service = self._services.get("/" + endpoint.lower())
        if service is None:
            raise InvalidValueError(f"{where}: path must name /Users or /Groups")
        if method == "POST":
            if target:
                raise InvalidValueError(f"{where}: a POST's path is the endpoint, such as /Users")
            if bulk_id is None:
                raise InvalidValueError(f"{where}: a POST needs a bulkId (RFC 7644 §3.7)")
            if bulk_id in defined:
                raise InvalidValueError(f"{where}: bulkId {bulk_id} is used by an earlier operation")
            defined.add(bulk_id)
        elif not target or "/" in target or len(target) > 256:
            raise InvalidValueError(f"{where}: a {method}'s path names one resource, such as /Users/<id>")
        data = raw.get("data")
        if method != "DELETE" and not isinstance(data, dict):
            raise InvalidSyntaxError(f"{where}: a {method} needs data, a JSON object")
        references = _references(data)
        if target.startswith(BULK_ID_PREFIX):
            references.add(target[len(BULK_ID_PREFIX) :])
        if bulk_id is not None and bulk_id in references:
            raise ConflictError(f"{where}: an operation cannot refer to its own bulkId {bulk_id}")
        return _Operation(
            index,
            method,
            service.resource_type.endpoint,
            service,
            target or None,
            bulk_id,
            version,
            data,
            frozenset(references),
        )

    # -- running ---------------------------------------------------------------------------------

    async def _pass(
        self,
        org_id: str,
        pending: list[_Operation],
        run: _Run,
        *,
        actor: Actor | None,
        base_url: str,
        admit: Admit,
    ) -> list[_Operation]:
        """Run every operation whose references are resolved, in order; return those still waiting."""
        waiting: list[_Operation] = []
        batch: list[_Operation] = []
        for operation in pending:
            if run.stopped:
                break
            if batch and (
                not self._joins(batch, operation)
                or operation.references & {op.bulk_id for op in batch if op.bulk_id is not None}
            ):
                await self._create_batch(org_id, batch, run, actor=actor, base_url=base_url)
                batch = []
                if run.stopped:
                    break
            unresolved = operation.references - run.created.keys()
            if unresolved:
                failed = sorted(unresolved & run.failed)
                undefined = sorted(unresolved - run.defined)
                if failed:
                    self._fail(
                        operation,
                        ConflictError(f"bulkId {failed[0]} was not created: its operation failed"),
                        run,
                    )
                elif undefined:
                    self._fail(
                        operation,
                        InvalidValueError(f"no operation in this request has bulkId {undefined[0]}"),
                        run,
                    )
                else:
                    waiting.append(operation)
                continue
            if operation.completes is None:
                try:
                    await admit()
                except ScimError as error:  # the rate limit refused it, as it would the request alone
                    self._fail(operation, error, run)
                    continue
            if self._joins([operation], operation) and operation.endpoint == "/Users":
                batch.append(operation)
                continue
            await self._execute(org_id, operation, run, actor=actor, base_url=base_url)
        if batch and not run.stopped:
            await self._create_batch(org_id, batch, run, actor=actor, base_url=base_url)
        return waiting

    @staticmethod
    def _joins(batch: list[_Operation], operation: _Operation) -> bool:
        return operation.batchable and operation.service is batch[0].service

    def _fail(self, operation: _Operation, error: ScimError, run: _Run, location: str | None = None) -> None:
        run.errors += 1
        if operation.completes is not None:
            # The POST this PATCH completes created its group, but not with every member it asked for.
            original = run.results[operation.completes]
            detail = (
                f"{original.location} was created, but its members could not all be added: {error.detail}"
            )
            run.results[operation.completes] = OperationResult(
                original.method,
                original.bulk_id,
                error.status,
                location=original.location,
                version=original.version,
                error=_with_detail(error, detail),
            )
            return
        if operation.bulk_id is not None:
            run.failed.add(operation.bulk_id)
        run.results[operation.index] = OperationResult(
            operation.method, operation.bulk_id, error.status, location=location, error=error
        )

    async def _create_batch(
        self, org_id: str, batch: list[_Operation], run: _Run, *, actor: Actor | None, base_url: str
    ) -> None:
        service = batch[0].service
        bodies = [_substitute(op.data, run.created) for op in batch]
        try:
            outcomes = await service.create_many(org_id, bodies, actor=actor, max_errors=run.errors_left)
        except Exception as error:  # an unexpected failure: each operation answers it, as a POST would
            logger.error("unhandled error in a Bulk run of creates", exc_info=error)
            outcomes = [InternalServerError("the server failed to handle the operation; it has been logged")]
            outcomes *= len(batch)
        for operation, outcome in zip(batch, outcomes, strict=False):
            if isinstance(outcome, ScimError):
                self._fail(operation, outcome, run)
            else:
                self._created(operation, outcome, run, base_url)

    def _created(self, operation: _Operation, stored: StoredResource, run: _Run, base_url: str) -> None:
        assert operation.bulk_id is not None
        run.created[operation.bulk_id] = stored.id
        run.results[operation.index] = OperationResult(
            "POST",
            operation.bulk_id,
            201,
            location=f"{base_url}{operation.endpoint}/{stored.id}",
            version=etag(stored.version),
        )

    async def _execute(
        self, org_id: str, operation: _Operation, run: _Run, *, actor: Actor | None, base_url: str
    ) -> None:
        service = operation.service
        data = _substitute(operation.data, run.created)
        target = operation.target
        if target is not None and target.startswith(BULK_ID_PREFIX):
            target = run.created[target[len(BULK_ID_PREFIX) :]]
        location = None if target is None else f"{base_url}{operation.endpoint}/{target}"
        try:
            if operation.method == "POST":
                stored = await service.create(org_id, data, actor=actor)
                self._created(operation, stored, run, base_url)
                return
            assert target is not None and location is not None
            version: str | None = None
            if operation.method == "DELETE":
                await service.delete(org_id, target, operation.version, actor=actor)
                status = 204
            elif operation.method == "PUT":
                version = etag(
                    (await service.replace(org_id, target, data, operation.version, actor=actor)).version
                )
                status = 200
            else:
                patched = await service.patch(org_id, target, data, operation.version, actor=actor)
                version = etag(patched.version)
                status = 204 if operation.endpoint == "/Groups" else 200
        except ScimError as error:
            self._fail(operation, error, run, location if operation.method != "POST" else None)
            return
        except Exception as error:  # answered as the single request would be: a generic 500, logged
            logger.error("unhandled error in a Bulk %s operation", operation.method, exc_info=error)
            self._fail(
                operation,
                InternalServerError("the server failed to handle the operation; it has been logged"),
                run,
                location,
            )
            return
        if operation.completes is not None:
            original = run.results[operation.completes]
            original.version = version
            return
        run.results[operation.index] = OperationResult(
            operation.method, operation.bulk_id, status, location=location, version=version
        )

    # -- circular references ---------------------------------------------------------------------

    def _break_cycle(self, waiting: list[_Operation], run: _Run) -> list[_Operation]:
        """Every operation waits on another: split the first group POST whose only unresolved
        references are member values into a POST without them and a PATCH adding them; with none,
        each waiting operation answers 409 (RFC 7644 §3.7.1)."""
        for position, operation in enumerate(waiting):
            split = self._split_members(operation, run)
            if split is not None:
                post, patch = split
                return [post, *waiting[:position], *waiting[position + 1 :], patch]
        for operation in waiting:
            if run.stopped:
                break
            unresolved = ", ".join(sorted(operation.references - run.created.keys()))
            self._fail(
                operation,
                ConflictError(f"circular bulkId references that cannot be resolved: waits on {unresolved}"),
                run,
            )
        return []

    @staticmethod
    def _split_members(operation: _Operation, run: _Run) -> tuple[_Operation, _Operation] | None:
        if operation.method != "POST" or operation.endpoint != "/Groups" or operation.completes is not None:
            return None
        data: dict[str, Any] = operation.data
        key = next((k for k in data if k.lower() == "members"), None)
        members = data.get(key) if key is not None else None
        if not isinstance(members, list):
            return None

        def unresolved(member: Any) -> bool:
            value = member.get("value") if isinstance(member, dict) else None
            return (
                isinstance(value, str)
                and value.startswith(BULK_ID_PREFIX)
                and value[len(BULK_ID_PREFIX) :] not in run.created
            )

        later = [m for m in members if unresolved(m)]
        rest = {k: v for k, v in data.items() if k != key}
        now = [m for m in members if not unresolved(m)]
        remaining = _references([rest, now])
        if not later or remaining - run.created.keys():
            return None
        assert key is not None and operation.bulk_id is not None
        post = _Operation(
            operation.index,
            "POST",
            operation.endpoint,
            operation.service,
            None,
            operation.bulk_id,
            None,
            {**rest, key: now},
            frozenset(remaining),
        )
        patch_data = {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [{"op": "add", "path": "members", "value": later}],
        }
        patch = _Operation(
            operation.index,
            "PATCH",
            operation.endpoint,
            operation.service,
            BULK_ID_PREFIX + operation.bulk_id,
            None,
            None,
            patch_data,
            frozenset({operation.bulk_id} | _references(later)),
            completes=operation.index,
        )
        return post, patch
