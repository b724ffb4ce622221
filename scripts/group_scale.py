#!/usr/bin/env python3
"""Build a large group on the embedded store through PATCH batches and print how it scales.

    .venv/bin/python scripts/group_scale.py                 # 20,000 members in batches of 1,000
    .venv/bin/python scripts/group_scale.py --members 5000 --batch 500

The server runs in this process on a loopback port, on a fresh embedded (mongomock) store. Users are
seeded straight into the store (the point is the group, and mongomock's unique-index inserts are
slow), then the members are added over HTTP with Entra-style PATCHes. For every batch it prints the
PATCH time, the time of `GET /Groups/{id}?excludedAttributes=members` (Entra's probe) and the size of
the group document; at the end, the largest stored document in the organization.

What to expect: a batch inserts one small pair document per new member, so its cost does not grow
with the group. On mongomock the batch is dominated by checking that the 1,000 members exist (an
`_id $in` query, which mongomock answers by scanning every user), so it depends on how many users
the store holds; on MongoDB that is an index lookup. No document grows with the group.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from scim_server.storage.client import embedded_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scim_server.app import create_app
from scim_server.schema.catalog import USER_RESOURCE_TYPE
from scim_server.settings import load_settings
from scim_server.storage.documents import to_document
from scim_server.storage.repository import Store

TOKEN = "group-scale-token-0123456789"  # noqa: S105 (a throwaway token for an in-process store)  # noqa: S105 (a throwaway token for an in-process store)
ORG = "scale"
SCIM = "application/scim+json"


async def seed_users(db: Any, count: int) -> list[str]:
    """Insert users directly, in the server's own document layout, then create the server's indexes.

    Indexing after the inserts keeps seeding linear: mongomock checks a unique index on every insert
    by scanning the collection.
    """
    collection = db[f"org_{ORG}_users"]
    now = datetime.now(UTC).replace(microsecond=0)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for start in range(0, count, 1000):
        docs = [
            to_document(
                {"userName": f"member{i:06d}@scale.test", "active": True},
                USER_RESOURCE_TYPE,
                id=ids[i],
                created=now,
                last_modified=now,
                version=1,
            )
            for i in range(start, min(start + 1000, count))
        ]
        await collection.insert_many(docs)
    await Store(db).users(ORG)  # ensures the indexes, as the server does on first use
    return ids


async def largest_document(db: Any) -> tuple[int, str]:
    largest = (0, "")
    for name in (f"org_{ORG}_users", f"org_{ORG}_groups", f"org_{ORG}_memberships"):
        async for doc in db[name].find({}):
            size = len(bson.encode(doc))
            if size > largest[0]:
                largest = (size, name)
    return largest


async def run(members: int, batch: int, full_get: bool) -> None:
    db = embedded_client()["scim"]
    settings = load_settings(environ={}, bootstrap_tokens=f"{ORG}:{TOKEN}", max_patch_operations=1000)
    app = create_app(settings, db=db, announce=lambda _: None)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": SCIM, "Accept": SCIM}
    started = time.perf_counter()
    user_ids = await seed_users(db, members)
    print(f"seeded {members:,} users in {time.perf_counter() - started:.1f} s")
    async with TestServer(app) as server, ClientSession(headers=headers) as http:
        base = str(server.make_url("/scim/v2"))
        async with http.post(f"{base}/Groups", json={"displayName": "Scale"}) as response:
            assert response.status == 201, await response.text()
            group_id = (await response.json())["id"]
        print(f"{'batch':>5} {'members':>8} {'PATCH s':>8} {'GET excl. ms':>13} {'group doc B':>12}")
        patch_times: list[float] = []
        probe_times: list[float] = []
        for number, start in enumerate(range(0, members, batch), 1):
            chunk = user_ids[start : start + batch]
            body = {"Operations": [{"op": "Add", "path": "members", "value": [{"value": u} for u in chunk]}]}
            t0 = time.perf_counter()
            async with http.patch(f"{base}/Groups/{group_id}", json=body) as response:
                assert response.status == 204, await response.text()
            patch_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            async with http.get(f"{base}/Groups/{group_id}?excludedAttributes=members") as response:
                assert response.status == 200 and "members" not in await response.json()
            probe_times.append(time.perf_counter() - t0)
            group_doc = await db[f"org_{ORG}_groups"].find_one({"_id": group_id})
            print(
                f"{number:>5} {start + len(chunk):>8,} {patch_times[-1]:>8.2f} "
                f"{probe_times[-1] * 1000:>13.1f} {len(bson.encode(group_doc)):>12,}"
            )
        filter_url = f'{base}/Groups?excludedAttributes=members&filter=members.value eq "{user_ids[-1]}"'
        t0 = time.perf_counter()
        async with http.get(filter_url) as response:
            found = (await response.json())["totalResults"]
        filter_ms = (time.perf_counter() - t0) * 1000
        full = ""
        if full_get:
            t0 = time.perf_counter()
            async with http.get(f"{base}/Groups/{group_id}") as response:
                listed = len((await response.json())["members"])
            full = f"; full GET with {listed:,} members: {time.perf_counter() - t0:.2f} s"
    size, where = await largest_document(db)
    first, last = patch_times[: max(1, len(patch_times) // 4)], patch_times[-max(1, len(patch_times) // 4) :]
    print()
    print(
        f"PATCH per batch of {batch:,}: median {statistics.median(patch_times):.2f} s, "
        f"first quarter {statistics.mean(first):.2f} s, last quarter {statistics.mean(last):.2f} s"
    )
    print(
        "GET /Groups/{id}?excludedAttributes=members: "
        f"median {statistics.median(probe_times) * 1000:.1f} ms, max {max(probe_times) * 1000:.1f} ms"
    )
    print(f"members.value eq filter: {found} group in {filter_ms:.1f} ms{full}")
    print(f"largest stored document: {size:,} bytes (in {where})")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument(
        "--full-get",
        action="store_true",
        help="also time GET /Groups/{id} with every member (slow on mongomock: it resolves each member)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.members, args.batch, args.full_get))
    return 0


if __name__ == "__main__":
    sys.exit(main())
