"""The token collection: bearer tokens stored only as SHA-256 hashes.

Tokens are 256-bit random secrets, so a fast hash is enough (no password-style stretching is needed)
and lookups go by hash through a unique index: the plaintext is never stored, logged or compared.
The hash is never logged either, nor returned by this module: records carry everything but it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne

from scim_server.errors import UniquenessError
from scim_server.storage.repository import driver_errors

TOKENS_COLLECTION = "tokens"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token, without its secret."""

    id: str
    org_id: str
    name: str
    created: datetime
    expires: datetime | None
    revoked: datetime | None
    read_only: bool = False
    # When a server last accepted the token, as of its last flush (None: never, or not flushed yet).
    last_used: datetime | None = None

    def is_usable(self, now: datetime) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > now)


def _record(doc: Mapping[str, Any]) -> TokenRecord:
    return TokenRecord(
        id=doc["_id"],
        org_id=doc["org"],
        name=doc.get("name", ""),
        created=doc["created"],
        expires=doc.get("expires"),
        revoked=doc.get("revoked"),
        read_only=bool(doc.get("readOnly", False)),
        last_used=doc.get("lastUsed"),
    )


class TokenRepository:
    def __init__(self, db: Any) -> None:
        self._collection = db[TOKENS_COLLECTION]
        self._indexed = False

    async def ensure_indexes(self) -> None:
        if self._indexed:
            return
        with driver_errors():
            await self._collection.create_index([("hash", ASCENDING)], name="hash", unique=True)
            await self._collection.create_index([("org", ASCENDING)], name="org")
        self._indexed = True

    async def insert(self, record: TokenRecord, token_hash: str) -> bool:
        """Store a token; False when a token with the same hash already exists."""
        await self.ensure_indexes()
        doc = {
            "_id": record.id,
            "hash": token_hash,
            "org": record.org_id,
            "name": record.name,
            "created": record.created,
            "expires": record.expires,
            "revoked": record.revoked,
            "readOnly": record.read_only,
        }
        try:
            with driver_errors():
                await self._collection.insert_one(doc)
        except UniquenessError:
            return False
        return True

    async def get(self, token_id: str) -> TokenRecord | None:
        with driver_errors():
            doc = await self._collection.find_one({"_id": token_id})
        return None if doc is None else _record(doc)

    async def find_by_hash(self, token_hash: str) -> TokenRecord | None:
        with driver_errors():
            doc = await self._collection.find_one({"hash": token_hash})
        return None if doc is None else _record(doc)

    async def list(self, org_id: str | None = None) -> list[TokenRecord]:
        query: dict[str, Any] = {} if org_id is None else {"org": org_id}
        with driver_errors():
            docs = await self._collection.find(query).sort([("org", 1), ("created", 1)]).to_list(length=None)
        return [_record(doc) for doc in docs]

    async def revoke(self, token_id: str, when: datetime) -> bool:
        with driver_errors():
            result = await self._collection.update_one(
                {"_id": token_id, "revoked": None}, {"$set": {"revoked": when}}
            )
        return bool(result.matched_count)

    async def expire_by(self, token_id: str, when: datetime) -> bool:
        """Make an unrevoked token expire at ``when`` unless it already expires sooner; True if changed."""
        with driver_errors():
            result = await self._collection.update_one(
                {"_id": token_id, "revoked": None, "$or": [{"expires": None}, {"expires": {"$gt": when}}]},
                {"$set": {"expires": when}},
            )
        return bool(result.modified_count)

    async def record_last_used(self, times: Mapping[str, datetime]) -> None:
        """Store last-used times, one update per token in one round trip.

        ``$max`` keeps the latest time when several server processes flush the same token.
        """
        if not times:
            return
        updates = [
            UpdateOne({"_id": tid}, {"$max": {"lastUsed": when}}) for tid, when in sorted(times.items())
        ]
        with driver_errors():
            await self._collection.bulk_write(updates, ordered=False)
