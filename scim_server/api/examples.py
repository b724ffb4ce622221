"""The examples of the OpenAPI document: request bodies, parameters and error responses.

Swagger UI's "Try it out" sends exactly these, so each must succeed when run from the page in the
order a reader follows it: create a User (or Group) from its example, then read, search, PATCH, PUT
and DELETE that resource by the id the create returned. Hence no example names an id: a Group
example has no members (a member is given by the id of an existing User), and the resource ids are
left for the reader to paste. ``tests/api/test_openapi_examples.py`` runs every example against the
server.

Each error example is the body the server sends for that status (RFC 7644 §3.12), rendered by the
same ``ScimError`` classes the server raises, so its ``status`` is always the response's code.
"""

from __future__ import annotations

from typing import Any

from scim_server.errors import (
    CursorExpiredError,
    ForbiddenError,
    InvalidFilterError,
    InvalidValueError,
    NotFoundError,
    NotImplementedScimError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ScimError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    UniquenessError,
    UnsupportedMediaTypeError,
)
from scim_server.schema.catalog import (
    BULK_REQUEST_SCHEMA,
    ENTERPRISE_USER_SCHEMA_ID,
    GROUP_SCHEMA_ID,
    PATCH_OP_SCHEMA,
    SEARCH_REQUEST_SCHEMA,
    USER_SCHEMA_ID,
)

Example = dict[str, Any]

EXAMPLE_ID = "2819c223-7f76-453a-919d-413861904646"  # the id RFC 7643 §8 uses in its examples

USER_NAME = "bjensen@example.com"
GROUP_NAME = "Tour Guides"

CREATE_USER: Example = {
    "schemas": [USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID],
    "userName": USER_NAME,
    "externalId": "bjensen",
    "name": {"formatted": "Ms. Barbara J Jensen", "givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs Jensen",
    "active": True,
    "emails": [{"value": USER_NAME, "type": "work", "primary": True}],
    ENTERPRISE_USER_SCHEMA_ID: {"employeeNumber": "701984", "department": "Tour Operations"},
}

# PUT replaces every readWrite attribute: what is left out is cleared (RFC 7644 §3.5.1).
REPLACE_USER: Example = {
    "schemas": [USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID],
    "userName": USER_NAME,
    "externalId": "bjensen",
    "name": {"formatted": "Ms. Barbara J Jensen", "givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Barbara Jensen",
    "title": "Tour Guide",
    "active": True,
    "emails": [{"value": USER_NAME, "type": "work", "primary": True}],
    ENTERPRISE_USER_SCHEMA_ID: {"employeeNumber": "701984", "department": "Tour Operations"},
}

PATCH_USER: Example = {
    "schemas": [PATCH_OP_SCHEMA],
    "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "barbara.jensen@example.com"},
        {"op": "add", "path": "nickName", "value": "Babs"},
        {"op": "replace", "path": "active", "value": False},
    ],
}

SEARCH_USERS: Example = {
    "schemas": [SEARCH_REQUEST_SCHEMA],
    "filter": f'userName eq "{USER_NAME}"',
    "startIndex": 1,
    "count": 10,
}

CREATE_GROUP: Example = {"schemas": [GROUP_SCHEMA_ID], "displayName": GROUP_NAME, "externalId": "tour-guides"}

# Members are left out (a member is an existing User's or Group's id), so this PUT clears them.
REPLACE_GROUP: Example = {
    "schemas": [GROUP_SCHEMA_ID],
    "displayName": GROUP_NAME,
    "externalId": "tour-guides",
}

PATCH_GROUP: Example = {
    "schemas": [PATCH_OP_SCHEMA],
    "Operations": [{"op": "replace", "path": "externalId", "value": "tour-guides-emea"}],
}

SEARCH_GROUPS: Example = {
    "schemas": [SEARCH_REQUEST_SCHEMA],
    "filter": f'displayName eq "{GROUP_NAME}"',
    "startIndex": 1,
    "count": 10,
}

# The server root (RFC 7644 §3.4.3): a search either type can answer.
SEARCH_ROOT: Example = {
    "schemas": [SEARCH_REQUEST_SCHEMA],
    "filter": f'userName eq "{USER_NAME}" or displayName eq "{GROUP_NAME}"',
    "startIndex": 1,
    "count": 10,
}

# A user, then a group listing it through its bulkId (RFC 7644 §3.7). The names are fixed, so a second
# run answers 200 with a 409 for each operation.
BULK: Example = {
    "schemas": [BULK_REQUEST_SCHEMA],
    "Operations": [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": "newuser",
            "data": {"schemas": [USER_SCHEMA_ID], "userName": "bulk.example@example.com"},
        },
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "newgroup",
            "data": {
                "schemas": [GROUP_SCHEMA_ID],
                "displayName": "Bulk example group",
                "members": [{"value": "bulkId:newuser"}],
            },
        },
    ],
}

# Per resource: (filter, sortBy) examples of the list parameters.
LIST_EXAMPLES: dict[str, tuple[str, str]] = {
    "User": (f'userName eq "{USER_NAME}"', "userName"),
    "Group": (f'displayName eq "{GROUP_NAME}"', "displayName"),
    # The server root searches both types (RFC 7644 §3.4.2.1): a filter either type can answer.
    "Root": (f'userName eq "{USER_NAME}" or displayName eq "{GROUP_NAME}"', "meta.created"),
}
COUNT_EXAMPLE = 10
# The first page by cursor (RFC 9865): later cursors come from a response's nextCursor.
CURSOR_EXAMPLE = ""
# A base64 value (RFC 7643 §2.3.6), the start of a DER certificate: schema-level, for the models view.
CERTIFICATE_EXAMPLE = "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"

_UNIQUE = {"User": "userName", "Group": "displayName"}


def error_example(status: int, resource: str | None = None, *, has_body: bool = False) -> Example:
    """The error body documented for ``status`` on an operation of ``resource`` (None: discovery and
    operations endpoints); ``has_body`` for operations that take a resource or PATCH body."""
    return _error(status, resource, has_body).to_body()


def _error(status: int, resource: str | None, has_body: bool) -> ScimError:
    one = resource or "Resource"
    errors: dict[int, ScimError] = {
        400: (
            InvalidValueError("Attribute 'x509Certificates.value' must be base64-encoded binary")
            if has_body
            else InvalidFilterError('Unknown attribute "usrName" in filter.')
        ),
        401: UnauthorizedError("authentication required: send Authorization: Bearer <token>"),
        403: ForbiddenError("this token is read-only"),
        404: NotFoundError(f"{one} {EXAMPLE_ID} not found"),
        409: UniquenessError(f"{_UNIQUE.get(one, 'userName')} is already in use in this organization"),
        412: PreconditionFailedError(f"{one} {EXAMPLE_ID} is at version 2, not the one named in If-Match"),
        413: PayloadTooLargeError("the request body is too large"),
        415: UnsupportedMediaTypeError(
            "Content-Type must be application/scim+json or application/json, not 'text/plain'"
        ),
        429: TooManyRequestsError("too many requests for this organization; retry later"),
        410: CursorExpiredError(
            "the cursor is older than the retained events (kept 90 days): events after it were removed; "
            "start again without 'after'"
        ),
        501: NotImplementedScimError(
            "/Me is not implemented: bearer tokens on this server belong to organizations, not to users, "
            "so no User resource is the authenticated subject (RFC 7644 §3.11)"
        ),
        503: ServiceUnavailableError("the database did not answer in time"),
    }
    return errors[status]
