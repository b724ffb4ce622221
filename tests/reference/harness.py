"""What the two reference property tests share: random users and groups, and a bridge from Hypothesis's
synchronous examples to one in-process app on the embedded store, its data reset between examples."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from scim_server.schema.catalog import (
    ENTERPRISE_USER_SCHEMA_ID,
    GROUP_SCHEMA_ID,
    PATCH_OP_SCHEMA,
    USER_SCHEMA_ID,
)
from tests.helpers import auth

ENT = ENTERPRISE_USER_SCHEMA_ID
PATCH_OP = PATCH_OP_SCHEMA
ORG = "orga"
_T = TypeVar("_T")


# Examples per property test: each test's CI default, or SCIM_REFERENCE_EXAMPLES for a longer
# exploration by hand, for example SCIM_REFERENCE_EXAMPLES=500 .venv/bin/pytest tests/reference
def examples(default: int) -> int:
    return int(os.environ.get("SCIM_REFERENCE_EXAMPLES", str(default)))


def budget(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: every example costs round trips, and a disagreement is reported whole (the
        # filter or PATCH and the resources) rather than raised, so that one run lists all of them.
        phases=[Phase.explicit, Phase.generate],
        # One app per test function, its store emptied at the start of every example (Bridge.reset).
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# The app under test: no rate limit (examples send requests as fast as they can), pages large enough
# that one GET returns every match.
APP_SETTINGS: dict[str, Any] = {"rate_limit_per_second": 0, "max_page_size": 1000}

# Words chosen to collide across attributes and cases, with regular-expression metacharacters (the
# server must escape them) and a non-ASCII letter whose case folds simply.
WORDS = ("ann", "Ann", "ANNA", "bob", "Bob.x", "a*b", "x(y)", "zé", "Zé", "a b", "m-1")
DOMAINS = ("Example.com", "example.org")
URLS = ("https://Example.com/ann", "https://example.com/Bob", "HTTPS://example.org/x", "http://ex.com/zé")
BINARIES = ("QUJD", "qUJD", "YWJj", "QUJDRA==")
EMAIL_TYPES = ("work", "Work", "home", "other")
PHONE_TYPES = ("work", "mobile", "Mobile", "fax")
ADDRESS_TYPES = ("work", "home", "Home")
PHOTO_TYPES = ("photo", "thumbnail", "Photo")

words = st.sampled_from(WORDS)


def _element(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A complex value with a random subset of ``fields`` (possibly none of them: an empty element)."""
    return st.fixed_dictionaries({}, optional=fields)


def _unique_by_value(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most one primary (RFC 7643 §2.4: "The primary attribute value "true" MUST appear no more than
    once") and no two identical elements, so that the server takes the body as sent."""
    out: list[dict[str, Any]] = []
    primary_seen = False
    for element in elements:
        element = dict(element)
        if element.get("primary") is True:
            if primary_seen:
                element["primary"] = False
            primary_seen = True
        if element and element not in out:
            out.append(element)
    return out


def _multi(element: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(element, max_size=3).map(_unique_by_value)


emails = _multi(
    _element(
        value=st.builds(lambda w, d: f"{w}@{d}", words, st.sampled_from(DOMAINS)),
        type=st.sampled_from(EMAIL_TYPES),
        primary=st.booleans(),
        display=words,
    )
)
phone_numbers = _multi(
    _element(value=st.sampled_from(("555-0100", "+1 555 0101", "5550100")), type=st.sampled_from(PHONE_TYPES))
)
addresses = _multi(
    _element(
        type=st.sampled_from(ADDRESS_TYPES),
        locality=words,
        postalCode=st.sampled_from(("98052", "1000", "AB-1")),
        primary=st.booleans(),
    )
)
photos = _multi(_element(value=st.sampled_from(URLS), type=st.sampled_from(PHOTO_TYPES)))
roles = _multi(_element(value=words, primary=st.booleans()))
certificates = _multi(_element(value=st.sampled_from(BINARIES)))
names = _element(givenName=words, familyName=words, formatted=words)
enterprise = _element(
    employeeNumber=st.sampled_from(("701984", "7019", "A-1")),
    department=words,
    costCenter=words,
    manager=_element(value=words),
)


def users(index: int) -> st.SearchStrategy[dict[str, Any]]:
    """A User body over every attribute type the catalog has (strings with both caseExact values,
    booleans, references, binaries, single and multi-valued complex values, the enterprise extension).
    ``userName`` carries ``index`` so that it is unique (compared case-insensitively)."""
    return st.fixed_dictionaries(
        {"userName": words.map(lambda w: f"{w}-{index}")},
        optional={
            "externalId": words,
            "displayName": words,
            "nickName": words,
            "title": words,
            "userType": words,
            "active": st.booleans(),
            "profileUrl": st.sampled_from(URLS),
            "name": names,
            "emails": emails,
            "phoneNumbers": phone_numbers,
            "addresses": addresses,
            "photos": photos,
            "roles": roles,
            "x509Certificates": certificates,
            ENT: enterprise,
        },
    ).map(_with_schemas)


def _with_schemas(body: dict[str, Any]) -> dict[str, Any]:
    schemas = [USER_SCHEMA_ID] + ([ENT] if ENT in body else [])
    return {"schemas": schemas, **body}


@st.composite
def populations(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, list[int], list[int]]]]:
    """Users and groups: each group a display name, the indexes of its user members and of its group
    members (earlier groups only, so nesting never forms a cycle)."""
    count = draw(st.integers(min_value=1, max_value=5))
    bodies = [draw(users(i)) for i in range(count)]
    groups: list[tuple[str, list[int], list[int]]] = []
    for g in range(draw(st.integers(min_value=0, max_value=3))):
        members = draw(st.lists(st.integers(0, count - 1), unique=True, max_size=count))
        nested = draw(st.lists(st.integers(0, g - 1), unique=True, max_size=g)) if g else []
        groups.append((f"{draw(words)} g{g}", members, nested))
    return bodies, groups


class Bridge:
    """Runs the app's coroutines on the test's event loop from Hypothesis's thread."""

    def __init__(self, client: TestClient[Any, Any], db: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.db = db
        self.loop = loop

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    async def reset(self) -> None:
        """Empty the organization's collections (indexes stay), so each example starts from nothing."""
        for kind in ("users", "groups", "memberships"):
            await self.db[f"org_{ORG}_{kind}"].delete_many({})

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.client.request(method, f"/scim/v2{path}", headers=auth(), **kwargs) as response:
            body = await response.json(content_type=None) if response.status != 204 else None
            return response.status, body

    async def store(
        self, population: tuple[list[dict[str, Any]], list[tuple[str, list[int], list[int]]]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Reset, create the population, and return every user and group as GET renders them."""
        await self.reset()
        bodies, groups = population
        user_ids = []
        for body in bodies:
            status, created = await self.request("POST", "/Users", json=body)
            assert status == 201, (body, created)
            user_ids.append(created["id"])
        group_ids: list[str] = []
        for display_name, members, nested in groups:
            listed = [{"value": user_ids[i]} for i in members] + [{"value": group_ids[i]} for i in nested]
            body = {"schemas": [GROUP_SCHEMA_ID], "displayName": display_name, "members": listed}
            status, created = await self.request("POST", "/Groups", json=body)
            assert status == 201, (body, created)
            group_ids.append(created["id"])
        return await self.listed("/Users"), await self.listed("/Groups")

    async def listed(self, endpoint: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
        status, body = await self.request("GET", endpoint, params={"count": "1000", **(query or {})})
        assert status == 200, body
        assert body["totalResults"] == len(body.get("Resources", [])), body
        resources: list[dict[str, Any]] = body.get("Resources", [])
        return resources


def report(disagreements: list[dict[str, Any]]) -> None:
    """Write the disagreements to the file ``SCIM_REFERENCE_REPORT`` names (JSON lines), for a person
    adjudicating them; the test fails on them either way."""
    target = os.environ.get("SCIM_REFERENCE_REPORT")
    if target and disagreements:
        with open(target, "a", encoding="utf-8") as out:
            for item in disagreements:
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
