"""Property tests for the PATCH applier: random operation lists never escape the ScimError hierarchy.

Operations are drawn from the catalog (every attribute and sub-attribute path, value filters on the
multi-valued ones, extension URNs, no-path value objects) and from hostile paths, with values both
plausible for the attribute's type and arbitrary JSON. Applied to a valid user, a PATCH either raises
a :class:`ScimError` subclass or returns a resource that is valid (``check_resource``), canonical,
stored without operator or dotted keys, and read back unchanged through the document layout.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st

from scim_server.compiler.patch import apply_patch, parse_patch_request, simple_assignments
from scim_server.errors import ScimError
from scim_server.schema.attributes import Attribute, AttributeType
from scim_server.schema.catalog import USER_RESOURCE_TYPE
from scim_server.schema.validation import check_resource, coerce_resource
from scim_server.services.audit import changed_paths
from scim_server.storage.documents import (
    Assignment,
    changed_keys,
    from_document,
    to_document,
    update_document,
)
from tests.helpers import assert_assignment_makes, assert_fields_make

RT = USER_RESOURCE_TYPE
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CREATED = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)

USER: dict[str, Any] = {
    "userName": "bjensen@example.com",
    "externalId": "ext-1",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
    "addresses": [{"type": "work", "locality": "Hollywood", "primary": True}],
    "roles": [{"value": "admin"}],
    "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAA="}],
    ENTERPRISE: {
        "employeeNumber": "701984",
        "department": "Tour Operations",
        "manager": {"value": "26118915", "$ref": "../Users/26118915"},
    },
}


# --- paths from the catalog ----------------------------------------------------------------------


def _qualified(extension_uri: str | None, text: str) -> str:
    return text if extension_uri is None else f"{extension_uri}:{text}"


def _catalog() -> list[tuple[str | None, Attribute]]:
    found: list[tuple[str | None, Attribute]] = [(None, a) for a in RT.schema.attributes]
    found += [(ext.schema.id, a) for ext in RT.extensions for a in ext.schema.attributes]
    return found


CATALOG = _catalog()
PLAIN_PATHS = sorted(
    {_qualified(uri, a.name) for uri, a in CATALOG}
    | {_qualified(uri, f"{a.name}.{s.name}") for uri, a in CATALOG for s in a.sub_attributes}
    | {"externalId", "id", "meta", "meta.version", "schemas", ENTERPRISE}
)
MULTI_COMPLEX = [(uri, a) for uri, a in CATALOG if a.multi_valued and a.is_complex]
HOSTILE_PATHS = [
    "$where",
    "name.$gt",
    'emails[value eq "x"].$ne',
    "members[$where]",
    "emails[",
    "emails[value eq]",
    "unknown",
    "emails[type eq 1].value",
    'emails[type eq "work"].value.extra',
    "urn:unknown:2.0:User:x",
    "",
    " ",
    'EMAILS[TYPE EQ "WORK"].VALUE',
    'name[givenName eq "x"]',
    'emails[emails[type eq "w"]]',
]

COMPARISON_VALUES = st.one_of(
    st.sampled_from(['"work"', '"home"', '"bjensen@example.com"', '"BJENSEN@EXAMPLE.COM"', '"x"', '""']),
    st.sampled_from(["true", "false", "null", "1", "-2.5", '"2026-01-01T00:00:00Z"', '"True"']),
)


@st.composite
def value_filters(draw: st.DrawFn, attribute: Attribute) -> str:
    def term() -> str:
        sub = draw(st.sampled_from(attribute.sub_attributes)).name
        if draw(st.booleans()):
            op = draw(st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ"]))
            return f"{sub} {op} {draw(COMPARISON_VALUES)}"
        return f"{sub} pr"

    text = term()
    for _ in range(draw(st.integers(0, 2))):
        text = f"{text} {draw(st.sampled_from(['and', 'or']))} {term()}"
    return f"not ({text})" if draw(st.integers(0, 9)) == 0 else text


@st.composite
def filtered_paths(draw: st.DrawFn) -> str:
    uri, attribute = draw(st.sampled_from(MULTI_COMPLEX))
    text = f"{attribute.name}[{draw(value_filters(attribute))}]"
    if draw(st.booleans()):
        text += "." + draw(st.sampled_from(attribute.sub_attributes)).name
    return _qualified(uri, text)


PATHS = st.one_of(
    st.sampled_from(PLAIN_PATHS),
    filtered_paths(),
    st.sampled_from(PLAIN_PATHS),
    filtered_paths(),
    st.sampled_from(HOSTILE_PATHS),
    st.sampled_from(PLAIN_PATHS).map(str.upper),
)


# --- values --------------------------------------------------------------------------------------

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["True", "false", "2026-01-01T00:00:00Z", "MIIDQzCC", "work", "$ne", "a.b", "x@y"]),
)
KEYS = st.one_of(
    st.sampled_from(
        ["value", "type", "primary", "display", "givenName", "familyName", "$ref", "department",
         "manager", "active", "userName", "emails", "name.givenName", f"{ENTERPRISE}:department",
         "$where", "a.b", "id", "meta", "schemas", "groups", "Value", "PRIMARY"]
    ),
    st.text(max_size=6),
)  # fmt: skip
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _scalar(kind: AttributeType) -> st.SearchStrategy[Any]:
    return {
        AttributeType.STRING: st.sampled_from(["work", "home", "x@example.com", "Barbara", ""]),
        AttributeType.REFERENCE: st.sampled_from(["https://x/Users/1", "../Users/2"]),
        AttributeType.BINARY: st.sampled_from(["MIIDQzCC", "QUJD", "not base64!"]),
        AttributeType.BOOLEAN: st.sampled_from([True, False, "True", "FALSE"]),
        AttributeType.INTEGER: st.integers(-3, 3),
        AttributeType.DECIMAL: st.floats(-10, 10),
        AttributeType.DATETIME: st.sampled_from(
            ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.1234567+01:00"]
        ),
    }.get(kind, JSON_LEAVES)


def _plausible(attribute: Attribute) -> st.SearchStrategy[Any]:
    """A value of roughly the right shape for ``attribute``: enough to get past coercion often."""
    if attribute.is_complex:
        element = st.fixed_dictionaries(
            {},
            optional={s.name: _scalar(s.type) for s in attribute.sub_attributes},
        )
        return st.lists(element, max_size=3) | element if attribute.multi_valued else element
    return _scalar(attribute.type)


PLAUSIBLE = st.sampled_from(CATALOG).flatmap(lambda pair: _plausible(pair[1]))
VALUES = st.one_of(JSON, PLAUSIBLE, PLAUSIBLE)


@st.composite
def no_path_values(draw: st.DrawFn) -> dict[str, Any]:
    """Entra's and Okta's no-path form: an object whose keys are attribute paths."""
    keys = draw(st.lists(st.one_of(st.sampled_from(PLAIN_PATHS), KEYS), min_size=1, max_size=4))
    return {key: draw(VALUES) for key in keys}


@st.composite
def operations(draw: st.DrawFn) -> dict[str, Any]:
    # Mostly valid ops, so that whole lists often apply; an invalid one fails the whole request.
    valid = st.sampled_from(["add", "remove", "replace", "Add", "REPLACE", "Remove"])
    op = draw(valid) if draw(st.integers(0, 29)) else draw(st.sampled_from(["delete", 7, None, ""]))
    operation: dict[str, Any] = {"op": op}
    if draw(st.integers(0, 4)) == 0:
        operation["value"] = draw(no_path_values())
        return operation
    operation["path"] = draw(PATHS)
    if draw(st.integers(0, 19)) != 0:  # sometimes no value at all (an error for add/replace)
        operation["value"] = draw(VALUES)
    return operation


PATCH_BODIES = st.lists(operations(), min_size=1, max_size=4).map(
    lambda ops: {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
)


# --- the property --------------------------------------------------------------------------------


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in (key, *_keys(item))]
    if isinstance(value, list):
        return [k for item in value for k in _keys(item)]
    return []


def check_patch(body: dict[str, Any]) -> None:
    before = copy.deepcopy(USER)
    assignments = None
    try:
        operations = parse_patch_request(body, RT)
        assignments = simple_assignments(operations, RT)
        result = apply_patch(USER, operations, RT)
    except ScimError as error:
        event(f"raised {type(error).__name__}")
        assert before == USER  # a failed PATCH mutates nothing
        assert assignments is None  # a PATCH of simple assignments cannot fail
        return
    event("applied")
    assert before == USER  # neither does a successful one: it works on a copy
    check_resource(result, RT)
    # Canonical: reading the result as a PUT body gives it back unchanged.
    assert coerce_resource(result, RT) == result
    doc = to_document(result, RT, id="u-1", created=CREATED, last_modified=CREATED, version=2)
    assert not [key for key in _keys(doc) if re.search(r"^\$|\.", key)], doc
    stored = from_document(doc, RT)
    assert stored.resource == result
    # A write rebuilds only what changed: the same document as a whole rebuild.
    before_doc = to_document(USER, RT, id="u-1", created=CREATED, last_modified=CREATED, version=1)
    changed = changed_keys(USER, result)
    assert (not changed) == (result == USER)
    update = update_document(before_doc, result, changed, RT, last_modified=CREATED, version=2)
    assert update.document == doc
    assert_fields_make(before_doc, update)
    if assignments is not None:
        # Stored without reading the resource: the same resource, document and audited paths.
        event("simple assignments")
        assert result == {**USER, **assignments}
        if changed:
            assignment = Assignment(assignments, RT)
            assert_assignment_makes(before_doc, assignment, doc, last_modified=CREATED)
            assert assignment.changed(before_doc) == changed_paths(USER, result, RT)
    assert (stored.id, stored.version) == ("u-1", 2)
    json.dumps(result, default=str)  # nothing but JSON (and datetimes) inside


@given(body=PATCH_BODIES)
@example(body={"Operations": [{"op": "add", "path": 'emails[type eq "work"].value', "value": "w@x"}]})
@example(
    body={"Operations": [{"op": "replace", "value": {"name.givenName": "B", f"{ENTERPRISE}:department": 1}}]}
)
@example(body={"Operations": [{"op": "add", "path": "name", "value": {"$ne": None, "givenName": "g"}}]})
@example(body={"Operations": [{"op": "remove", "path": 'emails[value co "@"]'}]})
def test_random_patches_raise_scim_errors_or_return_valid_round_tripping_resources(
    body: dict[str, Any],
) -> None:
    check_patch(body)


# Operations that are mostly simple assignments: string and boolean attributes of the core schema (and
# other attributes now and then), values of the right type, of another one, or unassigned.
ASSIGNED_PATHS = st.sampled_from(
    ["title", "nickName", "displayName", "userName", "userType", "active", "externalId", "locale"]
    + [f"urn:ietf:params:scim:schemas:core:2.0:User:{name}" for name in ("title", "active")]
    + ["TITLE", "name.givenName", "emails", ENTERPRISE + ":department", "id", "password"]
)
ASSIGNED_VALUES = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["Chief", "CHIEF", "bjensen@example.com", "Babs", "True", "false", "ext-1"]),
    st.booleans(),
    st.integers(-3, 3),
    st.none(),
    st.just({"givenName": "B"}),
)


@st.composite
def assigned_value(draw: st.DrawFn, path: str) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return draw(ASSIGNED_VALUES)  # now and then anything
    if path.lower().endswith("active"):
        return draw(st.one_of(st.booleans(), st.sampled_from(["True", "false"])))
    return draw(st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(["Chief", "CHIEF", "Babs"])))


@st.composite
def assigning_operations(draw: st.DrawFn) -> dict[str, Any]:
    ops = ["replace", "add", "Replace", "ADD"]
    op = draw(st.sampled_from(ops if draw(st.integers(0, 9)) else ["remove"]))
    if draw(st.integers(0, 3)) == 0:
        keys = draw(st.lists(ASSIGNED_PATHS, min_size=1, max_size=3, unique=True))
        return {"op": op, "value": {key: draw(assigned_value(key)) for key in keys}}
    path = draw(ASSIGNED_PATHS)
    return {"op": op, "path": path, "value": draw(assigned_value(path))}


@given(ops=st.lists(assigning_operations(), min_size=1, max_size=4))
def test_simple_assignments_are_what_apply_patch_makes_of_them(ops: list[dict[str, Any]]) -> None:
    check_patch({"Operations": ops})


@given(ops=st.lists(st.one_of(operations(), JSON), min_size=0, max_size=4), wrap=JSON)
def test_malformed_patch_messages_raise_scim_errors(ops: list[Any], wrap: Any) -> None:
    for body in ({"Operations": ops}, {"operations": wrap}, wrap, {"Operations": ops, "schemas": wrap}):
        try:
            result = apply_patch(USER, parse_patch_request(body, RT), RT)
        except ScimError:
            continue
        check_resource(result, RT)
