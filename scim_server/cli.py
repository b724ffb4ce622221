"""The ``scim-server`` command: ``serve`` and the operator's ``tokens`` commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web

from scim_server.app import create_app
from scim_server.errors import ScimError
from scim_server.services.tokens import TokenService, TokenSpecError
from scim_server.settings import Settings, SettingsError, load_settings
from scim_server.storage.client import close, connect, ping
from scim_server.storage.tokens import TokenRepository


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scim-server", description="SCIM 2.0 provisioning server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="interface to listen on (setting: host)")
    serve.add_argument("--port", type=int, help="port to listen on (setting: port)")

    tokens = commands.add_parser("tokens", help="manage bearer tokens in the configured MongoDB")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue a token for an organization; prints it once")
    create.add_argument("--org", required=True, help="organization id (letters, digits, '_' and '-')")
    create.add_argument("--name", default="", help="a label, such as the IdP it is for")
    create.add_argument("--expires-in-days", type=float, help="the token stops working after this many days")
    create.add_argument("--read-only", action="store_true", help="the token may only read (dashboards)")
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--org", help="only this organization's tokens")
    revoke = actions.add_parser("revoke", help="revoke a token by its id (tok_...)")
    revoke.add_argument("token_id")
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"scim-server: {message}", file=sys.stderr)
    return code


def _serve(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    except ScimError as error:
        return _fail(f"cannot start: {error.detail} (SCIM_MONGODB_URI={_redact(settings.mongodb_uri)})")
    except TokenSpecError as error:
        return _fail(f"cannot start: {error}")
    except OSError as error:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {error.strerror}")
    return 0


def _redact(uri: str) -> str:
    """A connection string without its password, for error messages."""
    if "@" not in uri:
        return uri or "(empty: embedded store)"
    scheme, sep, rest = uri.partition("://")
    if not sep:  # no scheme: the credentials are at the start
        scheme, rest = "", uri
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


def _format_time(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _tokens(settings: Settings, args: argparse.Namespace) -> int:
    try:
        client, db = connect(settings.mongodb_uri, settings.database)
    except ScimError as error:
        return _fail(f"{error.detail} (SCIM_MONGODB_URI={_redact(settings.mongodb_uri)})")
    try:
        await ping(db)
        service = TokenService(TokenRepository(db), cache_seconds=0)
        if args.action == "create":
            expires = None
            if args.expires_in_days is not None:
                if args.expires_in_days <= 0:
                    return _fail("--expires-in-days must be positive")
                expires = datetime.now(UTC) + timedelta(days=args.expires_in_days)
            record, token = await service.create(
                args.org, name=args.name, expires=expires, read_only=args.read_only
            )
            print(f"id:      {record.id}\norg:     {record.org_id}\nexpires: {_format_time(expires)}")
            print(f"token:   {token}\n(the token is shown only now; store it in the IdP's secret field)")
        elif args.action == "list":
            print(f"{'id':<22} {'org':<20} {'name':<20} {'created':<20} {'expires':<20} {'revoked':<20} mode")
            for r in await service.list(args.org):
                mode = "read-only" if r.read_only else "read-write"
                print(
                    f"{r.id:<22} {r.org_id:<20} {r.name[:20]:<20} {_format_time(r.created):<20} "
                    f"{_format_time(r.expires):<20} {_format_time(r.revoked):<20} {mode}"
                )
        elif not await service.revoke(args.token_id):
            return _fail(f"no active token with id {args.token_id}", 1)
        else:
            print(
                f"revoked {args.token_id}; running servers stop accepting it within "
                f"{settings.token_cache_seconds:g} s"
            )
        return 0
    except ScimError as error:
        return _fail(f"{error.detail} (SCIM_MONGODB_URI={_redact(settings.mongodb_uri)})")
    except TokenSpecError as error:
        return _fail(str(error))
    finally:
        close(client)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides = {}
        if args.command == "serve":
            overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        settings = load_settings(**overrides)
    except SettingsError as error:
        return _fail(f"invalid configuration: {error}")
    if args.command == "serve":
        return _serve(settings)
    if settings.embedded:
        return _fail(
            "token commands need a MongoDB (set SCIM_MONGODB_URI). The embedded store lives inside the "
            "server process; give it tokens with SCIM_BOOTSTRAP_TOKENS=org:token instead."
        )
    return asyncio.run(_tokens(settings, args))
