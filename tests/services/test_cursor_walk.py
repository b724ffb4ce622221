"""A walk by cursor under a stream of creates and deletes (RFC 9865): never a skip, never a repeat.

Between every two pages of the walk, the same event loop creates and deletes users at random (some
deleted ones not yet walked, some walked, some created in the walk itself). Every user that exists
from the walk's first page to its last must be listed exactly once, in the walk's order, and no user
at all may be listed twice. The same stream breaks index paging, which the last test shows: that is
what the cursor walk is for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import pytest

from scim_server.schema.catalog import USER_RESOURCE_TYPE
from scim_server.services.listing import SearchRequest
from scim_server.services.resources import ResourceService
from scim_server.settings import Settings
from scim_server.storage.client import embedded_client
from scim_server.storage.repository import Store

ORG = "walk"
ROUNDS = 30


def service() -> ResourceService:
    store = Store(embedded_client()["scim"])
    return ResourceService(USER_RESOURCE_TYPE, store.users, store.memberships, Settings())


@dataclass
class Population:
    """The users that exist, by id, with their userNames, and the stream of writes on them."""

    users: ResourceService
    rng: random.Random
    alive: dict[str, str] = field(default_factory=dict)
    made: int = 0

    async def create(self) -> None:
        self.made += 1
        name = f"{self.rng.choice('abcdefghij')}{self.rng.randrange(10**6):06d}-{self.made}"
        stored = await self.users.create(ORG, {"userName": name})
        self.alive[stored.id] = name

    async def delete(self) -> None:
        victim = self.rng.choice(sorted(self.alive))
        await self.users.delete(ORG, victim, None)
        del self.alive[victim]

    async def writes(self) -> None:
        """A few creates and deletes, in a random mix."""
        for _ in range(self.rng.randrange(1, 6)):
            if self.alive and self.rng.random() < 0.5:
                await self.delete()
            else:
                await self.create()


async def walk(
    population: Population, request: SearchRequest, *, by_cursor: bool
) -> tuple[list[str], set[str]]:
    """The ids a walk lists, page by page with writes between pages, and the ids that existed for
    the whole walk."""
    users = population.users
    before = set(population.alive)
    listed: list[str] = []
    deleted: set[str] = set()
    cursor: str | None = "" if by_cursor else None
    start = 1
    while True:
        if by_cursor:
            page = await users.search(ORG, replace(request, cursor=cursor))
        else:
            page = await users.search(ORG, replace(request, start_index=start))
        listed += [stored.id for stored in page.resources]
        alive = set(population.alive)
        await population.writes()
        deleted |= alive - set(population.alive)
        if by_cursor:
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        else:
            start += len(page.resources)
            if not page.resources:
                break
    return listed, before - deleted


ORDERS = [
    SearchRequest(count=7),
    SearchRequest(count=5, sort_by="userName"),
    SearchRequest(count=6, sort_by="userName", descending=True),
    SearchRequest(count=4, filter='userName sw "c" or userName sw "d" or userName sw "e"', sort_by="id"),
]


@pytest.mark.parametrize("request_", ORDERS, ids=["created", "userName", "userName desc", "filter, id"])
async def test_a_cursor_walk_under_creates_and_deletes_never_skips_nor_repeats(
    request_: SearchRequest,
) -> None:
    for round_number in range(ROUNDS):
        population = Population(service(), random.Random(round_number))
        for _ in range(60):
            await population.create()
        listed, whole_walk = await walk(population, request_, by_cursor=True)
        assert len(listed) == len(set(listed)), f"round {round_number}: a user was listed twice"
        wanted = {i for i in whole_walk if request_.filter is None or population_matches(i, population)}
        missing = wanted - set(listed)
        assert not missing, f"round {round_number}: {len(missing)} user(s) skipped"


def population_matches(user_id: str, population: Population) -> bool:
    return population.alive[user_id][0] in "cde"


async def test_the_same_stream_makes_index_paging_skip_or_repeat() -> None:
    # Why the cursor exists: with startIndex, a delete before the page shifts a user past it and a
    # create before it shifts one back into the next page.
    broken = 0
    for round_number in range(ROUNDS):
        population = Population(service(), random.Random(round_number))
        for _ in range(60):
            await population.create()
        listed, whole_walk = await walk(
            population, SearchRequest(count=5, sort_by="userName"), by_cursor=False
        )
        if len(listed) != len(set(listed)) or whole_walk - set(listed):
            broken += 1
    assert broken > ROUNDS // 2
