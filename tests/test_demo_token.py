"""The embedded store's demo token, kept across restarts in ``demo_token_file``.

Each test starts the application the way ``scim-server serve`` does (embedded store, no injected
database), collects what it announces, and authenticates with the token it says it uses.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from scim_server.app import DEMO_ORG, DemoTokenFileError, create_app, kept_demo_token
from scim_server.services.tokens import TOKEN_PREFIX
from scim_server.settings import load_settings


@asynccontextmanager
async def started(announced: list[str], **settings: str) -> AsyncIterator[TestClient[TestServer, object]]:
    app = create_app(load_settings(environ={}, **settings), announce=announced.append)
    async with TestClient(TestServer(app)) as client:
        yield client


async def users_status(client: TestClient[TestServer, object], token: str) -> int:
    response = await client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    return response.status


async def test_a_new_token_is_written_with_mode_0600_and_kept_at_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "demo-token"
    first: list[str] = []
    async with started(first, demo_token_file=str(path)) as client:
        token = path.read_text(encoding="utf-8").strip()
        assert await users_status(client, token) == 200

    second: list[str] = []
    async with started(second, demo_token_file=str(path)) as client:
        assert await users_status(client, token) == 200

    assert token.startswith(TOKEN_PREFIX)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first[1:] == [
        f"scim-server: demo organization {DEMO_ORG!r}, bearer token in {path} (written there now)"
    ]
    assert second[1:] == [
        f"scim-server: demo organization {DEMO_ORG!r}, bearer token in {path} (kept from an earlier start)"
    ]
    assert not any(token in line for line in first + second)  # the secret stays in the file


async def test_a_token_written_by_the_operator_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "demo-token"
    path.write_text("  my-own-demo-token-123\n", encoding="utf-8")

    async with started([], demo_token_file=str(path)) as client:
        assert await users_status(client, "my-own-demo-token-123") == 200
        assert await users_status(client, "my-own-demo-token-124") == 401

    assert path.read_text(encoding="utf-8") == "  my-own-demo-token-123\n"  # never rewritten


async def test_without_the_setting_a_new_token_is_printed_once_per_start() -> None:
    announced: list[str] = []
    async with started(announced) as client:
        prefix = f"scim-server: demo organization {DEMO_ORG!r}, bearer token (shown once): "
        token = announced[1].removeprefix(prefix)
        assert announced[1].startswith(prefix) and token.startswith(TOKEN_PREFIX)
        assert await users_status(client, token) == 200


async def test_with_bootstrap_tokens_the_file_is_not_used_and_that_is_said(tmp_path: Path) -> None:
    path = tmp_path / "demo-token"
    announced: list[str] = []

    boot = "acme:acme-token-123"
    async with started(announced, demo_token_file=str(path), bootstrap_tokens=boot) as client:
        assert await users_status(client, "acme-token-123") == 200

    assert not path.exists()
    assert announced[1:] == [
        "scim-server: demo_token_file is not used: it applies only to the embedded store without "
        "bootstrap tokens"
    ]


@pytest.mark.parametrize("content", ["", "\n", "short", "two words-here", "caf\u00e9-token-1234"])
def test_a_file_without_one_usable_token_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "demo-token"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(DemoTokenFileError) as refused:
        kept_demo_token(str(path))

    assert str(refused.value) == (
        f"the demo token file {path} must hold one token of at least 8 visible ASCII characters"
    )


def test_a_file_that_cannot_be_written_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "missing-directory" / "demo-token"

    with pytest.raises(DemoTokenFileError) as refused:
        kept_demo_token(str(path))

    assert str(refused.value) == f"cannot write the demo token file {path}: No such file or directory"


def test_a_relative_path_is_resolved_and_named_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    path, token, made = kept_demo_token("demo-token")

    assert (path, made) == (tmp_path / "demo-token", True)
    assert kept_demo_token("demo-token") == (path, token, False)
