"""The resource service's filter compilation: cached by text and by probe shape, same answers as uncached."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.compiler.query import compile_filter
from scim_server.errors import InvalidFilterError
from scim_server.filters import parse_filter
from scim_server.schema.catalog import GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE
from scim_server.services import resources
from scim_server.services.resources import ResourceService
from scim_server.settings import Settings
from scim_server.storage.client import embedded_client
from scim_server.storage.repository import Member, Store


def users(settings: Settings | None = None) -> ResourceService:
    store = Store(embedded_client()["scim"])
    return ResourceService(USER_RESOURCE_TYPE, store.users, store.memberships, settings or Settings())


def uncached(text: str) -> dict[str, Any]:
    return compile_filter(parse_filter(text, schema_uris=USER_RESOURCE_TYPE.schema_uris), USER_RESOURCE_TYPE)


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "BJensen"',
        'USERNAME Eq "bjensen@example.com"',
        'userName sw "b"',
        'externalId eq "E-1"',
        'emails.value eq "B@Example.com"',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Tours"',
        'name.givenName co "arb"',
        'userName eq ""',
        "active eq true",
        'userName eq "a" and active eq true',
        'emails[type eq "work" and value sw "b"]',
        'meta.lastModified gt "2026-01-01T00:00:00Z"',
    ],
)
async def test_a_filter_compiles_as_it_does_uncached_first_and_again(text: str) -> None:
    service = users()

    first = await service.compile_query("acme", text)
    again = await service.compile_query("acme", text)

    assert first == again == uncached(text)


async def test_probes_of_one_shape_share_a_compiled_comparison_whatever_their_string() -> None:
    service = users()
    await service.compile_query("acme", 'userName eq "first"')
    before = resources._string_comparison.cache_info()

    queries = [await service.compile_query("acme", f'userName eq "user{n}@Example.com"') for n in range(3)]

    after = resources._string_comparison.cache_info()
    assert queries == [{"_lc.userName": f"user{n}@example.com"} for n in range(3)]
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
    assert queries == [uncached(f'userName eq "user{n}@Example.com"') for n in range(3)]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('nosuch eq "x"', "nosuch"),
        ('password eq "x"', "password"),
        ('userName xx "x"', None),
    ],
)
async def test_a_refused_filter_is_refused_every_time(text: str, detail: str | None) -> None:
    service = users()

    for _ in range(2):
        with pytest.raises(InvalidFilterError) as refused:
            await service.compile_query("acme", text)
        if detail is not None:
            assert detail in refused.value.detail


async def test_filter_limits_apply_to_cached_shapes_too() -> None:
    service = users(Settings(max_filter_length=20))
    await service.compile_query("acme", 'userName eq "short"')

    with pytest.raises(InvalidFilterError):
        await service.compile_query("acme", 'userName eq "much longer than twenty"')


async def test_a_membership_filter_is_compiled_against_the_memberships_each_time() -> None:
    db = embedded_client()["scim"]
    store = Store(db)
    groups = ResourceService(GROUP_RESOURCE_TYPE, store.groups, store.memberships, Settings())
    text = 'members.value eq "u-1"'

    assert await groups.compile_query("acme", text) == {"_id": {"$in": []}}
    await (await store.memberships("acme")).add("g-1", [Member("u-1", "User", "alice")])
    assert await groups.compile_query("acme", text) == {"_id": {"$in": ["g-1"]}}
