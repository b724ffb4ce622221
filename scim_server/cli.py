"""The ``scim-server`` command: ``serve`` and the operator's ``tokens`` and ``audit`` commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from scim_server.api.serving import serve
from scim_server.app import DemoTokenFileError, create_app, load_organizations_registry
from scim_server.errors import ScimError
from scim_server.logs import configure_logging
from scim_server.services.audit import AuditEvent, AuditTrail
from scim_server.services.tokens import TokenService, TokenSpecError
from scim_server.settings import (
    DEFAULT_CONFIG_PATH,
    Settings,
    SettingsError,
    load_settings,
    package_version,
    setting_names,
)
from scim_server.storage.audit import AuditStore
from scim_server.storage.client import close, connect, ping
from scim_server.storage.repository import is_valid_org_id
from scim_server.storage.tokens import TokenRepository
from scim_server.workers import bind, supervise


def _serve_epilog() -> str:
    names = ", ".join(f"SCIM_{name.upper()}" for name in setting_names())
    return f"""configuration:
  Settings are read from the config file {DEFAULT_CONFIG_PATH}
  (another file: SCIM_CONFIG=/path/to/file.toml), then from environment variables SCIM_<NAME>, which
  win over the file (for example SCIM_PORT=9000); --host and --port win over both. The variables:
{textwrap.fill(names, width=100, initial_indent="  ", subsequent_indent="  ")}

store:
  Without SCIM_MONGODB_URI the server runs on the EMBEDDED in-memory store (mongomock-motor): one
  process, and every change is lost when it exits. It then creates the organization 'demo' and prints
  its bearer token; SCIM_DEMO_TOKEN_FILE=path keeps that token in a file across restarts, and
  SCIM_BOOTSTRAP_TOKENS=org:token gives known tokens instead. Set SCIM_MONGODB_URI for MongoDB."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scim-server", description="SCIM 2.0 provisioning server")
    parser.add_argument("--version", action="version", version=f"scim-server {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the HTTP server",
        description="Run the SCIM server until SIGTERM or Ctrl-C; it prints the address it listens on.",
        epilog=_serve_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="interface to listen on (setting: host)")
    serve.add_argument("--port", type=int, help="port to listen on, 0 for any free one (setting: port)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the port, all on the configured MongoDB (default 1; more need MongoDB)",
    )

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
    _token_id_arguments(revoke, "the token to revoke")
    rotate = actions.add_parser(
        "rotate",
        help="issue a successor for a token (prints it once); the old one expires after a grace period",
    )
    _token_id_arguments(rotate, "the token to replace")
    rotate.add_argument(
        "--grace-hours",
        type=float,
        default=24.0,
        help="hours the old token keeps working, unless it expires sooner (default 24; 0 ends it now)",
    )
    rotate.add_argument("--name", help='label of the new token (default: "<old name> (rotated)")')
    rotate.add_argument(
        "--expires-in-days", type=float, help="the new token stops working after this many days"
    )

    audit = commands.add_parser("audit", help="show an organization's audit trail, newest first")
    audit.add_argument("--org", required=True, help="organization id")
    audit.add_argument("--resource-id", help="only events of this User or Group")
    audit.add_argument("--since", help="only events at or after this time (ISO 8601; UTC when no offset)")
    audit.add_argument("--limit", type=int, default=100, help="at most this many events (default 100)")
    return parser


def _token_id_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``TOKEN_ID`` as a positional argument, spelled the same in every command that names a token,
    with ``--token-id TOKEN_ID`` accepted as another spelling; :func:`_token_id` picks the one given."""
    parser.add_argument("token_id", metavar="TOKEN_ID", nargs="?", help=f"{what} (tok_..., as listed)")
    parser.add_argument(
        "--token-id", dest="token_id_option", metavar="TOKEN_ID", help="the same, as an option"
    )


def _token_id(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    given: set[str] = {value for value in (args.token_id, args.token_id_option) if value is not None}
    if not given:
        parser.error(f"tokens {args.action}: a TOKEN_ID is required (tok_..., see tokens list)")
    if len(given) > 1:
        parser.error(f"tokens {args.action}: TOKEN_ID and --token-id name different tokens")
    return given.pop()


def _fail(message: str, code: int = 2) -> int:
    print(f"scim-server: {message}", file=sys.stderr)
    return code


MAX_WORKERS = 256
LISTEN_BACKLOG = 1024


def _serve(settings: Settings, workers: int = 1) -> int:
    if not 1 <= workers <= MAX_WORKERS:
        return _fail(f"--workers must be between 1 and {MAX_WORKERS}")
    if workers > 1 and settings.embedded:
        return _fail(
            "--workers needs MongoDB (set SCIM_MONGODB_URI): the embedded store lives inside one process, "
            "so several workers would each have their own, different data. Use --workers 1."
        )
    configure_logging(settings.log_level, settings.log_format)
    # The port first: a port in use is the one line printed, before any startup message or token.
    try:
        reserve = _listen if workers == 1 else _reserve
        sock = reserve(settings.host, settings.port)
    except OSError as error:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}")
    with sock:
        address = _address(sock)
        if workers == 1:
            return _run_server(settings, sock, listening=lambda: _say(f"listening on {address}"))
        _say(f"listening on {address} with {workers} workers")
        return supervise(
            lambda inherited, ready: _run_server(settings, inherited, ready=ready),
            sock,
            workers,
            stop_seconds=settings.shutdown_timeout_seconds + 10,
        )


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket at ``host:port``: bound here so that a port in use fails before startup."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        # SO_REUSEADDR, not SO_REUSEPORT: a restart may take a port whose old connections linger in
        # TIME_WAIT, but never one another server is listening on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _reserve(host: str, port: int) -> socket.socket:
    """The workers' reserved address. Their SO_REUSEPORT sockets would share a port with another
    server started the same way, so a plain listening socket checks first that the port is free."""
    _listen(host, port).close()
    return bind(host, port)


def _address(sock: socket.socket) -> str:
    """The URL a listening socket answers at (the actual port when 0 was asked for)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _say(message: str) -> None:
    print(f"scim-server: {message}", file=sys.stderr, flush=True)


def _run_server(
    settings: Settings,
    sock: socket.socket,
    *,
    ready: Callable[[], None] | None = None,
    listening: Callable[[], None] | None = None,
) -> int:
    """Run one server process on ``sock`` until it is signalled; the exit code, with the reason on
    stderr."""
    try:
        serve(
            create_app(settings),
            sock=sock,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            ready=ready,
            listening=listening,
        )
    except ScimError as error:
        return _fail(f"cannot start: {error.detail} (SCIM_MONGODB_URI={_redact(settings.mongodb_uri)})")
    except (TokenSpecError, DemoTokenFileError, SettingsError) as error:  # SettingsError: organizations file
        return _fail(f"cannot start: {error}")
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


async def _against_store(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Run an operator command against the configured MongoDB, with one-line errors."""
    try:
        client, db = connect(
            settings.mongodb_uri,
            settings.database,
            server_selection_timeout_seconds=settings.server_selection_timeout_seconds,
        )
    except ScimError as error:
        return _fail(f"{error.detail} (SCIM_MONGODB_URI={_redact(settings.mongodb_uri)})")
    try:
        await ping(db)
        return await work(db)
    except ScimError as error:
        return _fail(f"{error.detail} (SCIM_MONGODB_URI={_redact(settings.mongodb_uri)})")
    except TokenSpecError as error:
        return _fail(str(error))
    finally:
        await close(client)


def _expiry(days: float | None) -> datetime | None:
    if days is None:
        return None
    if not days > 0:
        raise TokenSpecError("--expires-in-days must be positive")
    return datetime.now(UTC) + timedelta(days=days)


def _print_new_token(token_id: str, org_id: str, expires: datetime | None, token: str) -> None:
    print(f"id:      {token_id}\norg:     {org_id}\nexpires: {_format_time(expires)}")
    print(f"token:   {token}\n(the token is shown only now; store it in the IdP's secret field)")


async def _tokens(settings: Settings, args: argparse.Namespace, token_id: str | None) -> int:
    async def work(db: Any) -> int:
        service = TokenService(TokenRepository(db), cache_seconds=0)
        if args.action == "create":
            expires = _expiry(args.expires_in_days)
            record, token = await service.create(
                args.org, name=args.name, expires=expires, read_only=args.read_only
            )
            _print_new_token(record.id, record.org_id, expires, token)
        elif args.action == "list":
            print(
                f"{'id':<22} {'org':<20} {'name':<20} {'created':<20} {'expires':<20} {'revoked':<20} "
                f"{'last-used':<20} mode"
            )
            for r in await service.list(args.org):
                mode = "read-only" if r.read_only else "read-write"
                print(
                    f"{r.id:<22} {r.org_id:<20} {r.name[:20]:<20} {_format_time(r.created):<20} "
                    f"{_format_time(r.expires):<20} {_format_time(r.revoked):<20} "
                    f"{_format_time(r.last_used):<20} {mode}"
                )
        elif args.action == "rotate":
            if not args.grace_hours >= 0:
                return _fail("--grace-hours must not be negative")
            rotation = await service.rotate(
                token_id or "",
                grace=timedelta(hours=args.grace_hours),
                name=args.name,
                expires=_expiry(args.expires_in_days),
            )
            if rotation is None:
                return _fail(f"no active token with id {token_id}", 1)
            _print_new_token(rotation.new.id, rotation.new.org_id, rotation.new.expires, rotation.token)
            print(
                f"old:     {rotation.old.id} expires {_format_time(rotation.old.expires)}; running servers "
                f"stop accepting it within {settings.token_cache_seconds:g} s after that"
            )
        elif not await service.revoke(token_id or ""):
            return _fail(f"no active token with id {token_id}", 1)
        else:
            print(
                f"revoked {token_id}; running servers stop accepting it within "
                f"{settings.token_cache_seconds:g} s"
            )
        return 0

    return await _against_store(settings, work)


def _parse_since(text: str) -> datetime:
    """An ISO 8601 time; one without an offset is read as UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_event(event: AuditEvent) -> str:
    """One line per event: time, operation, resource, token, changed paths, membership counts."""
    when = event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    line = (
        f"{when} {event.operation:<7} {event.resource_type:<5} {event.resource_id} "
        f"token={event.token_id or '-'} name={json.dumps(event.token_name)} "
        f"changed={','.join(event.changed) or '-'}"
    )
    if event.members is not None:
        line += f" members=+{event.members.added}/-{event.members.removed}"
    return line


async def _audit(settings: Settings, args: argparse.Namespace) -> int:
    if not is_valid_org_id(args.org):
        return _fail(f"organization id {args.org!r} is invalid")
    if args.limit < 1:
        return _fail("--limit must be at least 1")
    try:
        since = None if args.since is None else _parse_since(args.since)
    except ValueError:
        return _fail(f"--since {args.since!r} is not an ISO 8601 time, such as 2026-11-03T12:00:00Z")

    async def work(db: Any) -> int:
        trail = AuditTrail(AuditStore(db))
        for event in await trail.events(
            args.org, resource_id=args.resource_id, since=since, limit=args.limit
        ):
            print(format_event(event))
        return 0

    return await _against_store(settings, work)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    token_id = None
    if args.command == "tokens" and args.action in ("revoke", "rotate"):
        token_id = _token_id(parser, args)
    try:
        overrides = {}
        if args.command == "serve":
            overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        settings = load_settings(**overrides)
        if args.command == "serve":
            load_organizations_registry(settings)  # an invalid file stops startup here, once
    except SettingsError as error:
        return _fail(f"invalid configuration: {error}")
    if args.command == "serve":
        return _serve(settings, args.workers)
    if settings.embedded:
        if args.command == "audit":
            return _fail(
                "the audit command needs a MongoDB (set SCIM_MONGODB_URI). The embedded store lives inside "
                "the server process, and its audit trail goes with it."
            )
        return _fail(
            "token commands need a MongoDB (set SCIM_MONGODB_URI). The embedded store lives inside the "
            "server process; give it tokens with SCIM_BOOTSTRAP_TOKENS=org:token instead."
        )
    if args.command == "audit":
        return asyncio.run(_audit(settings, args))
    return asyncio.run(_tokens(settings, args, token_id))
