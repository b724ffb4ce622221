"""Organization-scoped bearer tokens: issue, authenticate, list, rotate, revoke.

A token's plaintext is shown once, at creation; only its SHA-256 hash is stored. Lookups are cached
per process for ``token_cache_seconds``, which bounds how long a revoked or expired token can still be
accepted by a running server. An expiry is met to the moment: a cached lookup counts down to it on the
monotonic clock, so a request reads no clock, and only a step of the system clock can move it, by at
most that bound. The cache is keyed by a BLAKE2b digest of the token under a key random per process,
never by the token, so the process keeps no plaintext; BLAKE2b because a cache hit then needs no
SHA-256, the dearer hash.

When a token was last used is noted in memory on each successful authentication (the clock read with
its lookup plus the monotonic time since) and written by
:meth:`TokenService.flush_last_used`, at most one update per token per flush, so a busy IdP never
costs a database write per request.

Nothing here logs a token, its hash or an ``Authorization`` header; log lines name token ids only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from scim_server.errors import ScimError, UnauthorizedError
from scim_server.services.clock import Clock, utc_now
from scim_server.storage.repository import is_valid_org_id
from scim_server.storage.tokens import TokenRecord, TokenRepository

logger = logging.getLogger("scim_server.tokens")

TOKEN_PREFIX = "scim_"  # noqa: S105 (a public prefix that makes leaked tokens greppable, not a secret)
_CACHE_LIMIT = 10_000
_MAX_TOKEN_LENGTH = 512
_ROTATED_SUFFIX = "(rotated)"
# Hashed and looked up in place of a missing or malformed token, so that those failures do the same
# work as an unknown one. Random per process, so it can never be a registered token.
_DUMMY_TOKEN = TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenSpecError(ValueError):
    """A bootstrap token specification or token argument is malformed."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the organization and the token (never its secret)."""

    org_id: str
    token_id: str
    token_name: str
    read_only: bool = False


def hash_token(token: str) -> str:
    # aiohttp decodes header bytes that are not UTF-8 to lone surrogates; "surrogatepass" hashes those
    # too (to a hash no issued token has) instead of failing with a 500.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_bootstrap(spec: str) -> list[tuple[str, str]]:
    """``"org1:token1,org2:token2"`` -> [(org, token)]; organization ids are validated."""
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        org_id, sep, token = item.partition(":")
        if not sep or not token:
            raise TokenSpecError("SCIM_BOOTSTRAP_TOKENS entries must look like org:token")
        if not is_valid_org_id(org_id):
            raise TokenSpecError(
                f"organization id {org_id!r} is invalid: use 1-64 letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
        if len(token) < 8:
            raise TokenSpecError(f"the bootstrap token for {org_id!r} is shorter than 8 characters")
        pairs.append((org_id, token))
    return pairs


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of a rotation: the new token (plaintext shown once) and the old one, as now stored."""

    new: TokenRecord
    token: str
    old: TokenRecord


# A cached lookup: when it was read (monotonic), until when it answers (monotonic: the cache window, or
# the token's expiry when that comes first), the clock when it was read, the record, and the principal
# it authenticates as (None when the record is missing, revoked or expired).
_Cached = tuple[float, float, datetime, TokenRecord | None, Principal | None]

# A use of a token: the clock when its lookup was read, and the (monotonic) seconds since.
_Use = tuple[datetime, float]


def _used_at(use: _Use) -> datetime:
    """The time of a use, to the millisecond the store keeps."""
    read_wall, seconds = use
    when = read_wall + timedelta(seconds=seconds)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _cache_hasher(secret: bytes) -> hashlib.blake2b:
    """The lookup cache's keyed BLAKE2b, keyed once: each presented token is hashed by a copy of it
    (a copy skips the key's compression, which a keyed constructor makes on every call)."""
    return hashlib.blake2b(key=secret, digest_size=32)


def _cache_key(token: str, hasher: hashlib.blake2b) -> bytes:
    """The lookup cache's key for a presented token: BLAKE2b keyed with the process's secret."""
    digest = hasher.copy()
    digest.update(token.encode("utf-8", "surrogatepass"))
    return digest.digest()


class TokenService:
    def __init__(self, repository: TokenRepository, *, cache_seconds: float, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._cache_seconds = cache_seconds
        self._clock = clock
        # Keyed by _cache_key, with a secret made per service: never by the token or its stored hash.
        self._cache: OrderedDict[bytes, _Cached] = OrderedDict()
        self._cache_hasher = _cache_hasher(secrets.token_bytes(32))
        # token id -> when it was last accepted, since the last flush. Only tokens that authenticated
        # successfully get here, so it is bounded by the number of live tokens.
        self._last_used: dict[str, _Use] = {}

    async def create(
        self,
        org_id: str,
        *,
        name: str = "",
        expires: datetime | None = None,
        read_only: bool = False,
        secret: str | None = None,
    ) -> tuple[TokenRecord, str]:
        """Issue a token; returns the record and the plaintext, which is never shown again."""
        if not is_valid_org_id(org_id):
            raise TokenSpecError(f"organization id {org_id!r} is invalid")
        token = secret or new_token_secret()
        record = TokenRecord(
            id="tok_" + secrets.token_hex(8),
            org_id=org_id,
            name=name,
            created=self._clock(),
            expires=expires,
            revoked=None,
            read_only=read_only,
        )
        if not await self._repository.insert(record, hash_token(token)):
            raise TokenSpecError("that token is already registered")
        return record, token

    async def bootstrap(self, spec: str) -> list[str]:
        """Register tokens known in advance (idempotent); returns the organization ids."""
        orgs: list[str] = []
        for org_id, token in parse_bootstrap(spec):
            existing = await self._repository.find_by_hash(hash_token(token))
            if existing is None:
                try:
                    await self.create(org_id, name="bootstrap", secret=token)
                except TokenSpecError:
                    # Another replica starting with the same spec registered it since our read.
                    existing = await self._repository.find_by_hash(hash_token(token))
                    if existing is None:
                        raise
            if existing is not None and existing.org_id != org_id:
                raise TokenSpecError(
                    f"a bootstrap token is registered for another organization than {org_id!r}"
                )
            orgs.append(org_id)
        return orgs

    async def authenticate(self, authorization: str | None) -> Principal:
        """Resolve an ``Authorization`` header to a principal, or raise 401.

        Timing reveals nothing about registered tokens. The presented token is never compared in
        Python: its SHA-256 is looked up through the unique index, and an attacker cannot steer a
        hash's prefix, so index traversal time says nothing about any stored hash. And every failure
        (missing, malformed, unknown, revoked, expired) does the same work before answering: a
        missing or malformed token hashes and looks up a dummy in its place, and every outcome is
        decided only after the lookup (cached, or a read of the store and the clock, whatever the
        token turns out to be). The error details differ only in what
        the client itself sent (no header, a malformed one, or a well-formed token that is not
        accepted): unknown, revoked and expired tokens get one and the same answer.
        """
        problem: str | None = None
        token = ""
        if not authorization:
            problem = "authentication required: send Authorization: Bearer <token>"
        else:
            scheme, _, token = authorization.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or " " in token or len(token) > _MAX_TOKEN_LENGTH:
                problem = "malformed Authorization header: expected Bearer <token>"
        presented = _DUMMY_TOKEN if problem is not None else token
        key = _cache_key(presented, self._cache_hasher)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or now >= cached[1]:
            cached = await self._lookup(key, hash_token(presented))
            now = cached[0]
        read_at, _, read_wall, record, principal = cached
        if problem is not None:
            raise UnauthorizedError(problem)
        if record is None or principal is None:
            raise UnauthorizedError("the bearer token is invalid, expired or revoked")
        # The clock is read with the lookup, not per request; the monotonic time since gives the time
        # of this use (made into a datetime when flushed).
        self._last_used[record.id] = (read_wall, now - read_at)
        return principal

    async def _lookup(self, key: bytes, token_hash: str) -> _Cached:
        """Read a token by hash into the cache under ``key``, with the principal it stands for (made
        once) if it is usable now.

        The entry answers for ``cache_seconds`` of monotonic time from before the read, or until the
        token expires if that comes first (the seconds to its expiry by the clock read here), so a
        request needs no clock read of its own; a step of the system clock can move an expiry by at
        most ``cache_seconds``, the bound a revocation already has.
        """
        # Both clocks at one moment, before the read: the entry's window and the times of its uses
        # count from there.
        read_at = time.monotonic()
        read_wall = self._clock()
        record = await self._repository.find_by_hash(token_hash)
        until = read_at + self._cache_seconds
        principal = None
        if record is not None and record.is_usable(read_wall):
            principal = Principal(record.org_id, record.id, record.name, record.read_only)
            if record.expires is not None:
                until = min(until, read_at + (record.expires - read_wall).total_seconds())
        cached = self._cache[key] = (read_at, until, read_wall, record, principal)
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_LIMIT:
            self._cache.popitem(last=False)
        return cached

    async def list(self, org_id: str | None = None) -> list[TokenRecord]:
        return await self._repository.list(org_id)

    async def revoke(self, token_id: str) -> bool:
        return await self._repository.revoke(token_id, self._clock())

    async def rotate(
        self,
        token_id: str,
        *,
        grace: timedelta = timedelta(hours=24),
        name: str | None = None,
        expires: datetime | None = None,
    ) -> Rotation | None:
        """Issue a successor for an active token and let the old one expire after ``grace``.

        The new token belongs to the same organization and has the same read-only flag; its name
        defaults to the old one's plus " (rotated)". The old token then expires at now + ``grace``,
        unless it already expires sooner, so both work while the IdP is switched over. Returns None
        when no active (unrevoked, unexpired) token has that id.
        """
        if grace < timedelta(0):
            raise TokenSpecError("the grace period must not be negative")
        old = await self._repository.get(token_id)
        now = self._clock()
        if old is None or not old.is_usable(now):
            return None
        if name is None:
            # "entra" -> "entra (rotated)", and so it stays over later rotations.
            name = f"{old.name.removesuffix(_ROTATED_SUFFIX).rstrip()} {_ROTATED_SUFFIX}".strip()
        record, token = await self.create(old.org_id, name=name, expires=expires, read_only=old.read_only)
        await self._repository.expire_by(token_id, now + grace)
        return Rotation(record, token, await self._repository.get(token_id) or old)

    # -- last-used times -------------------------------------------------------------------------

    async def flush_last_used(self) -> int:
        """Write the last-used times noted since the previous flush; returns how many tokens.

        One update per token whatever the number of requests. On failure the times are kept for the
        next flush (the later of two times wins) and the error is raised.
        """
        if not self._last_used:
            return 0
        uses, self._last_used = self._last_used, {}
        pending = {token_id: _used_at(use) for token_id, use in uses.items()}
        try:
            await self._repository.record_last_used(pending)
        except BaseException:
            for token_id, use in uses.items():
                newer = self._last_used.get(token_id)
                if newer is None or _used_at(newer) < pending[token_id]:
                    self._last_used[token_id] = use
            raise
        return len(pending)

    async def _flush_quietly(self) -> None:
        try:
            await self.flush_last_used()
        except ScimError as error:
            logger.warning("token last-used times not recorded (retried at the next flush): %s", error.detail)
        except Exception:
            logger.exception("token last-used times not recorded (retried at the next flush)")

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._flush_quietly()

    @asynccontextmanager
    async def flushing_last_used(self, interval: float) -> AsyncIterator[None]:
        """Flush last-used times every ``interval`` seconds while the context runs, and once at its end."""
        task = asyncio.create_task(self._flush_every(interval), name="token-last-used-flush")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await self._flush_quietly()
