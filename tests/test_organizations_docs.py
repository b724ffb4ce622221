"""docs/organizations.md holds true: its example file loads, its recipe verifies the server's signature."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from scim_server.services.organizations import load_organizations
from scim_server.services.webhooks import sign

PAGE = Path(__file__).resolve().parent.parent / "docs" / "organizations.md"


def block(language: str) -> str:
    [text] = re.findall(rf"^```{language}\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.S | re.M)[:1]
    return str(text)


def test_the_complete_example_is_a_valid_organizations_file(tmp_path: Path) -> None:
    (tmp_path / "organizations.toml").write_text(block("toml"), encoding="utf-8")
    (tmp_path / "acme-user.json").write_text(block("json"), encoding="utf-8")

    organizations = load_organizations(tmp_path / "organizations.toml")

    acme = organizations.get("acme")
    assert (acme.delete, acme.soft_delete_retention_days, acme.adopt_existing) == ("soft", 30, True)
    assert [e.id for e in acme.extensions] == ["urn:example:params:scim:schemas:extension:acme:2.0:User"]
    assert [w.url for w in acme.webhooks] == ["https://hooks.example.com/scim"]
    assert organizations.get("globex").adopt_existing is True


def test_the_verification_recipe_accepts_what_the_server_signs_and_nothing_else(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {}
    exec(block("python"), namespace)  # noqa: S102 (the documented snippet, as a consumer would run it)
    verify = namespace["verify_webhook"]
    (tmp_path / "o.toml").write_text(block("toml"), encoding="utf-8")
    (tmp_path / "acme-user.json").write_text(block("json"), encoding="utf-8")
    [webhook] = load_organizations(tmp_path / "o.toml").get("acme").webhooks
    body = b'{"id":"6b131066b25af215d73655b7","type":"User.created"}'
    timestamp = str(int(time.time()))
    headers = {
        "webhook-id": "6b131066b25af215d73655b7",
        "webhook-timestamp": timestamp,
        "webhook-signature": sign(webhook.key, "6b131066b25af215d73655b7", timestamp, body),
    }

    assert verify(webhook.secret, headers, body) is True
    assert verify(webhook.secret, headers, body.replace(b"created", b"deleted")) is False
    assert verify(webhook.secret, {**headers, "webhook-id": "other"}, body) is False
    assert verify(webhook.secret, {**headers, "webhook-timestamp": str(int(timestamp) - 600)}, body) is False
    rotated = {**headers, "webhook-signature": "v1,b2xk " + headers["webhook-signature"]}
    assert verify(webhook.secret, rotated, body) is True
