"""The server's filtering held to the reference evaluator (``tests/reference/evaluator.py``).

Each example stores random users and groups (with members, some nested) through the API on the
embedded store, then sends random filters to ``GET /Users`` and ``GET /Groups``. For every filter:

* either the server answers 200 and its resources are exactly those the evaluator accepts among all
  stored ones, and the filter has none of the refused shapes below;
* or it answers 400 ``invalidFilter``, and the filter has one of the refused shapes below.

Filters are generated over every attribute type: core strings of both caseExact values, booleans,
references, binaries, ``name.*``, the multi-valued complex ``emails``/``phoneNumbers``/``addresses``/
``photos``/``roles``/``x509Certificates``, the enterprise extension (URN-qualified and not), the
derived ``groups``/``members`` (value, display, type, $ref), ``meta`` and ``schemas``; with every
operator (``eq ne co sw ew gt ge lt le pr``), ``null``, value paths ``a[f]`` and ``a[f].b op v``, ``not``,
and nested ``and``/``or``; attribute names and operators in random case.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from scim_server.filters import parse_filter
from scim_server.filters.ast import And, AttrPath, Compare, CompareOp, Filter, Not, Or, ValuePath
from scim_server.schema.attributes import Attribute, AttributeType
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE, ResourceType
from tests.helpers import ClientFactory
from tests.reference.evaluator import matches, parse_instant
from tests.reference.harness import (
    APP_SETTINGS,
    BINARIES,
    DOMAINS,
    ENT,
    URLS,
    WORDS,
    Bridge,
    budget,
    examples,
    populations,
    report,
)

FILTERS_PER_EXAMPLE = 12
EXAMPLES = examples(40)

# --- the shapes the server refuses (400 invalidFilter), each one allowed by the RFC --------------------
#
# RFC 7644 §3.12, invalidFilter: "The specified filter syntax was invalid (does not comply with Figure 1),
# or the specified attribute and filter comparison combination is not supported." Each entry names the
# shape; the test requires that a 400 comes with one of them and that none of them gets a 200.
REFUSED_SHAPES = {
    "unknown-attribute": "an attribute, sub-attribute or schema URN the resource type does not have",
    "null-operator": "null compared with an operator other than eq or ne",
    "operand-type": "an operand of another JSON type than the attribute's (a number for a string, "
    "a non-boolean for a boolean, a string that is not a dateTime for a dateTime)",
    "boolean-binary-ordering": "gt/ge/lt/le on a boolean or binary attribute (Table 3: they "
    '"SHALL cause a failed response (HTTP status code 400) with "scimType" of "invalidFilter""',
    "substring-non-string": "co/sw/ew on a boolean or dateTime attribute",
    "complex-comparison": "a complex attribute compared without a sub-attribute when it has no "
    '"value" sub-attribute, or with gt/ge/lt/le (§3.4.2.2: "For complex attributes, a fully '
    'qualified sub-attribute MUST be specified")',
    # The derived groups/members (docs/design.md, "Membership filters"): membership pairs live in
    # their own collection, and a filter on them is answered from the related ids it names, looked up
    # first. Only a shape that holds for no id it does not name can be answered that way, boundedly.
    "membership-operator": "groups/members (or their value) with another operator than eq and a "
    "string: ne, pr, eq/ne null, co/sw/ew, gt/ge/lt/le; each would hold through ids the filter does "
    "not name, so answering it means reading every membership of the organization",
    "membership-negation": "not (...) inside groups[...]/members[...]: it holds for ids the filter "
    "does not name, as ne does (not (groups.value eq ...) outside the brackets is answered)",
    "membership-sub-attribute": "groups.display/type/$ref (members likewise): rendered from the "
    "related resource, not stored with the membership, so no query on the pairs can compare them",
    "meta-rendered": "meta.location or meta.version compared with a value (they are rendered, not "
    "stored in that form)",
    "schemas-ordering": "schemas with gt/ge/lt/le or a non-string operand",
}


def _resolve(
    path: AttrPath, rt: ResourceType, parent: Attribute | None
) -> tuple[Attribute, Attribute | None] | None:
    """(attribute, sub-attribute) a path names, or None when unknown."""
    if parent is not None:
        if path.uri is not None or path.sub_attr is not None:
            return None
        sub = next((s for s in parent.sub_attributes if s.name.lower() == path.attr.lower()), None)
        return None if sub is None else (parent, sub)
    if path.uri is not None and not rt.is_core_uri(path.uri) and rt.extension(path.uri) is None:
        return None
    resolved = rt.resolve(path.uri, path.attr, path.sub_attr)
    if resolved is None:
        return None
    return resolved.attribute, resolved.sub_attribute


_ORDERING = {CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE}
_SUBSTRING = {CompareOp.CO, CompareOp.SW, CompareOp.EW}
_DERIVED = {("User", "groups"), ("Group", "members")}


def _has_not(node: Filter) -> bool:
    if isinstance(node, And | Or):
        return any(_has_not(term) for term in node.terms)
    return isinstance(node, Not)


def refused_shape(node: Filter, rt: ResourceType, parent: Attribute | None = None) -> str | None:
    """The first entry of :data:`REFUSED_SHAPES` the filter has, or None."""
    if isinstance(node, And | Or):
        return next((r for r in (refused_shape(t, rt, parent) for t in node.terms) if r), None)
    if isinstance(node, Not):
        return refused_shape(node.term, rt, parent)
    if isinstance(node, ValuePath):
        found = _resolve(node.path, rt, None)
        if found is None or found[1] is not None:
            return "unknown-attribute"
        inner = refused_shape(node.filter, rt, found[0])
        if inner is None and (rt.name, found[0].name) in _DERIVED and _has_not(node.filter):
            return "membership-negation"
        return inner
    path = node.path
    if parent is None and path.attr.lower() == "schemas" and path.uri is None and path.sub_attr is None:
        if isinstance(node, Compare) and (node.op in _ORDERING or not isinstance(node.value, str | None)):
            return "schemas-ordering"
        if isinstance(node, Compare) and node.value is None and node.op not in (CompareOp.EQ, CompareOp.NE):
            return "null-operator"
        return None
    found = _resolve(path, rt, parent)
    if found is None:
        return "unknown-attribute"
    attribute, sub = found
    op = node.op if isinstance(node, Compare) else None
    value = node.value if isinstance(node, Compare) else None
    if (rt.name, attribute.name) in _DERIVED:
        if sub is not None and sub.name != "value":
            return "membership-sub-attribute"
        if op is not CompareOp.EQ or not isinstance(value, str):
            return "membership-operator"
        return None
    if attribute.name == "meta" and sub is not None and op is not None:
        if sub.name in ("location", "version"):
            return "meta-rendered" if value is not None else None
        if sub.name == "resourceType" and value is not None:
            # A caseExact string, constant per collection: every string operator is answered.
            return None if isinstance(value, str) else "operand-type"
    if op is None:
        return None
    if value is None:
        return None if op in (CompareOp.EQ, CompareOp.NE) else "null-operator"
    leaf = sub if sub is not None else attribute
    if leaf.is_complex:
        value_sub = leaf.sub_attribute("value")
        if value_sub is None or op in _ORDERING:
            return "complex-comparison"
        leaf = value_sub
    kind = leaf.type
    if kind in (AttributeType.BOOLEAN, AttributeType.BINARY) and op in _ORDERING:
        return "boolean-binary-ordering"
    if kind in (AttributeType.BOOLEAN, AttributeType.DATETIME) and op in _SUBSTRING:
        return "substring-non-string"
    if kind in (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY):
        return None if isinstance(value, str) else "operand-type"
    if kind is AttributeType.BOOLEAN:
        ok = isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))
        return None if ok else "operand-type"
    if kind is AttributeType.DATETIME:
        if not isinstance(value, str):
            return "operand-type"
        try:
            parse_instant(value)
        except ValueError:
            return "operand-type"
    return None


# --- filter text --------------------------------------------------------------------------------------


def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws (a middle value: Hypothesis favours the ends of a range)."""
    return bool(draw(st.integers(0, one_in - 1)) == one_in // 2)


def _recase(draw: st.DrawFn, text: str) -> str:
    """Attribute names and operators are case-insensitive (RFC 7644 §3.4.2.2); spell them at random."""
    style = draw(st.sampled_from(("same", "same", "lower", "upper", "swap")))
    if style == "lower":
        return text.lower()
    if style == "upper":
        return text.upper()
    if style == "swap":
        return text.swapcase()
    return text


def _literal(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


FRAGMENTS = ("an", "AN", "b", "@example", ".COM", "a*", "(y)", "é", "É", " ", "-1", "x", "")
ALL_OPS = [op.value for op in CompareOp] + ["pr"]


class Vocabulary:
    """What one example's filters compare with: its ids and instants, and fixed pools."""

    def __init__(self, users: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
        self.ids = [r["id"] for r in users + groups] + ["0000-nobody"]
        self.instants = [r["meta"][key] for r in users + groups for key in ("created", "lastModified")]


@st.composite
def _operand(draw: st.DrawFn, kind: str, vocabulary: Vocabulary) -> Any:
    """A comparison value for an attribute of ``kind``; now and then one of another type."""
    if _rarely(draw, 25):
        return draw(st.sampled_from((True, 5, 2.5, "not-a-date")))
    if kind == "boolean":
        return draw(st.sampled_from((True, False, True, False, "True", "false")))
    if kind == "dateTime":
        base = parse_instant(draw(st.sampled_from(vocabulary.instants or ["2026-01-01T00:00:00Z"])))
        shifted = base + timedelta(milliseconds=draw(st.sampled_from((0, 0, 1, -1, 1000, -60000))))
        zone = draw(st.sampled_from(("Z", "+02:00", "-05:30")))
        if zone != "Z":
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            offset = timedelta(hours=hours, minutes=minutes) * (1 if zone[0] == "+" else -1)
            local = shifted.astimezone(UTC) + offset
            text = local.replace(tzinfo=None).isoformat(timespec="milliseconds") + zone
        else:
            text = shifted.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        # Seven fraction digits (Entra) that name the same millisecond.
        return text if draw(st.booleans()) else text[:23] + "0000" + text[23:]
    if kind == "id":
        return draw(st.sampled_from(vocabulary.ids))
    if kind == "reference":
        return draw(st.sampled_from((*URLS, "https://", "HTTPS://EXAMPLE.COM", "/ann", "example")))
    if kind == "binary":
        return draw(st.sampled_from((*BINARIES, "QU", "JD", "qu")))
    if kind == "resourceType":
        return draw(st.sampled_from(("User", "user", "Group", "USER", "Us")))
    if kind == "schema":
        return draw(
            st.sampled_from(
                (ENT, "urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params", ENT.upper(), ":USER")
            )
        )
    if kind == "email":
        return draw(st.sampled_from(tuple(f"{w}@{d}" for w in WORDS[:4] for d in DOMAINS) + FRAGMENTS))
    return draw(st.sampled_from(WORDS + FRAGMENTS))


# (path text, operand kind) per resource type; sub-attribute lists for value paths.
USER_LEAVES = [
    ("userName", "string"),
    ("externalId", "string"),
    ("displayName", "string"),
    ("nickName", "string"),
    ("title", "string"),
    ("userType", "string"),
    ("urn:ietf:params:scim:schemas:core:2.0:User:title", "string"),
    ("active", "boolean"),
    ("profileUrl", "reference"),
    ("name", "string"),
    ("name.givenName", "string"),
    ("name.familyName", "string"),
    ("name.formatted", "string"),
    ("emails", "email"),
    ("emails.value", "email"),
    ("emails.type", "string"),
    ("emails.primary", "boolean"),
    ("emails.display", "string"),
    ("phoneNumbers.value", "string"),
    ("phoneNumbers.type", "string"),
    ("addresses.locality", "string"),
    ("addresses.type", "string"),
    ("addresses.primary", "boolean"),
    ("photos.value", "reference"),
    ("photos", "reference"),
    ("roles.value", "string"),
    ("roles.primary", "boolean"),
    ("x509Certificates.value", "binary"),
    (f"{ENT}:department", "string"),
    (f"{ENT}:employeeNumber", "string"),
    ("costCenter", "string"),
    (f"{ENT}:manager.value", "string"),
    (f"{ENT}:manager", "string"),
    ("manager.value", "string"),
    ("groups", "id"),
    ("groups.value", "id"),
    ("groups.display", "refused"),
    ("groups.type", "refused"),
    ("groups.$ref", "refused"),
    ("meta.created", "dateTime"),
    ("meta.lastModified", "dateTime"),
    ("meta.resourceType", "resourceType"),
    ("meta.location", "refused"),
    ("schemas", "schema"),
    ("nickname.x", "refused"),
]
GROUP_LEAVES = [
    ("displayName", "string"),
    ("externalId", "string"),
    ("members", "id"),
    ("members.value", "id"),
    ("members.display", "refused"),
    ("members.type", "refused"),
    ("meta.created", "dateTime"),
    ("meta.resourceType", "resourceType"),
]
_SUBS: dict[str, list[tuple[str, str]]] = {
    "emails": [("value", "email"), ("type", "string"), ("primary", "boolean"), ("display", "string")],
    "phoneNumbers": [("value", "string"), ("type", "string")],
    "addresses": [
        ("type", "string"),
        ("locality", "string"),
        ("postalCode", "string"),
        ("primary", "boolean"),
    ],
    "photos": [("value", "reference"), ("type", "string")],
    "roles": [("value", "string"), ("primary", "boolean")],
    "x509Certificates": [("value", "binary")],
    "groups": [("value", "id"), ("display", "refused"), ("type", "refused")],
    "members": [("value", "id"), ("display", "refused"), ("type", "refused")],
    "name": [("givenName", "string"), ("familyName", "string")],
    f"{ENT}:manager": [("value", "string")],
}
USER_PARENTS = [
    "emails",
    "phoneNumbers",
    "addresses",
    "photos",
    "roles",
    "x509Certificates",
    "groups",
    "name",
    f"{ENT}:manager",
]
GROUP_PARENTS = ["members"]


# The operators each kind of attribute takes without a refusal; others are drawn now and then.
_STRING_OPS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr")
_OPS_BY_KIND = {
    "string": _STRING_OPS,
    "email": _STRING_OPS,
    "reference": _STRING_OPS,
    "binary": ("eq", "ne", "co", "sw", "ew", "pr"),
    "boolean": ("eq", "ne", "pr"),
    "dateTime": ("eq", "ne", "gt", "ge", "lt", "le", "pr"),
    "resourceType": _STRING_OPS,
    "schema": ("eq", "ne", "co", "sw", "ew", "pr"),
    # ne on membership is refused (REFUSED_SHAPES): drawn now and then, eq mostly.
    "id": ("eq", "eq", "eq", "ne"),
    "refused": ALL_OPS,
}


@st.composite
def _comparison(draw: st.DrawFn, leaves: list[tuple[str, str]], vocabulary: Vocabulary) -> str:
    path, kind = draw(st.sampled_from(leaves))
    if kind == "refused" and not _rarely(draw, 4):
        path, kind = draw(st.sampled_from([leaf for leaf in leaves if leaf[1] != "refused"]))
    ops = ALL_OPS if _rarely(draw, 20) else _OPS_BY_KIND[kind]
    op = draw(st.sampled_from(ops))
    text = _recase(draw, path)
    if op == "pr":
        return f"{text} {_recase(draw, 'pr')}"
    null = _rarely(draw, 8) and (op in ("eq", "ne") or _rarely(draw, 8))
    value = None if null else draw(_operand(kind, vocabulary))
    return f"{text} {_recase(draw, op)} {_literal(value)}"


@st.composite
def _combined(draw: st.DrawFn, term: st.SearchStrategy[str], depth: int) -> str:
    """``not``, ``and`` and ``or`` over ``term``, nested up to ``depth``."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(term)
    shape = draw(st.sampled_from(("not", "and", "or")))
    if shape == "not":
        return f"{_recase(draw, 'not')} ({draw(_combined(term, depth - 1))})"
    parts = [draw(_combined(term, depth - 1)) for _ in range(draw(st.integers(2, 3)))]
    return f" {_recase(draw, shape)} ".join(f"({p})" for p in parts)


@st.composite
def _value_path(draw: st.DrawFn, parents: list[str], vocabulary: Vocabulary) -> str:
    parent = draw(st.sampled_from(parents))
    inner = draw(_combined(_comparison(_SUBS[parent], vocabulary), 2))
    text = f"{_recase(draw, parent)}[{inner}]"
    if draw(st.integers(0, 3)) == 0:
        # a[f].b op v (Entra's form), read as one element matching both.
        sub, kind = draw(st.sampled_from(_SUBS[parent]))
        op = draw(st.sampled_from([op for op in _OPS_BY_KIND[kind] if op != "pr"]))
        text += f".{sub} {_recase(draw, op)} {_literal(draw(_operand(kind, vocabulary)))}"
    return text


def filters(rt: ResourceType, vocabulary: Vocabulary) -> st.SearchStrategy[str]:
    leaves, parents = (
        (USER_LEAVES, USER_PARENTS) if rt is USER_RESOURCE_TYPE else (GROUP_LEAVES, GROUP_PARENTS)
    )
    term = st.one_of(_comparison(leaves, vocabulary), _value_path(parents, vocabulary))
    return _combined(term, 2)


# --- the property --------------------------------------------------------------------------------------


def check_filter(
    bridge: Bridge, rt: ResourceType, text: str, stored: list[dict[str, Any]], tally: dict[str, int]
) -> dict[str, Any] | None:
    """None when the server's answer is the reference's, else the disagreement; ``tally`` counts outcomes."""
    ast = parse_filter(text, schema_uris=rt.schema_uris)
    refused = refused_shape(ast, rt)
    status, body = bridge.run(bridge.request("GET", rt.endpoint, params={"filter": text, "count": "1000"}))
    if status == 400 and body.get("scimType") == "invalidFilter":
        if refused is not None:
            tally[f"refused {refused}"] = tally.get(f"refused {refused}", 0) + 1
            return None
        return {"filter": text, "refused with": body.get("detail"), "but no refused shape": True}
    if status != 200:
        return {"filter": text, "status": status, "body": body}
    if refused is not None:
        return {"filter": text, "answered although of refused shape": refused}
    expected = sorted(r["id"] for r in stored if matches(r, ast, rt))
    got = sorted(r["id"] for r in body.get("Resources", []))
    if body["totalResults"] != len(got):
        return {"filter": text, "totalResults": body["totalResults"], "returned": len(got)}
    if got == expected:
        outcome = "matched some" if got else "matched none"
        tally[outcome] = tally.get(outcome, 0) + 1
        return None
    return {
        "filter": text,
        "only server": [r for r in stored if r["id"] in set(got) - set(expected)],
        "only reference": [r for r in stored if r["id"] in set(expected) - set(got)],
    }


async def test_filters_return_exactly_what_the_reference_evaluator_accepts(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], db: Any
) -> None:
    client = await aiohttp_client(app_factory(**APP_SETTINGS))
    bridge = Bridge(client, db, asyncio.get_running_loop())
    tally = {"examples": 0, "filters": 0}
    disagreements: list[dict[str, Any]] = []

    @budget(EXAMPLES)
    @given(population=populations(), data=st.data())
    def run(population: Any, data: st.DataObject) -> None:
        users, groups = bridge.run(bridge.store(population))
        vocabulary = Vocabulary(users, groups)
        tally["examples"] += 1
        for _ in range(FILTERS_PER_EXAMPLE):
            name = data.draw(st.sampled_from(("User", "User", "Group")), label="resource type")
            rt = USER_RESOURCE_TYPE if name == "User" else GROUP_RESOURCE_TYPE
            text = data.draw(filters(rt, vocabulary), label="filter")
            found = check_filter(bridge, rt, text, users if rt is USER_RESOURCE_TYPE else groups, tally)
            if found is not None:
                disagreements.append(found)
            tally["filters"] += 1

    await asyncio.to_thread(run)
    print(f"reference filters: {tally}")
    report(disagreements)
    assert tally["examples"] >= EXAMPLES
    assert disagreements == []
