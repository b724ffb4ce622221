#!/usr/bin/env python3
"""Load benchmark of the SCIM server on the embedded store, against a bare aiohttp reference.

    scripts/bench                                   # 1,000 users, 5 s per phase, 8 concurrent requests
    scripts/bench --users 100 --seconds 3 --concurrency 4
    scripts/bench --mongodb-uri mongodb://127.0.0.1:27017 --workers 2   # against a MongoDB-wire server

It starts ``python -m scim_server serve`` (embedded store, a bootstrap token) pinned to CPU core 0 and
``scripts/bench_reference.py`` (one fixed ~600-byte user for every request) pinned to core 0 as well,
one after the other; this process, the load generator (aiohttp client, asyncio), is pinned to core 1.
It seeds the users and some groups through the API, then runs each phase for a fixed time with a fixed
number of concurrent requests, ``--rounds`` times in passes over the phases (so each is sampled across
the run; what a round added, POST's users and the member phase's memberships, is undone after it,
untimed, so every phase runs against the seeded users and groups), and prints, for
the round of each phase with the lowest median own time: requests/s, p50 and p99 latency, errors, the
server's RSS after the phase, its CPU time per request (user and system, from /proc), its own time
per request (median of ``app`` in the ``Server-Timing`` header, i.e. total minus storage) and the
median storage time, and the ratio of requests/s and p50 to the reference server measured the same
way (GET, same concurrency and time).

With ``--mongodb-uri`` the server stores into a fresh database on that server instead (``--workers K``
runs ``serve --workers K``, all workers on core 0; RSS is then the sum over the processes).

All traffic goes to 127.0.0.1; every loop is bounded by the phase's deadline; both server processes
are killed at the end, also on errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
ORG = "bench"
TOKEN = "bench-token-0123456789"  # noqa: S105 (a throwaway token for a loopback server)
SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SERVER_CORE, CLIENT_CORE = 0, 1
STARTUP_SECONDS = 30.0
TIMING = re.compile(r"(\w+);dur=([0-9.]+)")

Send = Callable[[aiohttp.ClientSession, random.Random], Awaitable["Sample"]]


@dataclass(frozen=True, slots=True)
class Sample:
    ok: bool
    app_ms: float | None = None
    db_ms: float | None = None


@dataclass
class Result:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    app_ms: list[float] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)
    rss_kib: int | None = None
    cpu_seconds: float | None = None  # the server's CPU time (user and system) during the phase

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float | None:
        """The server's CPU time per request: all it did for it, aiohttp, the kernel and storage included."""
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- processes -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(pid: int, core: int) -> None:
    """Pin a process (0: this one) to one core, when the machine has it."""
    if hasattr(os, "sched_setaffinity") and core in os.sched_getaffinity(0) | set(range(os.cpu_count() or 1)):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {core})


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own interpreter and modules, no shell)
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: pin(0, SERVER_CORE),
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) of a process and its children so far, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # The fields after the command name (which may hold spaces) start at the third field.
            fields = stat.read().rpartition(")")[2].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            for child in children.read().split():
                total += cpu_seconds(int(child)) or 0.0
    except (OSError, ValueError, IndexError):
        return None
    return total


def rss_kib(pid: int) -> int | None:
    """The resident memory of a process and its children (the workers of ``serve --workers K``)."""
    total = None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total = int(line.split()[1])
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            for child in children.read().split():
                total = (total or 0) + (rss_kib(int(child)) or 0)
    except OSError:
        return total
    return total


@contextlib.contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            stop(process)


async def wait_listening(session: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            async with session.get(url) as response:
                await response.read()
                return
        except aiohttp.ClientConnectionError:
            if process.poll() is not None:
                err = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
                raise SystemExit(f"bench: the server exited with {process.returncode}:\n{err}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: nothing listens on {url} after {STARTUP_SECONDS:g} s") from None
            await asyncio.sleep(0.1)


# -- requests ------------------------------------------------------------------------------------------


def server_timing(headers: Any) -> tuple[float | None, float | None]:
    values = dict(TIMING.findall(headers.get("Server-Timing", "")))
    app, db = values.get("app"), values.get("db")
    return (float(app) if app else None, float(db) if db else None)


async def call(
    session: aiohttp.ClientSession, method: str, url: str, expect: int, body: Any = None
) -> tuple[Sample, Any]:
    async with session.request(method, url, json=body) as response:
        raw = await response.read()
        app, db = server_timing(response.headers)
        ok = response.status == expect
        data = None
        if ok and raw and response.content_type == SCIM:
            data = await response.json(content_type=None)
        return Sample(ok, app, db), data


@dataclass
class Fixture:
    """What the seeding created (user ids, group ids; user ``i`` is in group ``i % len(groups)``), a
    counter for new user names, and what the phases have added since ``restore`` last ran: the users
    POST created, and by worker the (group, user) membership added and not yet removed."""

    base: str
    users: list[str]
    groups: list[str]
    counter: Iterator[int] = field(default_factory=itertools.count)
    created: list[str] = field(default_factory=list)
    added: dict[int, tuple[str, str]] = field(default_factory=dict)


def member_patch(op: str, user_id: str) -> dict[str, Any]:
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": op, "path": "members", "value": [{"value": user_id}]}],
    }


async def restore(session: aiohttp.ClientSession, fx: Fixture, concurrency: int) -> None:
    """Undo what a phase added (untimed): delete the users POST created and remove the memberships
    the member phase added, so that every phase runs against the seeded users and groups."""
    jobs: list[tuple[str, str, dict[str, Any] | None]]
    jobs = [("DELETE", f"{fx.base}/Users/{user_id}", None) for user_id in fx.created]
    jobs += [("PATCH", f"{fx.base}/Groups/{g}", member_patch("remove", u)) for g, u in fx.added.values()]
    fx.created.clear()
    fx.added.clear()
    pending = iter(jobs)

    async def undo() -> None:
        for method, url, body in pending:
            sample, _ = await call(session, method, url, 204, body)
            if not sample.ok:
                raise SystemExit(f"bench: undoing a phase's write failed: {method} {url}")

    await asyncio.gather(*(undo() for _ in range(concurrency)))


def user_body(n: int, prefix: str = "user") -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": f"{prefix}{n}@example.com",
        "externalId": f"ext-{prefix}-{n}",
        "name": {"givenName": f"Given{n}", "familyName": f"Family{n}"},
        "displayName": f"User {n}",
        "title": "Engineer",
        "active": True,
        "emails": [
            {"value": f"{prefix}{n}@example.com", "type": "work", "primary": True},
            {"value": f"{prefix}{n}@home.example.org", "type": "home"},
        ],
    }


async def seed(
    session: aiohttp.ClientSession, base: str, users: int, groups: int, concurrency: int
) -> Fixture:
    user_ids: list[str] = []
    numbers = iter(range(users))

    async def create_users() -> None:
        for n in numbers:
            _, data = await call(session, "POST", f"{base}/Users", 201, user_body(n))
            if data is None:
                raise SystemExit(f"bench: seeding user {n} failed")
            user_ids.append(data["id"])

    await asyncio.gather(*(create_users() for _ in range(concurrency)))
    group_ids: list[str] = []
    for g in range(groups):
        body = {"schemas": [GROUP_SCHEMA], "displayName": f"Group {g}"}
        _, data = await call(session, "POST", f"{base}/Groups", 201, body)
        if data is None:
            raise SystemExit(f"bench: seeding group {g} failed")
        group_ids.append(data["id"])
    # Every user in one group, added in Entra-sized batches.
    for g, group_id in enumerate(group_ids):
        members = user_ids[g::groups]
        for startat in range(0, len(members), 100):
            ops = {
                "schemas": [PATCH_SCHEMA],
                "Operations": [
                    {
                        "op": "add",
                        "path": "members",
                        "value": [{"value": m} for m in members[startat : startat + 100]],
                    }
                ],
            }
            sample, _ = await call(session, "PATCH", f"{base}/Groups/{group_id}", 204, ops)
            if not sample.ok:
                raise SystemExit("bench: seeding group members failed")
    return Fixture(base, user_ids, group_ids)


def phases(fx: Fixture) -> list[tuple[str, Send]]:
    base = fx.base

    async def get_user(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        return (await call(s, "GET", f"{base}/Users/{r.choice(fx.users)}", 200))[0]

    async def username_eq(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        n = r.randrange(len(fx.users))
        url = f'{base}/Users?filter=userName eq "USER{n}@example.com"'
        return (await call(s, "GET", url, 200))[0]

    async def list_page(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        start = 1 + 100 * r.randrange(max(1, len(fx.users) // 100))
        return (await call(s, "GET", f"{base}/Users?startIndex={start}&count=100", 200))[0]

    async def patch_title(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        body = {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "title", "value": f"Title {r.randrange(10**6)}"}],
        }
        return (await call(s, "PATCH", f"{base}/Users/{r.choice(fx.users)}", 200, body))[0]

    async def post_user(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        sample, data = await call(s, "POST", f"{base}/Users", 201, user_body(next(fx.counter), "new"))
        if data is not None:
            fx.created.append(data["id"])
        return sample

    async def scan_filter(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        url = f'{base}/Users?filter=emails[type eq "work" and value co "@example"]&count=100'
        return (await call(s, "GET", url, 200))[0]

    async def member_add_remove(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        # One request: a worker adds a user to a group it is not in, and its next request removes it
        # again, so the phase leaves the memberships as they were seeded (restore removes a last add).
        pair = fx.added.pop(id(r), None)
        op = "remove"
        if pair is None:
            n, groups = r.randrange(len(fx.users)), len(fx.groups)
            pair = fx.added[id(r)] = (fx.groups[(n + 1 + r.randrange(groups - 1)) % groups], fx.users[n])
            op = "add"
        return (await call(s, "PATCH", f"{base}/Groups/{pair[0]}", 204, member_patch(op, pair[1])))[0]

    async def get_group(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        url = f"{base}/Groups/{r.choice(fx.groups)}?excludedAttributes=members"
        return (await call(s, "GET", url, 200))[0]

    return [
        ("GET /Users/{id}", get_user),
        ("userName eq", username_eq),
        ("list 100", list_page),
        ("PATCH title", patch_title),
        ("POST /Users", post_user),
        ("scan filter", scan_filter),
        ("group member add/rm", member_add_remove),
        ("GET group -members", get_group),
    ]


async def run_phase(
    session: aiohttp.ClientSession, name: str, send: Send, seconds: float, concurrency: int, pid: int
) -> Result:
    result = Result(name)
    # A few uncounted requests first: caches, connections, first-use index checks.
    warm = random.Random(1)  # noqa: S311 (load shapes, not secrets)
    for _ in range(concurrency):
        await send(session, warm)
    deadline = time.perf_counter() + seconds

    async def worker(seed_value: int) -> None:
        rng = random.Random(seed_value)  # noqa: S311 (load shapes, not secrets)
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                sample = await send(session, rng)
            except (TimeoutError, aiohttp.ClientError):
                sample = Sample(False)
            result.latencies.append(time.perf_counter() - began)
            result.requests += 1
            if not sample.ok:
                result.errors += 1
            if sample.app_ms is not None:
                result.app_ms.append(sample.app_ms)
            if sample.db_ms is not None:
                result.db_ms.append(sample.db_ms)

    began = time.perf_counter()
    cpu_before = cpu_seconds(pid)
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.seconds = time.perf_counter() - began
    cpu_after = cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None:
        result.cpu_seconds = cpu_after - cpu_before
    result.rss_kib = rss_kib(pid)
    return result


# -- report --------------------------------------------------------------------------------------------


# Issue 5's targets for the server's own time per request (median), by phase.
OWN_TIME_TARGETS_US = {
    "GET /Users/{id}": 150,
    "userName eq": 150,
    "list 100": 1500,
    "PATCH title": 250,
    "POST /Users": 250,
}


def _median(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.0f}" if values else f"{'-':>8}"


def print_table(results: list[Result], reference: Result) -> None:
    header = (
        f"{'phase':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'RSS MiB':>9}"
        f"{'cpu µs':>8}{'own µs':>8}{'db µs':>8}{'x ref req/s':>12}{'x ref p50':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in [*results, reference]:
        rss = f"{r.rss_kib / 1024:9.1f}" if r.rss_kib is not None else f"{'-':>9}"
        cpu = f"{r.cpu_us:8.0f}" if r.cpu_us is not None else f"{'-':>8}"
        ratio_rate = r.rate / reference.rate if reference.rate else float("nan")
        ratio_p50 = r.percentile(0.5) / reference.percentile(0.5)
        print(
            f"{r.name:<22}{r.rate:9.0f}{r.percentile(0.5):9.2f}{r.percentile(0.99):9.2f}{r.errors:8d}{rss}"
            f"{cpu}{_median(r.app_ms)}{_median(r.db_ms)}{ratio_rate:12.3f}{ratio_p50:10.1f}"
        )


BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_OPERATIONS = 1000  # the server's default bulk_max_operations


@dataclass
class Creation:
    """Users created one way: how many, in how many seconds (the best round)."""

    name: str
    users: int = 0
    seconds: float = float("inf")

    @property
    def rate(self) -> float:
        return self.users / self.seconds if self.seconds else 0.0


async def bulk_phase(
    session: aiohttp.ClientSession, fx: Fixture, users: int, rounds: int, concurrency: int
) -> tuple[Creation, Creation]:
    """The Bulk phase: ``users`` users created by single POSTs (``concurrency`` in flight), then the
    same number created by Bulk requests of up to 1,000 POSTs each (one in flight), ``rounds`` times
    in turn; the fastest round of each way is kept. The users of each round are deleted after it,
    untimed, so every round starts from the seeded users."""
    single, bulk = Creation("single POST /Users"), Creation(f"Bulk ({BULK_OPERATIONS} per request)")
    for round_number in range(rounds):
        numbers = iter(range(users))
        began = time.perf_counter()

        async def post_users(numbers: Iterator[int], prefix: str) -> None:
            for n in numbers:
                _, data = await call(session, "POST", f"{fx.base}/Users", 201, user_body(n, prefix))
                if data is None:
                    raise SystemExit(f"bench: POST of user {n} failed")
                fx.created.append(data["id"])

        prefix = f"s{round_number}-"
        await asyncio.gather(*(post_users(numbers, prefix) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        if elapsed < single.seconds:
            single.users, single.seconds = users, elapsed
        await restore(session, fx, concurrency)

        began = time.perf_counter()
        for start_at in range(0, users, BULK_OPERATIONS):
            operations = [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": f"u{n}",
                    "data": user_body(n, f"b{round_number}-"),
                }
                for n in range(start_at, min(users, start_at + BULK_OPERATIONS))
            ]
            body = {"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations}
            _, data = await call(session, "POST", f"{fx.base}/Bulk", 200, body)
            results = [] if data is None else data["Operations"]
            if len(results) != len(operations) or any(r["status"] != "201" for r in results):
                raise SystemExit("bench: a Bulk of user creates failed")
            fx.created.extend(r["location"].rsplit("/", 1)[1] for r in results)
        elapsed = time.perf_counter() - began
        if elapsed < bulk.seconds:
            bulk.users, bulk.seconds = users, elapsed
        await restore(session, fx, concurrency)
    return single, bulk


# The paging run's target (issue 18): a page of 100 in the default order, by startIndex deep in the list
# and by cursor, in at most this much server time (own plus storage), at the median.
PAGING_TARGET_MS = 20.0


async def seed_by_bulk(session: aiohttp.ClientSession, base: str, users: int) -> None:
    """``users`` users created by Bulk requests of 1,000 POSTs each (batched writes in the store)."""
    for start_at in range(0, users, BULK_OPERATIONS):
        operations = [
            {"method": "POST", "path": "/Users", "bulkId": f"u{n}", "data": user_body(n)}
            for n in range(start_at, min(users, start_at + BULK_OPERATIONS))
        ]
        body = {"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations}
        _, data = await call(session, "POST", f"{base}/Bulk", 200, body)
        results = [] if data is None else data["Operations"]
        if len(results) != len(operations) or any(r["status"] != "201" for r in results):
            raise SystemExit("bench: seeding users by Bulk failed")


async def paging_run(
    session: aiohttp.ClientSession, base: str, users: int, seconds: float, pid: int
) -> list[Result]:
    """Pages of 100, one request at a time for ``seconds`` each: in the default order the first page,
    a page by startIndex in the last half of the list, and pages by cursor (a walk by nextCursor from
    the first page, starting over at the end); and a cursor walk sorted by userName."""
    deep_from = max(1, users // 2)

    async def first_page(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        return (await call(s, "GET", f"{base}/Users?count=100", 200))[0]

    async def deep_index(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        start = r.randrange(deep_from, max(deep_from + 1, users - 99))
        return (await call(s, "GET", f"{base}/Users?startIndex={start}&count=100", 200))[0]

    cursor = [""]

    async def cursor_page(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        sample, data = await call(s, "GET", f"{base}/Users?count=100&cursor={cursor[0]}", 200)
        cursor[0] = "" if data is None else data.get("nextCursor", "")
        return sample

    by_name = [""]

    async def cursor_by_name(s: aiohttp.ClientSession, r: random.Random) -> Sample:
        url = f"{base}/Users?count=100&sortBy=userName&cursor={by_name[0]}"
        sample, data = await call(s, "GET", url, 200)
        by_name[0] = "" if data is None else data.get("nextCursor", "")
        return sample

    results = []
    for name, send in (
        ("first page", first_page),
        (f"startIndex > {deep_from}", deep_index),
        ("cursor walk", cursor_page),
        ("cursor walk by userName", cursor_by_name),
    ):
        results.append(await run_phase(session, name, send, seconds, 1, pid))
    return results


def print_paging(results: list[Result], users: int, seeded_seconds: float) -> None:
    print(f"paging at {users} users (seeded by Bulk in {seeded_seconds:.1f} s), pages of 100, one at a time:")
    print(f"  {'request':<24}{'pages':>7}{'own ms':>9}{'db ms':>9}{'server ms':>11}  target")
    for r in results:
        own = statistics.median(r.app_ms) if r.app_ms else float("nan")
        db = statistics.median(r.db_ms) if r.db_ms else float("nan")
        server = statistics.median(a + d for a, d in zip(r.app_ms, r.db_ms, strict=False)) if r.db_ms else own
        verdict = "met" if server <= PAGING_TARGET_MS else "NOT met"
        print(
            f"  {r.name:<24}{r.requests:>7}{own:9.2f}{db:9.2f}{server:11.2f}  "
            f"{PAGING_TARGET_MS:g} ms {verdict}" + (f" ({r.errors} errors)" if r.errors else "")
        )


async def bench_paging(args: argparse.Namespace, env: dict[str, str], headers: dict[str, str]) -> None:
    """``--paging N``: only the paging run, at N users seeded by Bulk."""
    timeout = aiohttp.ClientTimeout(total=600)
    with processes() as started:
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            port = free_port()
            command = [sys.executable, "-m", "scim_server", "serve", "--port", str(port)]
            server = start([*command, "--workers", str(args.workers)], env)
            started.append(server)
            base = f"http://127.0.0.1:{port}"
            await wait_listening(session, f"{base}/healthz", server)
            began = time.perf_counter()
            await seed_by_bulk(session, f"{base}/scim/v2", args.paging)
            seeded = time.perf_counter() - began
            results = await paging_run(session, f"{base}/scim/v2", args.paging, args.seconds, server.pid)
            stop(server)
    print_paging(results, args.paging, seeded)


async def bench(args: argparse.Namespace) -> None:
    pin(0, CLIENT_CORE)
    # SIGTERM (a timeout's, a CI runner's) ends the run as Ctrl-C does, through the cleanup below.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    # No rate limit: the bench measures throughput. A setting the server does not know is ignored.
    env.update(
        SCIM_BOOTSTRAP_TOKENS=f"{ORG}:{TOKEN}",
        SCIM_LOG_LEVEL="WARNING",
        SCIM_RATE_LIMIT_PER_SECOND="0",
        PYTHONUNBUFFERED="1",
    )
    if args.mongodb_uri:
        # A database of its own per run, so runs never see each other's users.
        env.update(
            SCIM_MONGODB_URI=args.mongodb_uri, SCIM_DATABASE=f"scim_bench_{os.getpid()}_{time.time_ns()}"
        )
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": SCIM, "Accept": SCIM}
    if args.paging:
        await bench_paging(args, env, headers)
        return
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    with processes() as started:
        async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as session:
            port = free_port()
            command = [sys.executable, "-m", "scim_server", "serve", "--port", str(port)]
            server = start([*command, "--workers", str(args.workers)], env)
            started.append(server)
            base = f"http://127.0.0.1:{port}"
            await wait_listening(session, f"{base}/healthz", server)
            groups = max(5, args.users // 100)
            began = time.perf_counter()
            fx = await seed(session, f"{base}/scim/v2", args.users, groups, args.concurrency)
            print(
                f"seeded {len(fx.users)} users and {len(fx.groups)} groups (each user in one group) "
                f"in {time.perf_counter() - began:.1f} s; {args.seconds:g} s per phase, "
                f"concurrency {args.concurrency}; server on core {SERVER_CORE}, load on core {CLIENT_CORE}; "
                + (f"MongoDB-wire store, {args.workers} worker(s)" if args.mongodb_uri else "embedded store")
            )
            # The round with the lowest median own time is shown: a busy machine only ever adds time.
            # Rounds run in passes, one round of each phase per pass, so that each phase is sampled
            # across the whole run rather than in one stretch of it: this machine's speed drifts over
            # minutes. What a round added (POST's users, the member phase's last add) is undone after
            # it, untimed, so that every phase runs against the seeded users and groups.
            all_phases = phases(fx)
            rounds: dict[str, list[Result]] = {name: [] for name, _ in all_phases}
            for _ in range(args.rounds):
                for name, send in all_phases:
                    rounds[name].append(
                        await run_phase(session, name, send, args.seconds, args.concurrency, server.pid)
                    )
                    await restore(session, fx, args.concurrency)
            results = [
                min(rounds[name], key=lambda r: statistics.median(r.app_ms or [float("inf")]))
                for name, _ in all_phases
            ]
            creations = await bulk_phase(session, fx, args.bulk_users, args.rounds, args.concurrency)
            stop(server)

            ref_port = free_port()
            ref = start(
                [sys.executable, str(ROOT / "scripts" / "bench_reference.py"), "--port", str(ref_port)], env
            )
            started.append(ref)
            ref_url = f"http://127.0.0.1:{ref_port}/scim/v2/Users/x"
            await wait_listening(session, ref_url, ref)

            async def get_reference(s: aiohttp.ClientSession, r: random.Random) -> Sample:
                return (await call(s, "GET", ref_url, 200))[0]

            reference = await run_phase(
                session, "reference aiohttp", get_reference, args.seconds, args.concurrency, ref.pid
            )
    print_table(results, reference)
    print(
        "cpu µs: the server process's CPU time (user and system) per request, aiohttp and the kernel "
        "included; own µs: median of the server's Server-Timing app (its time minus storage time); "
        "db µs: median storage time; x ref: this phase's req/s and p50 over the reference server's. "
        f"Each phase ran {args.rounds} round(s) of {args.seconds:g} s, in passes over the phases (what a "
        "round added undone after it); shown is the round with the lowest median own time."
    )
    single, bulk = creations
    print(f"users created per second ({single.users} users, best of {args.rounds} round(s) each way):")
    for creation in creations:
        print(f"  {creation.name:<30} {creation.rate:8.0f} users/s  ({creation.seconds:.2f} s)")
    print(f"  Bulk over single POSTs: {bulk.rate / single.rate:.1f}x")
    print("own-time targets (issue 5):")
    for r in results:
        target = OWN_TIME_TARGETS_US.get(r.name)
        if target is not None and r.app_ms:
            own = statistics.median(r.app_ms) * 1000
            verdict = "met" if own <= target else "NOT met"
            print(f"  {r.name:<20} {own:6.0f} µs  target {target:5d} µs  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description="SCIM server load benchmark")
    parser.add_argument("--users", type=int, default=1000, help="users to seed (default 1000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per phase (default 5)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per phase; the least disturbed is shown (default 3)"
    )
    parser.add_argument(
        "--bulk-users",
        type=int,
        default=1000,
        help="users the Bulk phase creates each way, by single POSTs and by Bulk (default 1000)",
    )
    parser.add_argument(
        "--mongodb-uri",
        default="",
        help="serve from this MongoDB (a fresh database per run) instead of the embedded store",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes, with --mongodb-uri (default 1)"
    )
    parser.add_argument(
        "--paging",
        type=int,
        default=0,
        metavar="N",
        help="only the paging run: N users seeded by Bulk, then pages of 100 in the default order "
        "(the first, by startIndex deep in the list, by cursor) with their server time",
    )
    args = parser.parse_args()
    if args.workers > 1 and not args.mongodb_uri:
        parser.error("--workers above 1 needs --mongodb-uri: the embedded store lives in one process")
    if min(args.users, args.concurrency, args.rounds, args.bulk_users) < 1 or args.seconds <= 0:
        parser.error("--users, --seconds, --concurrency, --rounds and --bulk-users must be positive")
    try:
        asyncio.run(bench(args))
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM
        return 128 + signal.SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
