"""What several test modules share: tokens and headers, settings, the MongoDB marker, a served
process, and the assertions on document updates. Test modules import from here, never from each other
(nor from a conftest, which pytest loads as a plugin, not as a module to import)."""

from __future__ import annotations

import asyncio
import copy
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from scim_server.schema.layout import SHADOW
from scim_server.settings import Settings, load_settings
from scim_server.storage.client import close, connect
from scim_server.storage.documents import Assignment, DocumentUpdate

# Two organizations' bearer tokens, known to every app the fixtures build.
TOKEN_A = "token-org-a-0123456789"
TOKEN_B = "token-org-b-0123456789"
# An organization in no organizations file: today's behaviour.
TOKEN_C = "token-org-c-0123456789"
SCIM = "application/scim+json"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "bootstrap_tokens": f"orga:{TOKEN_A},orgb:{TOKEN_B}",
        "base_url": "https://scim.test",
    }
    base.update(overrides)
    return load_settings(environ={}, **base)


def auth(token: str = TOKEN_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": SCIM, "Accept": SCIM}


# The storage contracts on MongoDB.
MONGODB_URI = os.environ.get("SCIM_TEST_MONGODB_URI", "")

# Put on a contract's MongoDB class: it runs only when SCIM_TEST_MONGODB_URI names a server.
on_mongodb = [
    pytest.mark.mongodb,
    pytest.mark.skipif(
        not MONGODB_URI, reason="set SCIM_TEST_MONGODB_URI to run the storage contract on MongoDB"
    ),
]


# ``scim-server serve`` as a real process.
STARTUP_SECONDS = 20.0
EXIT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(**scim: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_")}
    env.update(scim)
    return env


@dataclass
class Server:
    process: asyncio.subprocess.Process
    base: str
    stderr: list[str] = field(default_factory=list)

    async def read_until(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """Read stderr lines until one matches; fail on timeout or when the process ends first."""
        assert self.process.stderr is not None

        async def scan() -> re.Match[str]:
            while True:
                raw = await self.process.stderr.readline()  # type: ignore[union-attr]
                if not raw:
                    raise AssertionError(f"the server exited before {pattern.pattern!r}: {self.stderr}")
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stderr.append(line)
                match = pattern.search(line)
                if match is not None:
                    return match

        return await asyncio.wait_for(scan(), STARTUP_SECONDS)

    async def wait_listening(self, session: aiohttp.ClientSession) -> None:
        """Startup messages come before the socket is bound: retry /healthz briefly."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_SECONDS
        while True:
            try:
                async with session.get(f"{self.base}/healthz") as response:
                    assert response.status == 200
                    return
            except aiohttp.ClientConnectionError:
                if loop.time() > deadline or self.process.returncode is not None:
                    raise
                await asyncio.sleep(0.1)


@asynccontextmanager
async def running_server(env: Mapping[str, str], port: int | None = None) -> AsyncIterator[Server]:
    port = free_port() if port is None else port
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scim_server",
        "serve",
        "--port",
        str(port),
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Server(process, f"http://127.0.0.1:{port}")
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), EXIT_SECONDS)


def assert_fields_make(old: Mapping[str, Any], update: DocumentUpdate) -> None:
    """The update's $set and $unset turn the old document into the new one, as the store applies them;
    they never name ``_id``, and every unset field was there."""
    made = {**old, **update.set_fields}
    for key in update.unset_fields:
        assert key in old and key not in update.set_fields
        del made[key]
    assert made == update.document
    assert "_id" not in update.set_fields and "_id" not in update.unset_fields
    assert all(update.set_fields[key] is update.document[key] for key in update.set_fields)


def assert_assignment_makes(
    old: Mapping[str, Any], assignment: Assignment, new: Mapping[str, Any], *, last_modified: datetime
) -> None:
    """The assignment's condition holds for the old document, and its ``$set`` fields (dotted ones into
    their object) with the version moved by one turn it into the new one, as the store applies them;
    read for a response (without shadows), :meth:`Assignment.applied` gives that new document too."""
    assert condition_holds(assignment.condition, old)
    made = copy.deepcopy(dict(old))
    fields = {**assignment.fields, "meta.lastModified": last_modified}
    for key, value in fields.items():
        assert not key.startswith("$") and key != "_id"
        parent, _, child = key.partition(".")
        if child:
            made[parent] = {**made.get(parent, {}), child: value}
        else:
            made[key] = value
    made["meta"]["version"] += 1
    assert made == new
    response = {k: v for k, v in old.items() if k != SHADOW}
    assert assignment.applied(response, last_modified) == {k: v for k, v in new.items() if k != SHADOW}


def condition_holds(condition: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """The store's reading of an assignment's condition: ``{key: {"$ne": v}}``, or ``$or`` of them."""
    terms = condition.get("$or", [condition])
    return any(document.get(key) != test["$ne"] for term in terms for key, test in term.items())


@asynccontextmanager
async def wire_database() -> AsyncIterator[Any]:
    """A fresh database on the server ``SCIM_TEST_MONGODB_URI`` names, dropped at the end."""
    name = f"scim_test_{uuid.uuid4().hex[:16]}"
    client, database = connect(MONGODB_URI, name)
    try:
        yield database
        await client.drop_database(name)
    finally:
        await close(client)


async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), STARTUP_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, err.decode("utf-8", "replace")


async def read_line(process: asyncio.subprocess.Process, pattern: str) -> str:
    assert process.stderr is not None
    while True:
        raw = await asyncio.wait_for(process.stderr.readline(), STARTUP_SECONDS)
        assert raw, f"the supervisor ended before {pattern!r}"
        line = raw.decode("utf-8", "replace")
        if re.search(pattern, line):
            return line


def write_organizations(directory: Path, text: str) -> Path:
    """An organizations file (docs/organizations.md) holding ``text``, in ``directory``."""
    path = directory / "organizations.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def client_with_organizations(
    aiohttp_client: ClientFactory, app_factory: Callable[..., Any], organizations_file: Path
) -> TestClient[Any, Any]:
    """An app configured by ``organizations_file``, with tokens for orga, orgb and orgc."""
    tokens = f"orga:{TOKEN_A},orgb:{TOKEN_B},orgc:{TOKEN_C}"
    return await aiohttp_client(
        app_factory(organizations_file=str(organizations_file), bootstrap_tokens=tokens)
    )


async def post_created(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], token: str = TOKEN_A
) -> dict[str, Any]:
    """POST ``body`` under /scim/v2, requiring 201 with Location and ETag matching its meta."""
    response = await client.post(f"/scim/v2{path}", json=body, headers=auth(token))
    assert response.status == 201, await response.text()
    result: dict[str, Any] = await response.json()
    assert response.headers["Location"] == result["meta"]["location"]
    assert response.headers["ETag"] == result["meta"]["version"]
    return result
