#!/usr/bin/env python3
"""The server's own time per request (``app`` in ``Server-Timing``), measured in-process.

    .venv/bin/python scripts/owntime.py                 # 100 users, 300 requests per kind
    .venv/bin/python scripts/owntime.py --users 100 --requests 300 --rounds 3

It builds the app on a fresh embedded store (as ``tests/conftest.py`` does), serves it with aiohttp's
test server on 127.0.0.1, seeds the users (every third one in a group), warms up, then sends each kind
of request one at a time and prints the median ``app`` and ``db`` microseconds against the targets of
issue 5 (the lowest median of ``--rounds`` rounds, since a busy machine only adds time). No network
beyond loopback; every loop is bounded by its request count.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer
from bench_load import user_body  # scripts/ is on the path when a script in it runs

from scim_server.app import create_app
from scim_server.settings import load_settings
from scim_server.storage.client import embedded_client

TOKEN = "owntime-token-0123456789"  # noqa: S105 (a throwaway token for an in-process server)
SCIM = "application/scim+json"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TIMING = re.compile(r"(\w+);dur=([0-9.]+)")
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": SCIM, "Accept": SCIM}

# Targets for the median own time, in microseconds.
TARGETS = {
    "GET /Users/{id}": 150,
    "userName eq": 150,
    "PATCH title": 250,
    "POST user": 250,
    "list 100": 1500,
}

Client = TestClient[Any, Any]


async def call(
    client: Client, method: str, path: str, expect: int, body: Any = None
) -> tuple[float, float, Any]:
    async with client.request(method, "/scim/v2" + path, json=body, headers=HEADERS) as response:
        data = await response.json(content_type=None) if response.status != 204 else None
        if response.status != expect:
            raise SystemExit(f"owntime: {method} {path} answered {response.status}: {data}")
        timing = dict(TIMING.findall(response.headers.get("Server-Timing", "")))
        return float(timing["app"]), float(timing["db"]), data


async def seed(client: Client, users: int) -> list[str]:
    ids = [(await call(client, "POST", "/Users", 201, user_body(n)))[2]["id"] for n in range(users)]
    group = (await call(client, "POST", "/Groups", 201, {"schemas": [GROUP_SCHEMA], "displayName": "G"}))[2]
    ops = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": u} for u in ids[::3]]}],
    }
    await call(client, "PATCH", f"/Groups/{group['id']}", 204, ops)
    return ids


Timed = tuple[float, float, Any]


def kinds(ids: list[str], rng: random.Random) -> dict[str, Callable[[Client], Awaitable[Timed]]]:
    counter = iter(range(10**9))

    def get_user(c: Client) -> Awaitable[tuple[float, float, Any]]:
        return call(c, "GET", f"/Users/{rng.choice(ids)}", 200)

    def username_eq(c: Client) -> Awaitable[tuple[float, float, Any]]:
        n = rng.randrange(len(ids))
        return call(c, "GET", f'/Users?filter=userName eq "USER{n}@example.com"', 200)

    def patch_title(c: Client) -> Awaitable[tuple[float, float, Any]]:
        body = {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "title", "value": f"Title {rng.randrange(10**6)}"}],
        }
        return call(c, "PATCH", f"/Users/{rng.choice(ids)}", 200, body)

    def post_user(c: Client) -> Awaitable[tuple[float, float, Any]]:
        return call(c, "POST", "/Users", 201, user_body(next(counter), "new"))

    def list_page(c: Client) -> Awaitable[tuple[float, float, Any]]:
        return call(c, "GET", "/Users?startIndex=1&count=100", 200)

    return {
        "GET /Users/{id}": get_user,
        "userName eq": username_eq,
        "PATCH title": patch_title,
        "POST user": post_user,
        "list 100": list_page,
    }


async def main(users: int, requests: int, warmup: int, rounds: int) -> int:
    # The rate limiter stays on (its cost is own time) with a rate no sequential loop reaches.
    settings = load_settings(
        environ={},
        bootstrap_tokens=f"owntime:{TOKEN}",
        base_url="https://scim.test",
        rate_limit_per_second=1_000_000,
        rate_limit_burst=1_000_000,
    )
    app = create_app(settings, db=embedded_client()["scim"], announce=lambda _: None)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        ids = await seed(client, users)
        rng = random.Random(5)  # noqa: S311 (request variety, not security)
        print(f"{'request':<18} {'app µs':>8} {'db µs':>8} {'target':>8}  met")
        missed = 0
        for name, send in kinds(ids, rng).items():
            for _ in range(warmup):
                await send(client)
            # The lowest median of a few rounds: a busy machine only ever adds time.
            medians: list[tuple[float, float]] = []
            for _ in range(rounds):
                apps, dbs = [], []
                for _ in range(requests):
                    app_ms, db_ms, _ = await send(client)
                    apps.append(app_ms)
                    dbs.append(db_ms)
                medians.append((statistics.median(apps) * 1000, statistics.median(dbs) * 1000))
            app_us, db_us = min(medians)
            met = app_us <= TARGETS[name]
            missed += not met
            print(f"{name:<18} {app_us:>8.0f} {db_us:>8.0f} {TARGETS[name]:>8}  {'yes' if met else 'NO'}")
        print(f"targets met: {len(TARGETS) - missed} of {len(TARGETS)}")
    finally:
        await client.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="report the lowest of this many medians")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.users, args.requests, args.warmup, args.rounds)))
