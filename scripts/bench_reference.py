#!/usr/bin/env python3
"""The bench's reference server: a bare aiohttp app answering one fixed ~600-byte SCIM user.

    .venv/bin/python scripts/bench_reference.py --port 8099

Every method on every path gets the same body (a request body is read and dropped), so it measures
what aiohttp and the load generator cost by themselves; ``scripts/bench`` divides by it. It listens
on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "bjensen",
    "userName": "bjensen@example.com",
    "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
    "displayName": "Babs Jensen",
    "title": "Tour Guide",
    "active": True,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    "meta": {
        "resourceType": "User",
        "created": "2026-01-23T04:56:22.000Z",
        "lastModified": "2026-05-13T04:42:34.000Z",
        "location": "http://127.0.0.1:8080/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "version": 'W/"3"',
    },
}
BODY = json.dumps(USER, separators=(",", ":")).encode("utf-8")


async def answer(request: web.Request) -> web.Response:
    if request.can_read_body:
        await request.read()
    return web.Response(body=BODY, content_type="application/scim+json", charset="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
