"""Secrets the server keeps in its database, shared by every worker process and kept across restarts.

One document per secret in ``server_secrets``, created once: the first process to ask stores a new
random value, every later one (any worker, any restart) reads that value. Used for the key of paging
cursors when no ``cursor_secret`` is configured (``services/cursors.py``). On the embedded store the
secret lives and dies with the process, as everything else there does.
"""

from __future__ import annotations

import secrets
from typing import Any

from pymongo import ReturnDocument

from scim_server.errors import UniquenessError
from scim_server.storage.repository import driver_errors

SECRETS_COLLECTION = "server_secrets"


async def shared_secret(db: Any, name: str) -> bytes:
    """The secret ``name``: read, or created with 32 random bytes when no process has made it yet.

    Two processes creating it at once both upsert; MongoDB lets one insert and the other either
    match it or fail on the duplicate ``_id``, after which it reads the winner's value.
    """
    collection = db[SECRETS_COLLECTION]
    candidate = secrets.token_hex(32)
    try:
        with driver_errors():
            document = await collection.find_one_and_update(
                {"_id": name},
                {"$setOnInsert": {"value": candidate}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
    except UniquenessError:
        with driver_errors():
            document = await collection.find_one({"_id": name})
    if document is None or not isinstance(document.get("value"), str):
        raise RuntimeError(f"the stored secret {name!r} is missing or malformed")
    return bytes.fromhex(document["value"])


__all__ = ["SECRETS_COLLECTION", "shared_secret"]
