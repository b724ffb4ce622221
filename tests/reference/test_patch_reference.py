"""The server's PATCH held to the reference application of ``tests/reference/patcher.py``.

Each example creates one random user through the API, then sends random PATCH requests one after the
other. For every request the reference applies the same operations to the user as GET returned it:

* when the server answers 200, GET must return exactly what the reference made (``meta`` aside) and
  the reference must not have refused the request;
* when the server answers 400, the reference must have refused it with the same ``scimType``, for a
  rule of the RFC it names, and GET must return the user unchanged (RFC 7644 §3.5.2: atomic).

Operations: ``add``/``replace``/``remove`` (ops in random case) on simple attributes of every type
(strings of both caseExact values, boolean with Entra's "True"/"False" strings, reference), ``name``
and ``name.*``, the multi-valued complex ``emails``/``phoneNumbers``/``addresses``/``roles`` (whole
lists, value-path filters ``emails[type eq "work"]`` with and without a sub-attribute, ``ne``/``not``/
``co``/``pr`` filters, primary switching), the enterprise extension (URN-qualified paths, unqualified
names, the URN alone with an object), no-path value objects (attribute names, dotted paths, URN keys,
extension objects) and ``null``/``""`` values anywhere, including inside complex values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from scim_server.schema.catalog import USER_RESOURCE_TYPE
from tests.helpers import ClientFactory
from tests.reference.harness import (
    ADDRESS_TYPES,
    APP_SETTINGS,
    EMAIL_TYPES,
    ENT,
    PATCH_OP,
    WORDS,
    Bridge,
    budget,
    examples,
    report,
    users,
)
from tests.reference.patcher import RefusalError, apply_operations

RT = USER_RESOURCE_TYPE
REQUESTS_PER_EXAMPLE = 6
EXAMPLES = examples(100)

# --- operations -------------------------------------------------------------------------------------

words = st.sampled_from(WORDS)
# A value that unassigns (null or "") now and then, a word otherwise.
maybe_words = st.one_of(words, words, words, st.sampled_from((None, "")))


def _op(draw: st.DrawFn, name: str) -> str:
    return draw(st.sampled_from((name, name, name.capitalize(), name.upper())))


def _recase_path(draw: st.DrawFn, path: str) -> str:
    return draw(st.sampled_from((path, path, path.lower(), path.upper())))


def _element(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """An element with at least one assigned sub-attribute (the reference drops empty ones unmodelled)."""
    by_kind: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "emails": {
            "value": st.builds(lambda w: f"{w}@example.com", words),
            "type": st.sampled_from(EMAIL_TYPES),
            "primary": st.booleans(),
            "display": maybe_words,
        },
        "phoneNumbers": {
            "value": st.sampled_from(("555-0100", "5550101")),
            "type": st.sampled_from(("work", "fax")),
        },
        "addresses": {
            "type": st.sampled_from(ADDRESS_TYPES),
            "locality": maybe_words,
            "primary": st.booleans(),
        },
        "roles": {"value": words, "primary": st.booleans()},
    }
    fields = by_kind[kind]
    first = next(iter(fields))
    return st.fixed_dictionaries(
        {first: fields[first]}, optional={k: v for k, v in fields.items() if k != first}
    )


def _nulls(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """An element value whose every sub-attribute is null or "": it unassigns, and holds nothing."""
    return st.fixed_dictionaries({_SUBS[kind][-1]: st.sampled_from((None, ""))})


_SUBS = {
    "emails": ("value", "type", "primary", "display"),
    "phoneNumbers": ("value", "type"),
    "addresses": ("type", "locality", "primary"),
    "roles": ("value", "primary"),
}


def _sub_value(draw: st.DrawFn, sub: str) -> Any:
    if sub == "primary":
        return draw(st.sampled_from((True, False, "True", None, "")))
    if sub == "value":
        return draw(st.one_of(st.builds(lambda w: f"{w}@example.com", words), st.none()))
    if sub == "type":
        return draw(st.sampled_from(("work", "home", "Work", "fax")))
    return draw(maybe_words)


@st.composite
def _value_filter(draw: st.DrawFn, kind: str) -> str:
    type_value = draw(st.sampled_from(("work", "WORK", "home", "fax", "other")))
    shape = draw(st.sampled_from(("eq", "eq", "eq", "eq-primary", "ne", "not", "co", "pr")))
    if shape == "eq":
        return f'type eq "{type_value}"' if kind != "roles" else f'value eq "{draw(words)}"'
    if shape == "eq-primary":
        return f'type eq "{type_value}" and primary eq true' if kind != "roles" else 'primary eq "True"'
    if shape == "ne":
        return f'type ne "{type_value}"' if kind != "roles" else f'value ne "{draw(words)}"'
    if shape == "not":
        return f'not (type eq "{type_value}")' if kind != "roles" else f'not (value eq "{draw(words)}")'
    if shape == "co":
        return (
            f'value co "{draw(st.sampled_from(("a", "@", "x")))}"'
            if kind != "addresses"
            else 'locality co "a"'
        )
    return "primary pr"


@st.composite
def operation(draw: st.DrawFn) -> dict[str, Any]:
    form = draw(
        st.sampled_from(
            (
                "simple",
                "boolean",
                "name",
                "name-sub",
                "list",
                "filtered",
                "filtered-sub",
                "extension",
                "extension-urn",
                "no-path",
            )
        )
    )
    op = draw(st.sampled_from(("add", "replace", "remove")))
    value: Any
    if form == "simple":
        path = draw(
            st.sampled_from(("displayName", "nickName", "title", "userType", "externalId", "profileUrl"))
        )
        value = (
            draw(st.sampled_from(("https://Example.com/p", "HTTP://x.org"))) if path == "profileUrl" else None
        )
        return _with_value(draw, op, _recase_path(draw, path), value if value else draw(maybe_words))
    if form == "boolean":
        return _with_value(
            draw, op, "active", draw(st.sampled_from((True, False, "True", "false", None, "")))
        )
    if form == "name":
        value = draw(
            st.fixed_dictionaries(
                {}, optional={"givenName": maybe_words, "familyName": maybe_words, "middleName": maybe_words}
            )
        )
        return _with_value(draw, op, "name", value if value else None)
    if form == "name-sub":
        sub = draw(st.sampled_from(("givenName", "familyName", "middleName", "formatted")))
        return _with_value(draw, op, _recase_path(draw, f"name.{sub}"), draw(maybe_words))
    kind = draw(st.sampled_from(("emails", "phoneNumbers", "addresses", "roles")))
    if form == "list":
        elements = draw(st.lists(_element(kind), min_size=1, max_size=3).map(_one_primary))
        return _with_value(draw, op, kind, elements)
    if form in ("filtered", "filtered-sub"):
        path = f"{_recase_path(draw, kind)}[{draw(_value_filter(kind))}]"
        if form == "filtered-sub":
            sub = draw(st.sampled_from(_SUBS[kind]))
            return _with_value(draw, op, f"{path}.{sub}", _sub_value(draw, sub))
        element = draw(st.one_of(_element(kind), _element(kind), _element(kind), st.none(), _nulls(kind)))
        return _with_value(draw, op, path, element)
    if form == "extension":
        attr = draw(st.sampled_from(("department", "employeeNumber", "costCenter", "manager")))
        path = draw(st.sampled_from((f"{ENT}:{attr}", attr, f"{ENT.lower()}:{attr}")))
        if attr == "manager":
            value = draw(st.one_of(st.fixed_dictionaries({"value": maybe_words}), st.none()))
        else:
            value = draw(maybe_words)
        return _with_value(draw, op, path, value)
    if form == "extension-urn":
        value = draw(
            st.fixed_dictionaries({}, optional={"department": maybe_words, "costCenter": maybe_words})
        )
        return _with_value(draw, op, ENT, value if value else None)
    # No path: "add"/"replace" only (§3.5.2.2: a remove needs a path).
    entries = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "title": maybe_words,
                "active": st.sampled_from((True, "False")),
                "name.givenName": maybe_words,
                "name": st.fixed_dictionaries(
                    {}, optional={"familyName": maybe_words, "givenName": maybe_words}
                ),
                f"{ENT}:department": maybe_words,
                ENT: st.fixed_dictionaries(
                    {}, optional={"costCenter": maybe_words, "manager": st.just({"value": "m"})}
                ),
                "emails": st.lists(_element("emails"), min_size=1, max_size=2).map(_one_primary),
            },
        )
    )
    if "name" in entries and "name.givenName" in entries:
        del entries["name.givenName"]  # one key per attribute: the order of the two would matter
    return {"op": _op(draw, draw(st.sampled_from(("add", "replace")))), "value": entries or {"title": "t"}}


def _one_primary(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen = False
    for element in elements:
        element = dict(element)
        if element.get("primary") is True:
            if seen:
                element["primary"] = False
            seen = True
        if element not in out:
            out.append(element)
    return out


def _with_value(draw: st.DrawFn, op: str, path: str, value: Any) -> dict[str, Any]:
    if op == "remove":
        return {"op": _op(draw, "remove"), "path": path}
    return {"op": _op(draw, op), "path": path, "value": value}


# --- the property -------------------------------------------------------------------------------------


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def check_patch(
    bridge: Bridge, user: dict[str, Any], operations: list[dict[str, Any]], tally: dict[str, int]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The user after the request (as GET returns it) and the disagreement, if any."""
    before = _without_meta(user)
    try:
        expected: dict[str, Any] | None = apply_operations(before, operations, RT)
        refusal = None
    except RefusalError as exc:
        expected, refusal = None, exc
    body = {"schemas": [PATCH_OP], "Operations": operations}
    status, answer = bridge.run(bridge.request("PATCH", f"/Users/{user['id']}", json=body))
    _, after = bridge.run(bridge.request("GET", f"/Users/{user['id']}"))
    stored = _without_meta(after)
    found: dict[str, Any] | None = None
    if status == 400:
        key = f"refused {answer.get('scimType')}"
        if refusal is None or refusal.scim_type != answer.get("scimType"):
            found = {"refused": answer, "reference": expected if refusal is None else str(refusal)}
        elif stored != before:
            found = {"refused but changed": stored}
    elif status == 200:
        key = "applied"
        if refusal is not None:
            found = {"applied although the reference refuses": str(refusal), "stored": stored}
        elif stored != expected:
            found = {"stored": stored, "reference": expected}
    else:
        key, found = f"status {status}", {"status": status, "body": answer}
    tally[key] = tally.get(key, 0) + 1
    if found is not None:
        found = {"before": before, "operations": operations, **found}
    return after, found


async def test_patch_stores_what_the_reference_application_makes(
    aiohttp_client: ClientFactory, app_factory: Callable[..., web.Application], db: Any
) -> None:
    client = await aiohttp_client(app_factory(**APP_SETTINGS))
    bridge = Bridge(client, db, asyncio.get_running_loop())
    tally = {"examples": 0}
    disagreements: list[dict[str, Any]] = []

    @budget(EXAMPLES)
    @given(body=users(0), data=st.data())
    def run(body: dict[str, Any], data: st.DataObject) -> None:
        (user,), _ = bridge.run(bridge.store(([body], [])))
        tally["examples"] += 1
        for _ in range(REQUESTS_PER_EXAMPLE):
            operations = data.draw(st.lists(operation(), min_size=1, max_size=3), label="operations")
            user, found = check_patch(bridge, user, operations, tally)
            if found is not None:
                disagreements.append(found)

    await asyncio.to_thread(run)
    print(f"reference PATCH: {tally}")
    report(disagreements)
    assert tally["examples"] >= EXAMPLES
    assert disagreements == []
