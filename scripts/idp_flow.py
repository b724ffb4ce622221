#!/usr/bin/env python3
"""Walk an IdP-style provisioning flow against a running scim-server and print every check.

    SCIM_BOOTSTRAP_TOKENS="acme:acme-token-123" scripts/serve --port 8080 &
    .venv/bin/python scripts/idp_flow.py --url http://127.0.0.1:8080 --token acme-token-123

It first waits for the server to answer /healthz (up to --wait seconds, 10 by default), so it can be
started right after the server. The requests are the ones Entra ID and Okta send: the connection
test, the create, the userName/externalId probes, Entra's default-mode PATCH, Okta's GET-then-PUT,
the soft delete (active false), and the hard delete. Exit status 0 only when every check passed,
1 when one failed, 2 when the server could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

SCIM = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Flow:
    session: aiohttp.ClientSession
    base: str
    checks: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> bool:
        self.checks.append((ok, what))
        print(f"{'PASS' if ok else 'FAIL'}  {what}", flush=True)
        return ok

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any, Any]:
        async with self.session.request(method, self.base + path, json=body, headers=headers or None) as r:
            data = await r.json(content_type=None) if r.content_length != 0 and r.status != 304 else None
            return r.status, data, r.headers


async def walk(base_url: str, token: str) -> list[tuple[bool, str]]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": SCIM,
        "Content-Type": SCIM,
        "User-Agent": "scim-server idp_flow",
    }
    async with aiohttp.ClientSession(headers=headers) as session:
        flow = Flow(session, base_url.rstrip("/") + "/scim/v2")
        await _walk(flow)
        return flow.checks


async def _walk(f: Flow) -> None:
    status, body, _ = await f.call("GET", "/ServiceProviderConfig")
    f.check(status == 200 and body["patch"]["supported"] is True, "ServiceProviderConfig advertises PATCH")

    probe = quote(f'userName eq "{uuid.uuid4()}"')
    status, body, _ = await f.call("GET", f"/Users?filter={probe}")
    f.check(
        status == 200 and body["totalResults"] == 0 and body["Resources"] == [],
        "Entra test connection: a random userName probe is an empty ListResponse",
    )

    tag = uuid.uuid4().hex[:8]
    user_name = f"Test_User_{tag}@testuser.com"
    external_id = f"ext{tag}"
    create = {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "title": None,
    }
    status, user, headers = await f.call("POST", "/Users", create)
    if not f.check(status == 201 and "id" in user, "POST /Users answers 201 with an id"):
        return
    url = f"/Users/{user['id']}"
    f.check(
        headers.get("Location", "").endswith(url) and headers.get("ETag") == 'W/"1"',
        'the create answers Location and ETag W/"1"',
    )
    status, _, _ = await f.call("POST", "/Users", dict(create, userName=user_name.upper()))
    f.check(status == 409, "a second create of the same userName (other case) is 409")

    status, body, _ = await f.call("GET", "/Users?filter=" + quote(f'userName eq "{user_name.upper()}"'))
    f.check(
        status == 200 and [r["id"] for r in body["Resources"]] == [user["id"]],
        "the userName eq probe finds the user case-insensitively",
    )
    status, body, _ = await f.call("GET", "/Users?filter=" + quote(f"externalId eq {external_id}"))
    f.check(
        status == 200 and body["totalResults"] == 1, "Entra's unquoted externalId eq probe finds the user"
    )

    patch = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": f"updated_{tag}@testuser.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Eqpj"},
            {"op": "Add", "path": "nickName", "value": "Babs"},
        ],
    }
    status, body, _ = await f.call("PATCH", url, patch)
    f.check(
        status == 200
        and body["emails"] == [{"primary": True, "type": "work", "value": f"updated_{tag}@testuser.com"}]
        and body["name"]["familyName"] == "updatedFamilyName"
        and body["active"] is False
        and body[ENTERPRISE] == {"employeeNumber": "Eqpj"}
        and body["nickName"] == "Babs",
        'Entra\'s default-mode PATCH (capitalized ops, "False", URN path, filtered path) applies',
    )

    status, current, _ = await f.call("GET", url)
    put = dict(current, displayName="Okta Display", active=True, groups=[])
    status, body, _ = await f.call("PUT", url, put)
    f.check(
        status == 200
        and body["displayName"] == "Okta Display"
        and body["active"] is True
        and body["meta"]["version"] == 'W/"3"',
        "Okta's GET-then-PUT replaces the user (version 3)",
    )

    deactivate = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]}
    status, body, _ = await f.call("PATCH", url, deactivate)
    f.check(status == 200 and body["active"] is False, "Okta's no-path deactivate PATCH sets active false")
    status, body, _ = await f.call("GET", "/Users?filter=" + quote(f'userName eq "{user_name}"'))
    f.check(
        status == 200 and body["totalResults"] == 1 and body["Resources"][0]["active"] is False,
        "the disabled user stays visible to filters, with active false",
    )

    status, _, _ = await f.call("DELETE", url)
    f.check(status == 204, "DELETE answers 204")
    status, body, _ = await f.call("GET", url)
    f.check(status == 404 and body["status"] == "404", "a GET after DELETE is a 404 SCIM error")


POLL_SECONDS = 0.2


async def wait_for_health(base_url: str, seconds: float) -> bool:
    """Poll ``/healthz`` until it answers 200, for at most ``seconds``; whether it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    url = base_url.rstrip("/") + "/healthz"
    timeout = aiohttp.ClientTimeout(total=max(POLL_SECONDS, 2.0))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return True
            except (aiohttp.ClientError, TimeoutError):
                pass  # not listening yet, or still starting
            if loop.time() + POLL_SECONDS > deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)


async def run(base_url: str, token: str, wait_seconds: float) -> list[tuple[bool, str]] | None:
    """Wait for the server, then walk the flow; None when the server never answered."""
    if not await wait_for_health(base_url, wait_seconds):
        return None
    return await walk(base_url, token)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL (without /scim/v2)")
    parser.add_argument("--token", required=True, help="a bearer token of the organization to use")
    parser.add_argument(
        "--wait",
        type=float,
        default=10.0,
        help="seconds to wait for the server to answer /healthz before starting (default 10)",
    )
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    try:
        checks = asyncio.run(run(base, args.token, args.wait))
    except (aiohttp.ClientError, TimeoutError) as error:
        reason = str(error) or type(error).__name__
        print(f"idp_flow: the server at {base} stopped answering: {reason}", file=sys.stderr)
        return 2
    if checks is None:
        print(
            f"idp_flow: no answer from {base}/healthz within {args.wait:g} s; is the server running "
            "(scripts/serve), and is --url right?",
            file=sys.stderr,
        )
        return 2
    passed = sum(ok for ok, _ in checks)
    print(f"{passed} passed, {len(checks) - passed} failed")
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
