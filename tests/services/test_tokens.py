"""Bearer tokens: issued once, stored hashed, authenticated through a short-lived lookup cache,
rotated with a grace period, last use recorded without a write per request."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scim_server.errors import ServiceUnavailableError, UnauthorizedError
from scim_server.services import tokens as tokens_module
from scim_server.services.tokens import TOKEN_PREFIX, Principal, TokenService, TokenSpecError, hash_token
from scim_server.storage.client import embedded_client
from scim_server.storage.tokens import TOKENS_COLLECTION, TokenRecord, TokenRepository

NOW = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)


class FakeMonotonic:
    """Stands in for the ``time`` module inside the token service, so tests move the cache clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def db() -> Any:
    return embedded_client()["scim"]


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    # Replace the module's reference to ``time``, not ``time.monotonic`` itself: the event loop uses it.
    monkeypatch.setattr(tokens_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def service(db: Any, *, cache_seconds: float = 0, clock: Any = None) -> TokenService:
    if clock is None:
        return TokenService(TokenRepository(db), cache_seconds=cache_seconds)
    return TokenService(TokenRepository(db), cache_seconds=cache_seconds, clock=clock)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


async def test_create_returns_the_plaintext_once_and_stores_only_its_hash(db: Any) -> None:
    tokens = service(db, clock=lambda: NOW)

    record, token = await tokens.create("acme", name="okta", read_only=False)

    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    assert record == TokenRecord(
        id=record.id, org_id="acme", name="okta", created=NOW, expires=None, revoked=None, read_only=False
    )
    assert record.id.startswith("tok_")
    docs = await db[TOKENS_COLLECTION].find({}).to_list(length=None)
    assert docs == [
        {
            "_id": record.id,
            "hash": hashlib.sha256(token.encode()).hexdigest(),
            "org": "acme",
            "name": "okta",
            "created": NOW,
            "expires": None,
            "revoked": None,
            "readOnly": False,
        }
    ]
    secret = token.removeprefix(TOKEN_PREFIX)
    assert not any(secret in text for text in _strings(docs[0]))


async def test_two_created_tokens_differ(db: Any) -> None:
    tokens = service(db)

    (first, a), (second, b) = await tokens.create("acme"), await tokens.create("acme")

    assert a != b and first.id != second.id


async def test_create_rejects_an_invalid_organization_id(db: Any) -> None:
    with pytest.raises(TokenSpecError, match=re.escape("organization id '../x' is invalid")):
        await service(db).create("../x")


async def test_create_rejects_a_secret_already_registered(db: Any) -> None:
    tokens = service(db)
    await tokens.create("acme", secret="the-same-secret")

    with pytest.raises(TokenSpecError, match="already registered"):
        await tokens.create("other", secret="the-same-secret")


async def test_authenticate_resolves_a_token_to_its_principal(db: Any) -> None:
    tokens = service(db)
    record, token = await tokens.create("acme", name="entra")

    principal = await tokens.authenticate(bearer(token))

    assert principal == Principal(org_id="acme", token_id=record.id, token_name="entra", read_only=False)


async def test_the_bearer_scheme_is_case_insensitive_and_whitespace_tolerant(db: Any) -> None:
    tokens = service(db)
    record, token = await tokens.create("acme")

    principal = await tokens.authenticate(f"  bearer   {token}  ")

    assert principal == Principal("acme", record.id, "", False)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "authentication required: send Authorization: Bearer <token>"),
        ("", "authentication required: send Authorization: Bearer <token>"),
        ("Bearer", "malformed Authorization header: expected Bearer <token>"),
        ("Bearer ", "malformed Authorization header: expected Bearer <token>"),
        ("Basic dXNlcjpwYXNz", "malformed Authorization header: expected Bearer <token>"),
        ("Bearer two words", "malformed Authorization header: expected Bearer <token>"),
        ("Bearer " + "x" * 513, "malformed Authorization header: expected Bearer <token>"),
        ("Bearer scim_unknown-token-value", "the bearer token is invalid, expired or revoked"),
        # Header bytes that are not UTF-8 reach the service as lone surrogates.
        ("Bearer scim_\udcff\udcfe-token", "the bearer token is invalid, expired or revoked"),
    ],
)
async def test_a_missing_malformed_or_unknown_token_is_401(db: Any, header: str | None, message: str) -> None:
    tokens = service(db)
    await tokens.create("acme")

    with pytest.raises(UnauthorizedError) as caught:
        await tokens.authenticate(header)

    assert (caught.value.status, caught.value.detail) == (401, message)


async def test_the_hash_of_a_token_does_not_authenticate(db: Any) -> None:
    tokens = service(db)
    _, token = await tokens.create("acme")

    with pytest.raises(UnauthorizedError):
        await tokens.authenticate(bearer(hash_token(token)))


async def test_a_token_created_already_expired_is_rejected(db: Any) -> None:
    tokens = service(db)
    _, token = await tokens.create("acme", expires=datetime.now(UTC) - timedelta(seconds=1))

    with pytest.raises(UnauthorizedError, match="invalid, expired or revoked"):
        await tokens.authenticate(bearer(token))


@pytest.mark.parametrize(
    ("cache_seconds", "lifetime", "clock_step"),
    [
        # Both clocks move together, as on a server whose clock is not stepped: the token is refused
        # when its lifetime ends, inside the cache window.
        (60, timedelta(seconds=30), timedelta(0)),
        # The system clock is stepped an hour past the expiry: a cached lookup counts down on the
        # monotonic clock, so the token is refused when the cache window ends (the documented bound,
        # the same as a revocation's).
        (5, timedelta(hours=1), timedelta(hours=2)),
    ],
)
async def test_a_cached_token_is_refused_when_its_lifetime_or_the_cache_window_ends(
    db: Any, monotonic: FakeMonotonic, cache_seconds: float, lifetime: timedelta, clock_step: timedelta
) -> None:
    clock = [NOW]
    tokens = service(db, cache_seconds=cache_seconds, clock=lambda: clock[0])
    _, token = await tokens.create("acme", expires=NOW + lifetime)
    assert (await tokens.authenticate(bearer(token))).org_id == "acme"
    answers_for = min(lifetime.total_seconds(), cache_seconds)

    clock[0] += clock_step + timedelta(seconds=answers_for - 0.1)
    monotonic.now += answers_for - 0.1
    assert (await tokens.authenticate(bearer(token))).org_id == "acme"  # from the cache

    clock[0] += timedelta(seconds=0.1)
    monotonic.now += 0.1
    with pytest.raises(UnauthorizedError, match="invalid, expired or revoked"):
        await tokens.authenticate(bearer(token))


async def test_a_revoked_token_is_rejected_at_once_without_a_cache(db: Any) -> None:
    tokens = service(db, cache_seconds=0)
    record, token = await tokens.create("acme")
    await tokens.authenticate(bearer(token))

    assert await tokens.revoke(record.id) is True

    with pytest.raises(UnauthorizedError):
        await tokens.authenticate(bearer(token))


async def test_a_revoked_token_works_until_the_cache_window_passes(db: Any, monotonic: FakeMonotonic) -> None:
    tokens = service(db, cache_seconds=5)
    record, token = await tokens.create("acme")
    await tokens.authenticate(bearer(token))
    await tokens.revoke(record.id)

    # The documented bound: a running server may accept a revoked token for token_cache_seconds.
    monotonic.now += 4.9
    assert (await tokens.authenticate(bearer(token))).token_id == record.id

    monotonic.now += 0.1
    with pytest.raises(UnauthorizedError):
        await tokens.authenticate(bearer(token))


async def test_a_revocation_by_another_process_is_seen_after_the_cache_window(
    db: Any, monotonic: FakeMonotonic
) -> None:
    server = service(db, cache_seconds=5)
    operator = service(db, cache_seconds=0)
    record, token = await operator.create("acme")
    assert (await server.authenticate(bearer(token))).org_id == "acme"

    assert await operator.revoke(record.id) is True
    monotonic.now += 1
    assert (await server.authenticate(bearer(token))).org_id == "acme"

    monotonic.now += 5
    with pytest.raises(UnauthorizedError):
        await server.authenticate(bearer(token))


async def test_an_unknown_token_registered_later_is_accepted_after_the_cache_window(
    db: Any, monotonic: FakeMonotonic
) -> None:
    server = service(db, cache_seconds=5)
    with pytest.raises(UnauthorizedError):
        await server.authenticate(bearer("later-registered-token"))

    await service(db).bootstrap("acme:later-registered-token")
    with pytest.raises(UnauthorizedError):
        await server.authenticate(bearer("later-registered-token"))

    monotonic.now += 5
    assert (await server.authenticate(bearer("later-registered-token"))).org_id == "acme"


async def test_revoke_is_false_for_an_unknown_or_already_revoked_token(db: Any) -> None:
    tokens = service(db)
    record, _ = await tokens.create("acme")

    assert await tokens.revoke("tok_unknown") is False
    assert await tokens.revoke(record.id) is True
    assert await tokens.revoke(record.id) is False


async def test_revoke_records_when(db: Any) -> None:
    tokens = service(db, clock=lambda: NOW)
    record, _ = await tokens.create("acme")

    await tokens.revoke(record.id)

    assert await tokens.list("acme") == [dataclasses.replace(record, revoked=NOW)]


async def test_bootstrap_registers_each_token_once_however_often_it_runs(db: Any) -> None:
    tokens = service(db)
    spec = "org1:tok12345678, org2:tok22345678"

    assert await tokens.bootstrap(spec) == ["org1", "org2"]
    assert await tokens.bootstrap(spec) == ["org1", "org2"]

    records = await tokens.list()
    assert [(r.org_id, r.name) for r in records] == [("org1", "bootstrap"), ("org2", "bootstrap")]
    assert await db[TOKENS_COLLECTION].count_documents({}) == 2
    assert (await tokens.authenticate(bearer("tok12345678"))).org_id == "org1"
    assert (await tokens.authenticate(bearer("tok22345678"))).org_id == "org2"


class InterleavingRepository(TokenRepository):
    """Yields to the event loop after each lookup, as a real driver does, so that writers interleave."""

    async def find_by_hash(self, token_hash: str) -> TokenRecord | None:
        record = await super().find_by_hash(token_hash)
        await asyncio.sleep(0)
        return record


async def test_concurrent_bootstraps_of_the_same_tokens_both_succeed(db: Any) -> None:
    # Several replicas starting at once with the same SCIM_BOOTSTRAP_TOKENS.
    first = TokenService(InterleavingRepository(db), cache_seconds=0)
    second = TokenService(InterleavingRepository(db), cache_seconds=0)
    spec = "org1:tok12345678,org2:tok22345678"

    results = await asyncio.gather(first.bootstrap(spec), second.bootstrap(spec))

    assert list(results) == [["org1", "org2"], ["org1", "org2"]]
    assert await db[TOKENS_COLLECTION].count_documents({}) == 2


async def test_concurrent_bootstraps_giving_one_token_to_two_organizations_fail_for_one(db: Any) -> None:
    first = TokenService(InterleavingRepository(db), cache_seconds=0)
    second = TokenService(InterleavingRepository(db), cache_seconds=0)

    results = await asyncio.gather(
        first.bootstrap("org1:tok12345678"), second.bootstrap("org2:tok12345678"), return_exceptions=True
    )

    assert results[0] == ["org1"]
    assert isinstance(results[1], TokenSpecError)
    assert str(results[1]) == "a bootstrap token is registered for another organization than 'org2'"


async def test_bootstrap_rejects_a_token_registered_to_another_organization(db: Any) -> None:
    tokens = service(db)
    await tokens.bootstrap("org1:tok12345678")

    with pytest.raises(TokenSpecError, match="registered for another organization than 'org2'"):
        await tokens.bootstrap("org2:tok12345678")
    with pytest.raises(TokenSpecError, match="registered for another organization than 'org3'"):
        await service(db).bootstrap("org3:shared-secret-1,org3:tok12345678")


@pytest.mark.parametrize("org_id", ["../x", "a.b", "$x", "", "a" * 65, "-lead", "a b", "ü"])
async def test_bootstrap_rejects_an_invalid_organization_id(db: Any, org_id: str) -> None:
    with pytest.raises(TokenSpecError):
        await service(db).bootstrap(f"{org_id}:tok12345678")

    assert await db[TOKENS_COLLECTION].count_documents({}) == 0


async def test_bootstrap_accepts_a_64_character_organization_id(db: Any) -> None:
    assert await service(db).bootstrap(f"{'a' * 64}:tok12345678") == ["a" * 64]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("org1:short", "the bootstrap token for 'org1' is shorter than 8 characters"),
        ("org1tok12345678", "SCIM_BOOTSTRAP_TOKENS entries must look like org:token"),
        ("org1:", "SCIM_BOOTSTRAP_TOKENS entries must look like org:token"),
        ("org1:tok12345678,org2", "SCIM_BOOTSTRAP_TOKENS entries must look like org:token"),
        ("../x:tok12345678", "organization id '../x' is invalid"),
    ],
)
async def test_a_malformed_bootstrap_spec_names_the_problem(db: Any, spec: str, message: str) -> None:
    with pytest.raises(TokenSpecError, match=re.escape(message)):
        await service(db).bootstrap(spec)

    # Nothing is registered from a spec that is wrong anywhere.
    assert await db[TOKENS_COLLECTION].count_documents({}) == 0


async def test_an_empty_bootstrap_spec_registers_nothing(db: Any) -> None:
    assert await service(db).bootstrap(" , ") == []


async def test_read_only_round_trips_to_the_principal_and_the_listing(db: Any) -> None:
    tokens = service(db)
    record, token = await tokens.create("acme", name="dashboard", read_only=True)

    assert record.read_only is True
    assert await tokens.authenticate(bearer(token)) == Principal("acme", record.id, "dashboard", True)
    assert [r.read_only for r in await tokens.list("acme")] == [True]


async def test_list_shows_records_without_secrets_filtered_by_organization(db: Any) -> None:
    tokens = service(db, clock=lambda: NOW)
    a, _ = await tokens.create("acme", name="okta")
    b, _ = await tokens.create("beta", name="entra", expires=NOW + timedelta(days=1))

    assert await tokens.list("acme") == [a]
    assert await tokens.list("beta") == [b]
    assert await tokens.list("nobody") == []
    assert await tokens.list() == [a, b]
    assert [f.name for f in dataclasses.fields(TokenRecord)] == [
        "id",
        "org_id",
        "name",
        "created",
        "expires",
        "revoked",
        "read_only",
        "last_used",
    ]


async def test_the_lookup_cache_is_bounded(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "_CACHE_LIMIT", 10)
    tokens = service(db, cache_seconds=60)
    record, token = await tokens.create("acme")

    for i in range(25):
        with pytest.raises(UnauthorizedError):
            await tokens.authenticate(bearer(f"unknown-token-{i:04d}"))
    await tokens.authenticate(bearer(token))

    assert len(tokens._cache) == 10
    *_, newest, _ = next(reversed(tokens._cache.values()))
    assert newest is not None and newest.id == record.id


async def test_the_lookup_cache_holds_neither_tokens_nor_their_stored_hashes(db: Any) -> None:
    tokens = service(db, cache_seconds=60)
    _, token = await tokens.create("acme")
    other = service(db, cache_seconds=60)

    await tokens.authenticate(bearer(token))
    await other.authenticate(bearer(token))

    [key] = tokens._cache
    assert isinstance(key, bytes) and len(key) == 32
    assert token.encode() not in key and key.hex() != hash_token(token)
    # The key is keyed per service (per process): the same token has another key elsewhere.
    assert list(other._cache) != [key]


# -- rotation ----------------------------------------------------------------------------------------


async def test_rotation_issues_a_successor_and_both_work_until_the_grace_period_ends(db: Any) -> None:
    clock = [NOW]
    tokens = service(db, clock=lambda: clock[0])
    old, old_token = await tokens.create("acme", name="entra", read_only=True)

    rotation = await tokens.rotate(old.id, grace=timedelta(hours=2))

    assert rotation is not None
    assert rotation.new == TokenRecord(
        id=rotation.new.id,
        org_id="acme",
        name="entra (rotated)",
        created=NOW,
        expires=None,
        revoked=None,
        read_only=True,
    )
    assert rotation.new.id != old.id and rotation.token != old_token
    assert rotation.old == dataclasses.replace(old, expires=NOW + timedelta(hours=2))
    assert await tokens.list("acme") == [rotation.old, rotation.new]
    assert await tokens.authenticate(bearer(old_token)) == Principal("acme", old.id, "entra", True)
    assert await tokens.authenticate(bearer(rotation.token)) == Principal(
        "acme", rotation.new.id, "entra (rotated)", True
    )

    clock[0] = NOW + timedelta(hours=2)
    with pytest.raises(UnauthorizedError):
        await tokens.authenticate(bearer(old_token))
    assert (await tokens.authenticate(bearer(rotation.token))).token_id == rotation.new.id


async def test_rotation_takes_a_name_and_an_expiry_for_the_new_token(db: Any) -> None:
    tokens = service(db, clock=lambda: NOW)
    old, _ = await tokens.create("acme", name="okta")

    rotation = await tokens.rotate(old.id, name="okta 2027", expires=NOW + timedelta(days=90))

    assert rotation is not None
    assert (rotation.new.name, rotation.new.expires, rotation.new.read_only) == (
        "okta 2027",
        NOW + timedelta(days=90),
        False,
    )
    # The default grace period is a day.
    assert rotation.old.expires == NOW + timedelta(hours=24)


async def test_rotating_a_rotated_token_does_not_repeat_the_suffix(db: Any) -> None:
    tokens = service(db, clock=lambda: NOW)
    for name, rotated in (("entra", "entra (rotated)"), ("", "(rotated)")):
        record, _ = await tokens.create("acme", name=name)
        first = await tokens.rotate(record.id)
        assert first is not None and first.new.name == rotated

        second = await tokens.rotate(first.new.id)

        assert second is not None and second.new.name == rotated


async def test_rotation_keeps_an_earlier_expiry_of_the_old_token(db: Any) -> None:
    tokens = service(db, clock=lambda: NOW)
    old, _ = await tokens.create("acme", expires=NOW + timedelta(hours=1))

    rotation = await tokens.rotate(old.id, grace=timedelta(hours=24))

    assert rotation is not None and rotation.old.expires == NOW + timedelta(hours=1)


async def test_a_zero_grace_period_ends_the_old_token_at_once(db: Any) -> None:
    tokens = service(db, clock=lambda: NOW)
    old, old_token = await tokens.create("acme")

    rotation = await tokens.rotate(old.id, grace=timedelta(0))

    assert rotation is not None and rotation.old.expires == NOW
    with pytest.raises(UnauthorizedError):
        await tokens.authenticate(bearer(old_token))


async def test_only_an_active_token_can_be_rotated(db: Any) -> None:
    clock = [NOW]
    tokens = service(db, clock=lambda: clock[0])
    revoked, _ = await tokens.create("acme")
    await tokens.revoke(revoked.id)
    expiring, _ = await tokens.create("acme", expires=NOW + timedelta(minutes=1))
    clock[0] = NOW + timedelta(minutes=1)

    assert await tokens.rotate("tok_unknown") is None
    assert await tokens.rotate(revoked.id) is None
    assert await tokens.rotate(expiring.id) is None
    assert len(await tokens.list("acme")) == 2


async def test_a_negative_grace_period_is_refused(db: Any) -> None:
    tokens = service(db)
    old, _ = await tokens.create("acme")

    with pytest.raises(TokenSpecError, match="grace period must not be negative"):
        await tokens.rotate(old.id, grace=timedelta(hours=-1))

    assert len(await tokens.list("acme")) == 1


# -- last-used times ----------------------------------------------------------------------------------


class CountingRepository(TokenRepository):
    """Counts lookups and last-used writes (one bulk write is one round trip, of one update a token)."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.lookups = 0
        self.flushes: list[dict[str, datetime]] = []
        self.fail_flush = False

    async def find_by_hash(self, token_hash: str) -> TokenRecord | None:
        self.lookups += 1
        return await super().find_by_hash(token_hash)

    async def record_last_used(self, times: Mapping[str, datetime]) -> None:
        if self.fail_flush:
            raise ServiceUnavailableError("the database is unavailable; retry later")
        self.flushes.append(dict(times))
        await super().record_last_used(times)


async def stored_last_used(db: Any, token_id: str) -> Any:
    doc = await db[TOKENS_COLLECTION].find_one({"_id": token_id})
    return doc.get("lastUsed")


async def test_many_authentications_cost_one_write_per_token_per_flush(
    db: Any, monotonic: FakeMonotonic
) -> None:
    clock = [NOW]
    repository = CountingRepository(db)
    tokens = TokenService(repository, cache_seconds=60, clock=lambda: clock[0])
    a, token_a = await tokens.create("acme", name="a")
    b, token_b = await tokens.create("acme", name="b")
    idle, _ = await tokens.create("acme", name="idle")

    start = monotonic.now
    for second in range(50):
        # Both clocks move; a cached lookup times a use by the monotonic one from the clock at its read.
        clock[0] = NOW + timedelta(seconds=second)
        monotonic.now = start + second
        await tokens.authenticate(bearer(token_a))
        if second < 10:
            await tokens.authenticate(bearer(token_b))
    assert repository.flushes == []  # nothing is written per request
    assert await stored_last_used(db, a.id) is None

    assert await tokens.flush_last_used() == 2

    assert repository.flushes == [{a.id: NOW + timedelta(seconds=49), b.id: NOW + timedelta(seconds=9)}]
    assert await stored_last_used(db, a.id) == NOW + timedelta(seconds=49)
    assert await stored_last_used(db, b.id) == NOW + timedelta(seconds=9)
    assert await stored_last_used(db, idle.id) is None
    assert [r.last_used for r in await tokens.list("acme")] == [
        NOW + timedelta(seconds=49),
        NOW + timedelta(seconds=9),
        None,
    ]

    # A flush with nothing new writes nothing.
    assert await tokens.flush_last_used() == 0
    assert len(repository.flushes) == 1


async def test_a_cached_use_is_timed_from_the_lookups_clock_to_the_millisecond(
    db: Any, monotonic: FakeMonotonic
) -> None:
    repository = CountingRepository(db)
    tokens = TokenService(repository, cache_seconds=60, clock=lambda: NOW)  # the clock read at lookups only
    record, token = await tokens.create("acme")
    await tokens.authenticate(bearer(token))
    monotonic.now += 1.2346

    await tokens.authenticate(bearer(token))
    await tokens.flush_last_used()

    assert repository.flushes == [{record.id: NOW + timedelta(seconds=1, milliseconds=234)}]


async def test_failed_authentications_record_no_use(db: Any) -> None:
    repository = CountingRepository(db)
    tokens = TokenService(repository, cache_seconds=0, clock=lambda: NOW)
    record, token = await tokens.create("acme")
    await tokens.revoke(record.id)

    for header in (None, "Bearer", bearer("unknown-token-value"), bearer(token)):
        with pytest.raises(UnauthorizedError):
            await tokens.authenticate(header)

    assert await tokens.flush_last_used() == 0
    assert repository.flushes == []


async def test_an_older_time_never_replaces_a_newer_one(db: Any) -> None:
    # Two server processes flush the same token; the slower one flushes an older time last.
    clock = [NOW + timedelta(minutes=5)]
    first = service(db, clock=lambda: clock[0])
    record, token = await first.create("acme")
    second = service(db, clock=lambda: clock[0])
    await first.authenticate(bearer(token))
    clock[0] = NOW
    await second.authenticate(bearer(token))

    await first.flush_last_used()
    await second.flush_last_used()

    assert await stored_last_used(db, record.id) == NOW + timedelta(minutes=5)


async def test_a_failed_flush_keeps_the_times_for_the_next_one(db: Any) -> None:
    clock = [NOW]
    repository = CountingRepository(db)
    tokens = TokenService(repository, cache_seconds=0, clock=lambda: clock[0])
    record, token = await tokens.create("acme")
    await tokens.authenticate(bearer(token))
    repository.fail_flush = True

    with pytest.raises(ServiceUnavailableError):
        await tokens.flush_last_used()

    clock[0] = NOW + timedelta(seconds=1)
    await tokens.authenticate(bearer(token))
    repository.fail_flush = False
    assert await tokens.flush_last_used() == 1
    assert repository.flushes == [{record.id: NOW + timedelta(seconds=1)}]


async def test_the_flushing_context_flushes_periodically_and_once_at_its_end(db: Any) -> None:
    clock = [NOW]
    repository = CountingRepository(db)
    tokens = TokenService(repository, cache_seconds=0, clock=lambda: clock[0])
    record, token = await tokens.create("acme")

    async with tokens.flushing_last_used(0.01):
        await tokens.authenticate(bearer(token))
        for _ in range(200):
            if repository.flushes:
                break
            await asyncio.sleep(0.01)
        assert await stored_last_used(db, record.id) == NOW
        clock[0] = NOW + timedelta(seconds=30)
        await tokens.authenticate(bearer(token))

    assert await stored_last_used(db, record.id) == NOW + timedelta(seconds=30)


async def test_a_failing_flush_in_the_background_is_logged_without_secrets(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    repository = CountingRepository(db)
    tokens = TokenService(repository, cache_seconds=0, clock=lambda: NOW)
    _, token = await tokens.create("acme")
    await tokens.authenticate(bearer(token))
    repository.fail_flush = True

    with caplog.at_level(logging.WARNING, logger="scim_server"):
        async with tokens.flushing_last_used(3600):
            pass

    assert [r.getMessage() for r in caplog.records] == [
        "token last-used times not recorded (retried at the next flush): "
        "the database is unavailable; retry later"
    ]
    assert token not in caplog.text and hash_token(token) not in caplog.text


# -- failure paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["missing", "empty", "malformed", "wrong scheme", "too long", "unknown", "revoked", "expired"]
)
async def test_every_failure_hashes_once_looks_up_once_and_reads_the_clock_once(
    db: Any, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    repository = CountingRepository(db)
    clock_reads: list[datetime] = []

    def clock() -> datetime:
        clock_reads.append(NOW)
        return NOW

    tokens = TokenService(repository, cache_seconds=0, clock=clock)
    revoked, revoked_token = await tokens.create("acme")
    await tokens.revoke(revoked.id)
    _, expired_token = await tokens.create("acme", expires=NOW)
    headers = {
        "missing": None,
        "empty": "",
        "malformed": "Bearer two words",
        "wrong scheme": "Basic dXNlcjpwYXNz",
        "too long": "Bearer " + "x" * 513,
        "unknown": bearer("scim_unknown-token-value"),
        "revoked": bearer(revoked_token),
        "expired": bearer(expired_token),
    }
    hashed: list[str] = []

    def counting_hash(token: str) -> str:
        hashed.append(token)
        return hash_token(token)

    monkeypatch.setattr(tokens_module, "hash_token", counting_hash)
    repository.lookups = 0
    clock_reads.clear()

    with pytest.raises(UnauthorizedError):
        await tokens.authenticate(headers[case])

    assert (len(hashed), repository.lookups, len(clock_reads)) == (1, 1, 1)


async def test_the_dummy_looked_up_for_a_malformed_token_never_authenticates(db: Any) -> None:
    tokens = service(db)
    # Even if the dummy were registered, a missing or malformed header stays a 401.
    await tokens.create("acme", secret=tokens_module._DUMMY_TOKEN)

    for header in (None, "", "Bearer", "Basic abc"):
        with pytest.raises(UnauthorizedError):
            await tokens.authenticate(header)


async def test_authentication_failures_log_nothing(db: Any, caplog: pytest.LogCaptureFixture) -> None:
    tokens = service(db)
    record, token = await tokens.create("acme")
    await tokens.revoke(record.id)

    with caplog.at_level(logging.DEBUG):
        for header in (None, "Bearer x y", bearer("unknown-token-value"), bearer(token)):
            with pytest.raises(UnauthorizedError):
                await tokens.authenticate(header)

    assert caplog.records == []


@given(st.lists(st.text(max_size=80), min_size=1, max_size=5), st.binary(min_size=1, max_size=64))
def test_the_cache_key_is_the_tokens_keyed_blake2b(tokens: list[str], secret: bytes) -> None:
    # Each key is made from a copy of one keyed hasher: the same as keying a hasher per token, and no
    # token's key depends on the tokens hashed before it.
    hasher = tokens_module._cache_hasher(secret)
    for token in tokens:
        encoded = token.encode("utf-8", "surrogatepass")
        expected = hashlib.blake2b(encoded, key=secret, digest_size=32).digest()
        assert tokens_module._cache_key(token, hasher) == expected
