"""The SCIM error hierarchy (RFC 7644 §3.12).

Every layer below the HTTP edge raises one of these; exactly one middleware turns them into
``urn:ietf:params:scim:api:messages:2.0:Error`` bodies. ``detail`` is written for the client and must
never carry internals (tracebacks, driver messages, secrets).
"""

from __future__ import annotations

from typing import Any, ClassVar

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """A SCIM protocol error with an HTTP status and an optional ``scimType``."""

    status: int = 400
    scim_type: ClassVar[str | None] = None
    # Seconds a client should wait before retrying, sent as Retry-After (RFC 9110 §10.2.3).
    retry_after: int | None = None
    # The kind of database error behind this one (``storage/client.py``), counted by /metrics.
    database_error: str | None = None

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        """Render the RFC 7644 §3.12 error body; ``status`` is a string there."""
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type is not None:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body


class InvalidFilterError(ScimError):
    """The filter syntax was invalid or the filter names an unknown attribute (§3.4.2.2)."""

    scim_type = "invalidFilter"


class UniquenessError(ScimError):
    """One or more unique attribute values are already in use (§3.3, 409)."""

    status = 409
    scim_type = "uniqueness"


class MutabilityError(ScimError):
    """The request tried to modify an immutable or read-only attribute."""

    scim_type = "mutability"


class InvalidSyntaxError(ScimError):
    """The request body was not parsable or did not follow the request schema."""

    scim_type = "invalidSyntax"


class InvalidPathError(ScimError):
    """The PATCH ``path`` was invalid or named an unknown attribute (§3.5.2)."""

    scim_type = "invalidPath"


class NoTargetError(ScimError):
    """The PATCH path's value filter matched no element (§3.5.2)."""

    scim_type = "noTarget"


class InvalidValueError(ScimError):
    """A required value was missing, or a value was of the wrong type or form."""

    scim_type = "invalidValue"


class UnauthorizedError(ScimError):
    """Authentication is missing or failed (401, answered with ``WWW-Authenticate: Bearer``)."""

    status = 401


class ForbiddenError(ScimError):
    """The credentials are valid but do not allow this operation."""

    status = 403


class NotFoundError(ScimError):
    """The resource or endpoint does not exist (within the caller's organization)."""

    status = 404


class MethodNotAllowedError(ScimError):
    """The endpoint exists but not for this HTTP method."""

    status = 405


class ConflictError(ScimError):
    """The request conflicts with the resource's state, without a ``uniqueness`` cause."""

    status = 409


class PreconditionFailedError(ScimError):
    """``If-Match`` named a version other than the current one (§3.14)."""

    status = 412


class PayloadTooLargeError(ScimError):
    """The request body exceeds the configured maximum, or a Bulk request its limits (§3.7.4)."""

    status = 413


class UnsupportedMediaTypeError(ScimError):
    """The request body is not ``application/scim+json`` or ``application/json``."""

    status = 415


class TooManyRequestsError(ScimError):
    """The organization exceeded its request rate; ``retry_after`` is the wait in whole seconds.

    The middleware sends it as ``Retry-After`` (RFC 9110 §10.2.3), at least 1.
    """

    status = 429

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = None if retry_after is None else max(1, retry_after)


INTERNAL_ERROR_DETAIL = "the server failed to handle the request; it has been logged"
"""The one detail of every 500: what failed is in the server's log, never in a response."""


class InternalServerError(ScimError):
    """An unexpected failure; the detail is always generic."""

    status = 500

    def __init__(self, detail: str = INTERNAL_ERROR_DETAIL) -> None:
        super().__init__(detail)


class DatabaseFailureError(InternalServerError):
    """The database refused an operation, or the driver failed, for a reason a retry will not cure
    (a bug or bad data): logged where it happened, answered with the generic 500."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.database_error = kind


class ServiceUnavailableError(ScimError):
    """The server cannot serve right now; ``retry_after``, when known, is sent as Retry-After."""

    status = 503

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = None if retry_after is None else max(1, retry_after)


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached or is failing over: the same request may succeed later."""

    def __init__(self, detail: str, *, kind: str, retry_after: int | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.database_error = kind


class NotImplementedScimError(ScimError):
    """An endpoint the RFC defines but this server cannot serve (``/Me``, RFC 7644 §3.11)."""

    status = 501


class CursorExpiredError(ScimError):
    """An event feed cursor points before the retained events (RFC 9110 §15.5.11: 410 Gone)."""

    status = 410
