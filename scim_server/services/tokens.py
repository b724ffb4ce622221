"""Organization-scoped bearer tokens: issue, authenticate, list, revoke.

A token's plaintext is shown once, at creation; only its SHA-256 hash is stored. Lookups are cached
per process for ``token_cache_seconds`` (a few seconds), which bounds how long a revoked or expired
token can still be accepted by a running server.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from scim_server.errors import UnauthorizedError
from scim_server.services.clock import Clock, utc_now
from scim_server.storage.repository import is_valid_org_id
from scim_server.storage.tokens import TokenRecord, TokenRepository

TOKEN_PREFIX = "scim_"  # noqa: S105 (a public prefix that makes leaked tokens greppable, not a secret)
_CACHE_LIMIT = 10_000


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
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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


class TokenService:
    def __init__(self, repository: TokenRepository, *, cache_seconds: float, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, TokenRecord | None]] = OrderedDict()

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
        """Resolve an ``Authorization`` header to a principal, or raise 401."""
        if not authorization:
            raise UnauthorizedError("authentication required: send Authorization: Bearer <token>")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token or len(token) > 512:
            raise UnauthorizedError("malformed Authorization header: expected Bearer <token>")
        record = await self._lookup(hash_token(token))
        if record is None or not record.is_usable(self._clock()):
            raise UnauthorizedError("the bearer token is invalid, expired or revoked")
        return Principal(record.org_id, record.id, record.name, record.read_only)

    async def _lookup(self, token_hash: str) -> TokenRecord | None:
        now = time.monotonic()
        cached = self._cache.get(token_hash)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        record = await self._repository.find_by_hash(token_hash)
        self._cache[token_hash] = (now, record)
        self._cache.move_to_end(token_hash)
        while len(self._cache) > _CACHE_LIMIT:
            self._cache.popitem(last=False)
        return record

    async def list(self, org_id: str | None = None) -> list[TokenRecord]:
        return await self._repository.list(org_id)

    async def revoke(self, token_id: str) -> bool:
        return await self._repository.revoke(token_id, self._clock())
