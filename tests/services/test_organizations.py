"""The organizations file: every key parsed and validated, defaults, and reloading."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from scim_server.services.organizations import (
    DEFAULT_ORGANIZATION,
    OrganizationConfig,
    OrganizationsError,
    OrganizationsRegistry,
    load_organizations,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXTENSION_ID = "urn:example:params:scim:schemas:extension:acme:2.0:User"

ACME_USER: dict[str, Any] = {
    "id": EXTENSION_ID,
    "name": "AcmeUser",
    "description": "Acme's user attributes",
    "resourceType": "User",
    "attributes": [
        {
            "name": "costCenter",
            "type": "string",
            "multiValued": False,
            "required": False,
            "caseExact": False,
            "mutability": "readWrite",
            "returned": "default",
            "uniqueness": "none",
        },
        {"name": "badge", "type": "string", "uniqueness": "server", "canonicalValues": ["red", "blue"]},
        {
            "name": "site",
            "type": "complex",
            "subAttributes": [{"name": "code", "type": "string"}, {"name": "floor", "type": "integer"}],
        },
    ],
}

EXAMPLE = f"""
[organizations.acme]
delete = "soft"
soft_delete_retention_days = 30
adopt_existing = true
extensions = ["acme-user.json"]

[[organizations.acme.webhooks]]
url = "https://hooks.example.com/scim"
secret = "{SECRET}"
"""


def write(tmp_path: Path, text: str, extension: dict[str, Any] | None = None) -> Path:
    (tmp_path / "acme-user.json").write_text(json.dumps(ACME_USER if extension is None else extension))
    path = tmp_path / "organizations.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_gives_every_key_its_value(tmp_path: Path) -> None:
    organizations = load_organizations(write(tmp_path, EXAMPLE))

    acme = organizations.get("acme")
    assert (acme.delete, acme.soft_delete_retention_days, acme.adopt_existing) == ("soft", 30, True)
    [extension] = acme.extensions
    assert (extension.id, extension.resource_type, extension.path) == (
        EXTENSION_ID,
        "User",
        tmp_path / "acme-user.json",
    )
    assert extension.schema == {
        "id": EXTENSION_ID,
        "name": "AcmeUser",
        "description": "Acme's user attributes",
        "attributes": [
            {
                "name": "costCenter",
                "type": "string",
                "multiValued": False,
                "description": "",
                "required": False,
                "caseExact": False,
                "mutability": "readWrite",
                "returned": "default",
                "uniqueness": "none",
            },
            {
                "name": "badge",
                "type": "string",
                "multiValued": False,
                "description": "",
                "required": False,
                "caseExact": False,
                "mutability": "readWrite",
                "returned": "default",
                "uniqueness": "server",
                "canonicalValues": ["red", "blue"],
            },
            {
                "name": "site",
                "type": "complex",
                "multiValued": False,
                "description": "",
                "required": False,
                "caseExact": False,
                "mutability": "readWrite",
                "returned": "default",
                "uniqueness": "none",
                "subAttributes": [
                    {
                        "name": "code",
                        "type": "string",
                        "multiValued": False,
                        "description": "",
                        "required": False,
                        "caseExact": False,
                        "mutability": "readWrite",
                        "returned": "default",
                        "uniqueness": "none",
                    },
                    {
                        "name": "floor",
                        "type": "integer",
                        "multiValued": False,
                        "description": "",
                        "required": False,
                        "caseExact": False,
                        "mutability": "readWrite",
                        "returned": "default",
                        "uniqueness": "none",
                    },
                ],
            },
        ],
    }
    [webhook] = acme.webhooks
    assert webhook.url == "https://hooks.example.com/scim"
    assert webhook.key == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert SECRET not in repr(acme) and "MfKQ9r8G" not in repr(acme)
    assert [org for org, _ in organizations.with_webhooks()] == ["acme"]


def test_an_organization_not_in_the_file_gets_todays_behaviour(tmp_path: Path) -> None:
    organizations = load_organizations(write(tmp_path, EXAMPLE))

    assert organizations.get("globex") is DEFAULT_ORGANIZATION
    assert (
        OrganizationConfig(
            delete="hard", soft_delete_retention_days=30, adopt_existing=False, extensions=(), webhooks=()
        )
        == DEFAULT_ORGANIZATION
    )
    assert OrganizationsRegistry(None).get("acme") is DEFAULT_ORGANIZATION


def test_an_organization_with_only_defaults_and_an_empty_file_are_valid(tmp_path: Path) -> None:
    assert load_organizations(write(tmp_path, "[organizations.acme]\n")).get("acme") == DEFAULT_ORGANIZATION
    assert load_organizations(write(tmp_path, "")).configured == {}


def test_webhook_urls_are_logged_without_credentials_or_query(tmp_path: Path) -> None:
    url = "https://u:p@h.example:8443/in?token=t#f"
    text = f'[[organizations.a.webhooks]]\nurl = "{url}"\nsecret = "{SECRET}"\n'
    [webhook] = load_organizations(write(tmp_path, text)).get("a").webhooks

    assert webhook.display_url == "https://h.example:8443/in"


def _extension(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(ACME_USER))
    for key, value in changes.items():
        if value is None:
            del document[key]
        else:
            document[key] = value
    return document


def _attribute(**changes: Any) -> dict[str, Any]:
    return _extension(attributes=[{"name": "costCenter", "type": "string", **changes}])


INVALID: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("not toml", "organizations = [", None, "is not valid TOML"),
    ("unknown top-level key", "[server]\nport = 1\n", None, ": server: unknown key"),
    ("organizations not a table", "organizations = 3\n", None, ": organizations: must be a table"),
    ("bad organization id", '[organizations."a b"]\n', None, "organizations.a b: an organization id"),
    ("organization not a table", "[organizations]\nacme = 1\n", None, "organizations.acme: must be a table"),
    ("unknown key", "[organizations.acme]\ndelte = 'soft'\n", None, "organizations.acme.delte: unknown key"),
    ("delete", "[organizations.acme]\ndelete = 'gone'\n", None, 'organizations.acme.delete: must be "hard"'),
    (
        "retention not a number",
        "[organizations.acme]\nsoft_delete_retention_days = '30'\n",
        None,
        "organizations.acme.soft_delete_retention_days: must be a whole number",
    ),
    (
        "retention zero",
        "[organizations.acme]\nsoft_delete_retention_days = 0\n",
        None,
        "organizations.acme.soft_delete_retention_days: must be a whole number",
    ),
    (
        "retention a boolean",
        "[organizations.acme]\nsoft_delete_retention_days = true\n",
        None,
        "organizations.acme.soft_delete_retention_days: must be a whole number",
    ),
    (
        "adopt_existing",
        "[organizations.acme]\nadopt_existing = 'yes'\n",
        None,
        "organizations.acme.adopt_existing: must be true or false",
    ),
    (
        "extensions not a list",
        "[organizations.acme]\nextensions = 'acme-user.json'\n",
        None,
        "organizations.acme.extensions: must be a list of file paths",
    ),
    (
        "extension missing",
        "[organizations.acme]\nextensions = ['nope.json']\n",
        None,
        "organizations.acme.extensions[0]: cannot read",
    ),
    (
        "extension declared twice",
        "[organizations.acme]\nextensions = ['acme-user.json', './acme-user.json']\n",
        None,
        "organizations.acme.extensions[1]: schema urn:example:params:scim:schemas:extension:acme:2.0:User "
        "is declared twice",
    ),
    (
        "webhooks not an array",
        "[organizations.acme]\nwebhooks = 3\n",
        None,
        "organizations.acme.webhooks: must",
    ),
    (
        "webhook without url",
        f"[[organizations.acme.webhooks]]\nsecret = '{SECRET}'\n",
        None,
        "organizations.acme.webhooks[0].url: is required",
    ),
    (
        "webhook url not http",
        f"[[organizations.acme.webhooks]]\nurl = 'ftp://x'\nsecret = '{SECRET}'\n",
        None,
        "organizations.acme.webhooks[0].url: must be an http:// or https:// URL",
    ),
    (
        "webhook unknown key",
        f"[[organizations.acme.webhooks]]\nurl = 'https://x'\nsecret = '{SECRET}'\nevents = []\n",
        None,
        "organizations.acme.webhooks[0].events: unknown key",
    ),
    (
        "webhook without secret",
        "[[organizations.acme.webhooks]]\nurl = 'https://x'\n",
        None,
        "organizations.acme.webhooks[0].secret: is required",
    ),
    (
        "secret without prefix",
        "[[organizations.acme.webhooks]]\nurl = 'https://x'\nsecret = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'\n",
        None,
        "organizations.acme.webhooks[0].secret: must start with whsec_",
    ),
    (
        "secret not base64",
        "[[organizations.acme.webhooks]]\nurl = 'https://x'\nsecret = 'whsec_not*base64*at*all!!'\n",
        None,
        "organizations.acme.webhooks[0].secret: the part after whsec_ must be base64",
    ),
    (
        "secret too short",
        "[[organizations.acme.webhooks]]\nurl = 'https://x'\nsecret = 'whsec_c2hvcnQ='\n",
        None,
        "organizations.acme.webhooks[0].secret: must encode 24 to 64 bytes",
    ),
    (
        "the same webhook twice",
        f"[[organizations.a.webhooks]]\nurl = 'https://x'\nsecret = '{SECRET}'\n"
        f"[[organizations.a.webhooks]]\nurl = 'https://x'\nsecret = '{SECRET}'\n",
        None,
        "organizations.a.webhooks[1].url: the same URL is given twice",
    ),
]

EXTENSION_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("not an object", [], "acme-user.json must hold a JSON object"),  # type: ignore[list-item]
    ("unknown key", _extension(extra=1), "(acme-user.json).extra: unknown key in a schema resource"),
    ("no id", _extension(id=None), "(acme-user.json).id: must be the schema's URN"),
    ("id not a URN", _extension(id="acme"), "(acme-user.json).id: must be the schema's URN"),
    (
        "a built-in id",
        _extension(id="urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
        "(acme-user.json).id: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User is a built-in",
    ),
    ("no name", _extension(name=None), "(acme-user.json).name: is required"),
    (
        "no resourceType",
        _extension(resourceType=None),
        '(acme-user.json).resourceType: must be "User" or "Group"',
    ),
    ("bad resourceType", _extension(resourceType="Device"), "(acme-user.json).resourceType: must be"),
    ("no attributes", _extension(attributes=[]), "(acme-user.json).attributes: must be a non-empty list"),
    (
        "attribute not an object",
        _extension(attributes=["x"]),
        "attributes[0]: must be an attribute definition",
    ),
    ("attribute without type", _extension(attributes=[{"name": "x"}]), "attributes[x].type: is required"),
    ("bad name", _attribute(name="2fa"), "attributes[0].name: must be an attribute name"),
    ("bad type", _attribute(type="text"), "attributes[costCenter].type: must be one of string, boolean"),
    ("bad mutability", _attribute(mutability="rw"), "attributes[costCenter].mutability: must be one of"),
    ("bad returned", _attribute(returned="sometimes"), "attributes[costCenter].returned: must be one of"),
    ("bad uniqueness", _attribute(uniqueness="org"), "attributes[costCenter].uniqueness: must be one of"),
    (
        "multiValued",
        _attribute(multiValued="no"),
        "attributes[costCenter].multiValued: must be true or false",
    ),
    ("required", _attribute(required=1), "attributes[costCenter].required: must be true or false"),
    ("caseExact", _attribute(caseExact=None), "attributes[costCenter].caseExact: must be true or false"),
    ("canonicalValues", _attribute(canonicalValues="a"), "canonicalValues: must be a list of strings"),
    ("referenceTypes off a reference", _attribute(referenceTypes=["User"]), "referenceTypes: is only for"),
    (
        "unknown characteristic",
        _attribute(indexed=True),
        "attributes[0].indexed: unknown attribute characteristic",
    ),
    (
        "subAttributes off complex",
        _attribute(subAttributes=[]),
        "subAttributes: is only for attributes of type",
    ),
    (
        "complex without subAttributes",
        _attribute(type="complex"),
        "attributes[costCenter].subAttributes: a complex attribute needs",
    ),
    (
        "complex within complex",
        _attribute(type="complex", subAttributes=[{"name": "x", "type": "complex", "subAttributes": []}]),
        "subAttributes[x].type: a sub-attribute cannot be complex",
    ),
    (
        "duplicate attribute",
        _extension(attributes=[{"name": "a", "type": "string"}, {"name": "A", "type": "string"}]),
        "attributes[1].name: 'A' is defined twice",
    ),
]


@pytest.mark.parametrize(
    ("text", "extension", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_an_invalid_file_is_refused_with_a_message_naming_the_key(
    tmp_path: Path, text: str, extension: dict[str, Any] | None, message: str
) -> None:
    path = write(tmp_path, text, extension)

    with pytest.raises(OrganizationsError) as raised:
        load_organizations(path)

    assert message in str(raised.value)
    assert str(path) in str(raised.value)
    assert "MfKQ9r8G" not in str(raised.value)


@pytest.mark.parametrize(
    ("extension", "message"), [c[1:] for c in EXTENSION_ERRORS], ids=[c[0] for c in EXTENSION_ERRORS]
)
def test_an_invalid_extension_is_refused_with_a_message_naming_the_key(
    tmp_path: Path, extension: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, "[organizations.acme]\nextensions = ['acme-user.json']\n", extension)

    with pytest.raises(OrganizationsError) as raised:
        load_organizations(path)

    assert "organizations.acme.extensions[0]" in str(raised.value)
    assert message in str(raised.value)


def test_an_extension_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[organizations.acme]\nextensions = ['acme-user.json']\n")
    (tmp_path / "acme-user.json").write_text("{nope")

    with pytest.raises(OrganizationsError, match=r"extensions\[0\]: .*acme-user.json is not valid JSON"):
        load_organizations(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OrganizationsError, match=r"cannot read organizations file .*missing\.toml"):
        OrganizationsRegistry(tmp_path / "missing.toml")


def test_reload_reads_the_changed_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "[organizations.acme]\n")
    registry = OrganizationsRegistry(path)
    assert registry.get("acme").delete == "hard"

    path.write_text(EXAMPLE, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="scim_server"):
        assert registry.reload() is True

    assert registry.get("acme").delete == "soft"
    assert registry.get("acme") == load_organizations(path).get("acme")
    assert [r.getMessage() for r in caplog.records] == [
        f"organizations file {path} reloaded: 1 organization(s)"
    ]


def test_an_invalid_file_on_reload_keeps_the_previous_configuration_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, EXAMPLE)
    registry = OrganizationsRegistry(path)
    before = registry.current

    path.write_text(EXAMPLE.replace('delete = "soft"', 'delete = "sotf"'), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="scim_server"):
        assert registry.reload() is False

    assert registry.current is before
    assert registry.get("acme").delete == "soft"
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "organizations file not reloaded, the previous configuration stays: organizations file "
        f'{path}: organizations.acme.delete: must be "hard" or "soft"'
    )
    assert "MfKQ9r8G" not in caplog.text
