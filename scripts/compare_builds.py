#!/usr/bin/env python3
"""Compare the server's own time per request between two checkouts, under the same machine conditions.

    git worktree add /tmp/before <commit>
    .venv/bin/python scripts/compare_builds.py /tmp/before .            # 100 users
    USERS=1000 KINDS=probe,PATCH .venv/bin/python scripts/compare_builds.py /tmp/before .

This machine's speed drifts by half or more over minutes, so two ``scripts/bench`` runs cannot tell a 10%
change from noise. Here both checkouts' servers (``python -m scim_server serve`` from each directory, on
the embedded store) run at once, pinned to core 0, and one client on core 1 sends the same requests to
them alternately (in A B B A order), one at a time; every request of one is next in time to one of the
other. It prints the median own time (``Server-Timing`` ``app``) of each and the change. Two servers on
one core evict each other's code from the CPU caches, so both medians are higher than in ``scripts/bench``;
only their ratio is the measurement.

Both servers get the same users (every fifth one in each of five groups) and the same random requests.
Everything is on 127.0.0.1; both servers are stopped at the end, also on errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from bench_load import free_port, user_body  # scripts/ is on the path when a script in it runs

TOKEN = "compare-token-0123456789"  # noqa: S105 (a throwaway token for loopback servers)
SCIM = "application/scim+json"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
TIMING = re.compile(r"(\w+);dur=([0-9.]+)")
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": SCIM, "Accept": SCIM}
SERVER_CORE, CLIENT_CORE = 0, 1


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def servers(checkouts: list[Path]) -> Iterator[list[str]]:
    """Start one server per checkout (its own ``scim_server`` package), yield their base URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    env.update(
        SCIM_BOOTSTRAP_TOKENS=f"compare:{TOKEN}", SCIM_LOG_LEVEL="WARNING", SCIM_RATE_LIMIT_PER_SECOND="0"
    )
    processes: list[subprocess.Popen[bytes]] = []
    bases = []
    try:
        for checkout in checkouts:
            port = free_port()
            processes.append(
                subprocess.Popen(  # noqa: S603 (our own interpreter and package, no shell)
                    [sys.executable, "-m", "scim_server", "serve", "--port", str(port)],
                    cwd=checkout,
                    env={**env, "PYTHONPATH": str(checkout)},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=lambda: _pin(SERVER_CORE),
                )
            )
            bases.append(f"http://127.0.0.1:{port}/scim/v2")
        yield bases
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


async def call(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[float, Any]:
    async with session.request(method, url, json=body, headers=HEADERS) as response:
        data = await response.json(content_type=None) if response.status != 204 else None
        if response.status >= 300:
            raise SystemExit(f"compare_builds: {method} {url} answered {response.status}: {data}")
        timing = dict(TIMING.findall(response.headers.get("Server-Timing", "")))
        return float(timing["app"]) * 1000, data


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(300):
        try:
            async with session.get(base.removesuffix("/scim/v2") + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"compare_builds: nothing answers at {base} after 30 s")


async def seed(session: aiohttp.ClientSession, base: str, users: int) -> list[str]:
    ids = [(await call(session, "POST", f"{base}/Users", user_body(n)))[1]["id"] for n in range(users)]
    for g in range(5):
        body = {"schemas": [GROUP_SCHEMA], "displayName": f"Group {g}"}
        group = (await call(session, "POST", f"{base}/Groups", body))[1]["id"]
        add = [{"op": "add", "path": "members", "value": [{"value": u} for u in ids[g::5]]}]
        await call(session, "PATCH", f"{base}/Groups/{group}", {"schemas": [PATCH_SCHEMA], "Operations": add})
    return ids


Send = Callable[[random.Random], Awaitable[tuple[float, Any]]]


def requests(session: aiohttp.ClientSession, base: str, ids: list[str]) -> dict[str, Send]:
    created = iter(range(10**9))
    users = len(ids)

    def patch(rng: random.Random) -> Awaitable[tuple[float, Any]]:
        ops = [{"op": "replace", "path": "title", "value": f"Title {rng.randrange(10**6)}"}]
        body = {"schemas": [PATCH_SCHEMA], "Operations": ops}
        return call(session, "PATCH", f"{base}/Users/{rng.choice(ids)}", body)

    return {
        "GET": lambda rng: call(session, "GET", f"{base}/Users/{rng.choice(ids)}"),
        "probe": lambda rng: call(
            session, "GET", f'{base}/Users?filter=userName eq "user{rng.randrange(users)}@example.com"'
        ),
        "PATCH": patch,
        "POST": lambda rng: call(session, "POST", f"{base}/Users", user_body(next(created), "new")),
        "list": lambda rng: call(session, "GET", f"{base}/Users?startIndex=1&count=100"),
    }


async def compare(checkouts: list[Path], users: int, count: int, kinds: list[str]) -> None:
    _pin(CLIENT_CORE)
    async with aiohttp.ClientSession() as session:
        with servers(checkouts) as bases:
            for base in bases:
                await wait_ready(session, base)
            sends = [requests(session, base, await seed(session, base, users)) for base in bases]
            names = [str(checkout) for checkout in checkouts]
            for kind in kinds:
                n = count if kind != "list" else max(50, count // 10)
                rngs = [random.Random(7), random.Random(7)]  # noqa: S311 (request shapes, not secrets)
                for j in range(20):  # warm-up, not counted
                    await sends[j % 2][kind](rngs[j % 2])
                times: list[list[float]] = [[], []]
                for j in range(2 * n):
                    which = j % 2 if (j // 2) % 2 == 0 else 1 - j % 2  # A B B A A B B A ...
                    own, _ = await sends[which][kind](rngs[which])
                    times[which].append(own)
                before, after = statistics.median(times[0]), statistics.median(times[1])
                print(
                    f"{kind:<6} {names[0]}: {before:7.0f} µs   {names[1]}: {after:7.0f} µs   "
                    f"change {100 * (after - before) / before:+.0f}%",
                    flush=True,
                )


def main() -> int:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    checkouts = [Path(arg).resolve() for arg in sys.argv[1:3]]
    for checkout in checkouts:
        if not (checkout / "scim_server" / "__init__.py").is_file():
            raise SystemExit(f"compare_builds: {checkout} is not a checkout of this project")
    users = int(os.environ.get("USERS", "100"))
    count = int(os.environ.get("N", "1000"))
    kinds = os.environ.get("KINDS", "GET,probe,PATCH,POST,list").split(",")
    unknown = set(kinds) - {"GET", "probe", "PATCH", "POST", "list"}
    if unknown or users < 1 or count < 1:
        raise SystemExit(f"compare_builds: USERS and N must be positive; unknown KINDS {sorted(unknown)}")
    asyncio.run(compare(checkouts, users, count, kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
