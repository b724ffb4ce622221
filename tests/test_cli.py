"""The ``scim-server`` command, run in-process: exit codes and what the operator reads on stderr.

``main`` runs its own event loop (``asyncio.run`` or ``web.run_app``), so these tests are plain
functions rather than coroutines. The token commands run against an embedded store put in place
of the MongoDB connection.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import socket
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from scim_server import cli
from scim_server.cli import _redact, main
from scim_server.services.audit import AuditEvent, AuditTrail, MemberChange
from scim_server.services.tokens import TokenService
from scim_server.settings import DEFAULT_CONFIG_PATH, setting_names
from scim_server.storage.audit import AuditStore
from scim_server.storage.client import embedded_client
from scim_server.storage.tokens import TokenRepository
from scim_server.workers import bind, listen

UNREACHABLE = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``SCIM_*`` variable of the developer's shell, and an empty config file."""
    for name in list(os.environ):
        if name.startswith("SCIM_"):
            monkeypatch.delenv(name)
    config = tmp_path / "scim-server.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("SCIM_CONFIG", str(config))


@pytest.fixture
def mongo(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point ``tokens`` at an embedded store standing in for the configured MongoDB."""
    client: Any = embedded_client()

    def connect(uri: str, database: str, **options: Any) -> tuple[Any, Any]:
        return client, client[database]

    async def close(_client: Any) -> None:
        pass

    monkeypatch.setattr(cli, "connect", connect)
    monkeypatch.setattr(cli, "close", close)
    monkeypatch.setenv("SCIM_MONGODB_URI", "mongodb://db.internal:27017")
    monkeypatch.setenv("SCIM_DATABASE", "idp")
    return client["idp"]


def test_token_commands_without_a_mongodb_uri_explain_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--org", "x"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "scim-server: token commands need a MongoDB (set SCIM_MONGODB_URI). The embedded store lives inside "
        "the server process; give it tokens with SCIM_BOOTSTRAP_TOKENS=org:token instead.\n"
    )


@pytest.mark.parametrize("argv", [["serve"], ["tokens", "list"]])
def test_an_invalid_configuration_exits_2_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setenv("SCIM_PORT", "abc")

    assert main(argv) == 2

    assert capsys.readouterr().err == (
        "scim-server: invalid configuration: setting 'port': cannot use 'abc' as int\n"
    )


def test_a_missing_config_file_is_an_invalid_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SCIM_CONFIG", str(tmp_path / "missing.toml"))

    assert main(["serve"]) == 2

    assert "invalid configuration: config file" in capsys.readouterr().err


def test_serve_port_option_is_validated_like_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "70000"]) == 2

    assert capsys.readouterr().err == (
        "scim-server: invalid configuration: setting 'port' must be between 0 (any free port) and 65535\n"
    )


def test_serve_with_an_unreachable_mongodb_says_it_cannot_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCIM_MONGODB_URI", UNREACHABLE)

    assert main(["serve", "--port", "0"]) == 2
    # The startup closes its client when the ping fails: an unclosed one would warn (an error here).
    gc.collect()

    err = capsys.readouterr().err
    assert err == (
        f"scim-server: cannot start: the database cannot be reached (SCIM_MONGODB_URI={UNREACHABLE})\n"
    )
    assert "Traceback" not in err


def test_serve_with_a_malformed_mongodb_uri_says_it_cannot_start_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCIM_MONGODB_URI", "mongodb://admin:s3cret@127.0.0.1:notaport")

    assert main(["serve"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("scim-server: cannot start: the MongoDB connection string is invalid")
    assert err.endswith("(SCIM_MONGODB_URI=mongodb://***@127.0.0.1:notaport)\n")
    assert "s3cret" not in err and "Traceback" not in err


@pytest.mark.parametrize("uri", [UNREACHABLE, "http://127.0.0.1/", "mongodb://u:s3cret@h:notaport"])
def test_token_commands_with_a_bad_mongodb_uri_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], uri: str
) -> None:
    monkeypatch.setenv("SCIM_MONGODB_URI", uri)

    assert main(["tokens", "list"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("scim-server: ") and err.count("\n") == 1
    assert "s3cret" not in err


def test_a_token_is_created_printed_once_listed_and_revoked(
    mongo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "create", "--org", "acme", "--name", "okta", "--read-only"]) == 0
    created = capsys.readouterr().out
    match = re.fullmatch(
        r"id:      (tok_[0-9a-f]{16})\norg:     acme\nexpires: -\ntoken:   (scim_\S+)\n"
        r"\(the token is shown only now; store it in the IdP's secret field\)\n",
        created,
    )
    assert match is not None
    token_id, token = match.groups()

    assert main(["tokens", "list", "--org", "acme"]) == 0
    listing = capsys.readouterr().out
    lines = listing.splitlines()
    assert lines[0].split() == ["id", "org", "name", "created", "expires", "revoked", "last-used", "mode"]
    assert len(lines) == 2 and lines[1].split()[:3] == [token_id, "acme", "okta"]
    assert lines[1].split()[-4:] == ["-", "-", "-", "read-only"]
    assert token not in listing

    assert main(["tokens", "revoke", token_id]) == 0
    assert capsys.readouterr().out == f"revoked {token_id}; running servers stop accepting it within 5 s\n"
    assert main(["tokens", "revoke", token_id]) == 1
    assert capsys.readouterr().err == f"scim-server: no active token with id {token_id}\n"


def test_a_token_with_an_expiry_prints_it(mongo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--org", "acme", "--expires-in-days", "30"]) == 0

    assert re.search(r"^expires: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", capsys.readouterr().out, re.MULTILINE)


@pytest.mark.parametrize("days", ["0", "-1"])
def test_a_non_positive_expiry_is_refused(mongo: Any, capsys: pytest.CaptureFixture[str], days: str) -> None:
    assert main(["tokens", "create", "--org", "acme", "--expires-in-days", days]) == 2

    assert capsys.readouterr().err == "scim-server: --expires-in-days must be positive\n"


def test_an_invalid_organization_id_is_refused(mongo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--org", "../x"]) == 2

    assert capsys.readouterr().err == "scim-server: organization id '../x' is invalid\n"


def test_token_commands_use_the_configured_uri_and_database(mongo: Any) -> None:
    calls: list[tuple[str, str]] = []
    original = cli.connect  # type: ignore[attr-defined]

    def spy(uri: str, database: str, **options: Any) -> tuple[Any, Any]:
        calls.append((uri, database))
        return original(uri, database, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "connect", spy)
        assert main(["tokens", "list"]) == 0

    assert calls == [("mongodb://db.internal:27017", "idp")]


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("", "(empty: embedded store)"),
        ("mongodb://db.internal:27017/scim", "mongodb://db.internal:27017/scim"),
        ("mongodb://admin:s3cret@db.internal:27017/scim", "mongodb://***@db.internal:27017/scim"),
        (
            "mongodb+srv://admin:s3cret@cluster0.example.net/?retryWrites=true",
            "mongodb+srv://***@cluster0.example.net/?retryWrites=true",
        ),
        ("mongodb://admin:p%40ss@h1,h2/?replicaSet=rs0", "mongodb://***@h1,h2/?replicaSet=rs0"),
        ("mongodb://admin:p@ss@db.internal", "mongodb://***@db.internal"),
        ("admin:s3cret@db.internal", "***@db.internal"),
    ],
)
def test_redact_hides_credentials(uri: str, shown: str) -> None:
    assert _redact(uri) == shown


def created_token(out: str) -> tuple[str, str]:
    match = re.search(r"^id:      (tok_[0-9a-f]{16})\n(?:.*\n)*?token:   (scim_\S+)$", out, re.MULTILINE)
    assert match is not None, out
    return match.group(1), match.group(2)


def listed(capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    assert main(["tokens", "list", "--org", "acme"]) == 0
    return {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}


def test_a_token_is_rotated_with_a_grace_period_and_both_are_listed(
    mongo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "create", "--org", "acme", "--name", "dashboard", "--read-only"]) == 0
    old_id, old_token = created_token(capsys.readouterr().out)
    before = datetime.now(UTC)

    assert main(["tokens", "rotate", old_id, "--grace-hours", "2"]) == 0

    out = capsys.readouterr().out
    new_id, new_token = created_token(out)
    assert new_id != old_id and new_token != old_token and old_token not in out
    match = re.search(
        rf"^old:     {old_id} expires (\S+); running servers stop accepting it within 5 s after that$",
        out,
        re.MULTILINE,
    )
    assert match is not None, out
    expires = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert (
        before + timedelta(hours=2) - timedelta(seconds=1)
        <= expires
        <= datetime.now(UTC) + timedelta(hours=2)
    )
    assert out.count("(the token is shown only now") == 1

    rows = listed(capsys)
    assert set(rows) == {old_id, new_id}
    assert rows[old_id][4] == match.group(1) and rows[old_id][-1] == "read-only"
    assert rows[new_id][2:4] == ["dashboard", "(rotated)"] and rows[new_id][-1] == "read-only"


def test_rotate_takes_a_name_and_refuses_unknown_tokens_and_negative_grace(
    mongo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "create", "--org", "acme", "--name", "okta"]) == 0
    old_id, _ = created_token(capsys.readouterr().out)

    assert main(["tokens", "rotate", "--token-id", old_id, "--grace-hours", "-1"]) == 2
    assert capsys.readouterr().err == "scim-server: --grace-hours must not be negative\n"
    assert main(["tokens", "rotate", "tok_unknown"]) == 1
    assert capsys.readouterr().err == "scim-server: no active token with id tok_unknown\n"

    assert (
        main(["tokens", "rotate", "--token-id", old_id, "--name", "okta-2027", "--expires-in-days", "30"])
        == 0
    )
    out = capsys.readouterr().out
    assert re.search(r"^expires: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", out, re.MULTILINE)
    new_id, _ = created_token(out)
    assert listed(capsys)[new_id][2] == "okta-2027"


def test_the_listing_shows_when_a_token_was_last_used(mongo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--org", "acme", "--name", "entra"]) == 0
    token_id, token = created_token(capsys.readouterr().out)
    used = datetime(2026, 11, 3, 12, 30, 15, tzinfo=UTC)

    async def use() -> None:
        server = TokenService(TokenRepository(mongo), cache_seconds=5, clock=lambda: used)
        await server.authenticate(f"Bearer {token}")
        await server.flush_last_used()

    asyncio.run(use())

    assert listed(capsys)[token_id][6:] == ["2026-11-03T12:30:15Z", "read-write"]


def test_the_audit_command_needs_a_mongodb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--org", "acme"]) == 2

    assert capsys.readouterr().err == (
        "scim-server: the audit command needs a MongoDB (set SCIM_MONGODB_URI). The embedded store lives "
        "inside the server process, and its audit trail goes with it.\n"
    )


T0 = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)


def record_events(db: Any) -> None:
    events = [
        AuditEvent(
            T0, "acme", "tok_a", "entra", "User", "u-1", "create", ("name.familyName", "userName"), None, 1
        ),
        AuditEvent(
            T0 + timedelta(seconds=1, milliseconds=5),
            "acme",
            "tok_a",
            "entra",
            "Group",
            "g-1",
            "patch",
            ("members",),
            MemberChange(2, 1),
            3,
        ),
        AuditEvent(T0 + timedelta(minutes=1), "acme", "tok_b", "my dashboard", "User", "u-1", "delete"),
        AuditEvent(T0 + timedelta(minutes=2), "other", "tok_c", "x", "User", "u-9", "delete"),
    ]

    async def write() -> None:
        trail = AuditTrail(AuditStore(db))
        for event in events:
            assert await trail.record(event)

    asyncio.run(write())


def test_the_audit_command_prints_one_line_per_event_newest_first(
    mongo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record_events(mongo)

    assert main(["audit", "--org", "acme"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        '2026-11-03T12:01:00.000Z delete  User  u-1 token=tok_b name="my dashboard" changed=-',
        '2026-11-03T12:00:01.005Z patch   Group g-1 token=tok_a name="entra" changed=members members=+2/-1',
        '2026-11-03T12:00:00.000Z create  User  u-1 token=tok_a name="entra" '
        "changed=name.familyName,userName",
    ]


@pytest.mark.parametrize(
    ("options", "times"),
    [
        (["--resource-id", "u-1"], ["12:01:00.000", "12:00:00.000"]),
        (["--since", "2026-11-03T12:00:01Z"], ["12:01:00.000", "12:00:01.005"]),
        (["--since", "2026-11-03T13:00:01+01:00"], ["12:01:00.000", "12:00:01.005"]),
        (["--since", "2026-11-03T12:00:30"], ["12:01:00.000"]),
        (["--limit", "2"], ["12:01:00.000", "12:00:01.005"]),
        (["--resource-id", "u-1", "--limit", "1"], ["12:01:00.000"]),
        (["--resource-id", "nothing"], []),
    ],
)
def test_the_audit_command_filters_by_resource_and_time_and_limits(
    mongo: Any, capsys: pytest.CaptureFixture[str], options: list[str], times: list[str]
) -> None:
    record_events(mongo)

    assert main(["audit", "--org", "acme", *options]) == 0

    assert [line.split()[0][11:23] for line in capsys.readouterr().out.splitlines()] == times


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--org", "../x"], "organization id '../x' is invalid"),
        (["--org", "acme", "--limit", "0"], "--limit must be at least 1"),
        (
            ["--org", "acme", "--since", "yesterday"],
            "--since 'yesterday' is not an ISO 8601 time, such as 2026-11-03T12:00:00Z",
        ),
    ],
)
def test_the_audit_command_refuses_bad_options(
    mongo: Any, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["audit", *options]) == 2

    assert capsys.readouterr().err == f"scim-server: {message}\n"


def test_version_prints_the_installed_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"scim-server {metadata.version('scim-server')}\n"


def test_serve_help_names_the_config_file_the_environment_and_the_embedded_store(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])

    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert f"config file {DEFAULT_CONFIG_PATH}" in text
    assert "SCIM_CONFIG=/path/to/file.toml" in text
    assert "environment variables SCIM_<NAME>, which win over the file" in text
    for name in setting_names():
        assert f"SCIM_{name.upper()}" in text, name
    assert "EMBEDDED in-memory store (mongomock-motor)" in text
    assert "SCIM_DEMO_TOKEN_FILE=path keeps that token in a file across restarts" in text


@pytest.mark.parametrize(
    "spelling",
    [lambda token_id: [token_id], lambda token_id: ["--token-id", token_id]],
    ids=["positional", "option"],
)
@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_revoke_and_rotate_take_the_token_id_positionally_or_as_an_option(
    mongo: Any, capsys: pytest.CaptureFixture[str], action: str, spelling: Any
) -> None:
    assert main(["tokens", "create", "--org", "acme", "--name", "okta"]) == 0
    token_id, _ = created_token(capsys.readouterr().out)

    assert main(["tokens", action, *spelling(token_id)]) == 0

    out = capsys.readouterr().out
    rows = listed(capsys)
    if action == "revoke":
        assert out == f"revoked {token_id}; running servers stop accepting it within 5 s\n"
        assert rows[token_id][5] != "-"  # the revoked column has a time
    else:
        new_id, _ = created_token(out)
        assert set(rows) == {token_id, new_id}


@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_a_token_command_without_a_token_id_or_with_two_is_a_usage_error(
    mongo: Any, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    with pytest.raises(SystemExit) as missing:
        main(["tokens", action])
    missing_err = capsys.readouterr().err
    with pytest.raises(SystemExit) as conflicting:
        main(["tokens", action, "tok_aaaaaaaaaaaaaaaa", "--token-id", "tok_bbbbbbbbbbbbbbbb"])
    conflicting_err = capsys.readouterr().err

    assert missing.value.code == conflicting.value.code == 2
    assert missing_err.endswith(
        f"error: tokens {action}: a TOKEN_ID is required (tok_..., see tokens list)\n"
    )
    assert conflicting_err.endswith(
        f"error: tokens {action}: TOKEN_ID and --token-id name different tokens\n"
    )
    # The same id given both ways is one id.
    assert main(["tokens", action, "tok_aaaaaaaaaaaaaaaa", "--token-id", "tok_aaaaaaaaaaaaaaaa"]) == 1
    assert capsys.readouterr().err == "scim-server: no active token with id tok_aaaaaaaaaaaaaaaa\n"


def test_serve_on_a_port_in_use_prints_one_line_and_no_token(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert main(["serve", "--port", str(port)]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"scim-server: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_workers_on_a_port_another_server_reserved_fail_before_forking(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Another server's workers listen with SO_REUSEPORT, which a second SO_REUSEPORT bind would
    # share: the check must still see the port as taken.
    monkeypatch.setenv("SCIM_MONGODB_URI", UNREACHABLE)
    with bind("127.0.0.1", 0) as reserved, listen(reserved):
        port = reserved.getsockname()[1]

        assert main(["serve", "--workers", "2", "--port", str(port)]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"scim-server: cannot listen on 127.0.0.1:{port}: Address already in use\n"
